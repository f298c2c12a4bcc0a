"""A team's own lock file, read into exact pins: what its environments are built from (``--lock FILE``).

Three formats, told apart by the file's name: ``uv.lock`` (uv's universal lock), ``pylock.toml`` or
``pylock.<name>.toml`` (PEP 751), anything else a requirements file of ``name==version`` lines (pip-compile,
``uv pip compile``, ``uv export``, ``pip freeze``). Universal locks list packages for every platform and
Python, so markers are evaluated for the cells' Python on this machine: a pin for Windows or another Python
is left out rather than failing to install. The project's own package (editable, virtual, a local
directory; ``-e .`` in a requirements file) is left out too: it is the user's code, not a dependency, and the
lock says so once (``notes``). Anything else that cannot be pinned by version from the registry is a
``LockError`` naming the file and the line or entry.

Hashes are honoured: a pin's hashes (``--hash`` options, uv.lock's and pylock.toml's file hashes) go with it into
the environment's lock, where uv checks each file it installs against them, and into the lock's digest, so an
environment reused for a lock was built from the same bytes.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from flax_regressions.core.errors import Error, one_line

LOCAL_SOURCES = ("editable", "virtual", "directory")  # the project itself (uv.lock source keys, pylock.toml tables)
JAX_FAMILY = re.compile(r"^(jax|jaxlib|jax-(cuda|rocm)\d*-(plugin|pjrt))$")  # replaced together with JAX


class LockError(Error):
    """A lock file that cannot be used. Its message is one line naming the file and the line or entry."""


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503): jax-cuda12-plugin, not jax_cuda12_plugin
    version: str
    hashes: tuple[str, ...] = ()  # "sha256:<hex>": the files the lock accepts for this pin

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"

    def requirement(self) -> str:
        """The pin as a requirements line: with its hashes, which uv checks at install."""
        return " ".join([str(self), *(f"--hash={h}" for h in self.hashes)])


@dataclass(frozen=True)
class Lock:
    """The exact pins of a lock file that apply to the cells' Python on this machine, one per package."""

    pins: tuple[Pin, ...]  # sorted by name
    source: str = ""  # the file, as the command line named it
    notes: tuple[str, ...] = ()  # what was left out of the file and why, for the command to say once

    def version(self, name: str) -> str | None:
        return next((p.version for p in self.pins if p.name == canonicalize_name(name)), None)

    @property
    def digest(self) -> str:
        """A short hash of the pins and their hashes: the same pins from another file share their environments."""
        return hashlib.sha256("\n".join(p.requirement() for p in self.pins).encode()).hexdigest()[:10]

    def requirements(self) -> tuple[str, ...]:
        """Every pin but Flax's, which the release under test replaces, and JAX's (``jax_pins``), which a JAX chosen
        by hand replaces; each with its hashes."""
        return tuple(p.requirement() for p in self.pins if p.name != "flax" and not JAX_FAMILY.match(p.name))

    def jax_pins(self) -> tuple[str, ...]:
        return tuple(p.requirement() for p in self.pins if JAX_FAMILY.match(p.name))


def read(path: Path, python: str) -> Lock:
    """Read ``path`` as its name says (see the module docstring), markers evaluated for ``python`` ("3.12")."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(
            f"--lock {path}: cannot read it ({exc.strerror if isinstance(exc, OSError) else exc})"
        ) from None
    environment = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    notes: list[str] = []
    if path.name == "uv.lock":
        found = _uv_lock(_toml(path, text), path, environment)
    elif re.fullmatch(r"pylock(\.[^.]+)?\.toml", path.name):
        found = _pylock(_toml(path, text), path, environment)
    else:
        found = _requirements(text, path, environment, notes)
    pins: dict[str, tuple[Pin, str]] = {}
    for pin, where in found:
        if pin.name in pins and pins[pin.name][0] != pin:
            raise LockError(
                f"{where}: {pin.name} is pinned twice for Python {python} ({pins[pin.name][0].version} at "
                f"{pins[pin.name][1]}, {pin.version} here)"
            )
        pins[pin.name] = (pin, where)
    if not pins:
        raise LockError(f"{path}: no pinned package for Python {python}")
    return Lock(tuple(sorted((p for p, _ in pins.values()), key=lambda p: p.name)), str(path), tuple(notes))


def _applies(marker: object, environment: dict, where: str) -> bool:
    if not marker:
        return True
    if not isinstance(marker, str):
        raise LockError(f"{where}: its marker is {type(marker).__name__}, not a string")
    try:
        return Marker(marker).evaluate(environment)
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise LockError(f"{where}: cannot evaluate the marker {marker!r}: {one_line(str(exc))}") from None


def _toml(path: Path, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"{path}: not TOML: {exc}") from None


def _table(entry: object, where: str) -> dict:
    """A lock entry that must be a TOML table."""
    if not isinstance(entry, dict):
        raise LockError(f"{where}: expected a table, found {type(entry).__name__} {entry!r}")
    return entry


def _list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise LockError(f"{where}: expected a list, found {type(value).__name__}")
    return value


def _requirements(text: str, path: Path, environment: dict, notes: list[str]) -> list[tuple[Pin, str]]:
    """``name==version`` lines with their ``--hash`` options; comments and blank lines skipped, ``\\`` continues a line;
    the project's own editable line (``-e .``, first in ``uv export``'s output) left out, saying so."""
    found, joined, first = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #")[0].strip() if not raw.lstrip().startswith("#") else ""
        if not joined:
            first = number
        if line.endswith("\\"):
            joined += line[:-1] + " "
            continue
        line, joined = (joined + line).strip(), ""
        hashes = tuple(re.findall(r"\s--hash[=\s](\S+)", f" {line}"))
        line = re.sub(r"\s--hash[=\s]\S+", "", f" {line}").strip()
        if not line:
            continue
        where = f"{path}:{first}"
        if line.split()[0] in ("-e", "--editable") or line.startswith("--editable="):
            notes.append(f"{where}: left out {line!r}: an editable install is the project itself, not a pin")
            continue
        if line.startswith("-"):
            raise LockError(f"{where}: {line.split()[0]} is not supported: give a file of name==version pins")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise LockError(f"{where}: not a requirement: {exc}") from None
        pinned = [s for s in requirement.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if requirement.url or len(pinned) != 1 or len(requirement.specifier) != 1:
            raise LockError(f"{where}: {line!r} is not pinned with name==version")
        if _applies(str(requirement.marker) if requirement.marker else None, environment, where):
            found.append((Pin(canonicalize_name(requirement.name), pinned[0].version, hashes), where))
    return found


def _pylock(data: dict, path: Path, environment: dict) -> list[tuple[Pin, str]]:
    """PEP 751: ``[[packages]]`` with ``name``, ``version``, an optional ``marker`` and its files' ``hashes``."""
    found = []
    for n, entry in enumerate(_list(data.get("packages") or [], f"{path}: packages"), 1):
        package = _table(entry, f"{path}: packages[{n}]")
        where = f"{path}: packages[{n}] ({package.get('name', 'no name')})"
        if not _applies(package.get("marker"), environment, where):
            continue
        if any(key in package for key in LOCAL_SOURCES):
            continue
        if "name" not in package or "version" not in package:
            raise LockError(f"{where}: no {'name' if 'name' not in package else 'version'}: cannot pin it")
        files = [_table(f, f"{where}: wheels") for f in _list(package.get("wheels") or [], f"{where}: wheels")]
        files += [_table(package["sdist"], f"{where}: sdist")] if "sdist" in package else []
        hashes = [
            f"{algorithm}:{digest}"
            for f in files
            for algorithm, digest in _table(f.get("hashes") or {}, f"{where}: hashes").items()
        ]
        found.append((_pin(package, hashes, where), where))
    return found


def _uv_lock(data: dict, path: Path, environment: dict) -> list[tuple[Pin, str]]:
    """uv.lock: the packages its projects reach on this Python and platform, following the dependency edges (with
    their markers) of every project, extra and dependency group; the projects themselves are left out."""
    entries: dict[str, list[tuple[int, dict]]] = {}
    for n, entry in enumerate(_list(data.get("package") or [], f"{path}: package"), 1):
        package = _table(entry, f"{path}: package[{n}]")
        if "name" not in package or "version" not in package and not _local(package):
            raise LockError(f"{path}: package[{n}]: no {'name' if 'name' not in package else 'version'}")
        entries.setdefault(canonicalize_name(str(package["name"])), []).append((n, package))
    roots = [(n, p) for found in entries.values() for n, p in found if _local(p)]
    todo = roots or [(n, p) for found in entries.values() for n, p in found]  # no project: every package
    seen, found = set(), []
    while todo:
        n, package = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        where = f"{path}: package[{n}] ({package['name']})"
        if not _local(package):
            if "registry" not in (package.get("source") or {"registry": None}):
                raise LockError(
                    f"{where}: comes from {', '.join(package['source'])}, not a registry: cannot pin it by version"
                )
            files = [_table(f, f"{where}: wheels") for f in _list(package.get("wheels") or [], f"{where}: wheels")]
            files += [_table(package["sdist"], f"{where}: sdist")] if "sdist" in package else []
            found.append((_pin(package, [str(f["hash"]) for f in files if "hash" in f], where), where))
        for edge in _edges(package, where):
            if _applies(edge.get("marker"), environment, where):
                todo.append(_target(entries, edge, environment, where))
    return found


def _pin(package: dict, hashes: list[str], where: str) -> Pin:
    if not isinstance(package["name"], str):
        raise LockError(f"{where}: its name is {type(package['name']).__name__}, not a string")
    return Pin(canonicalize_name(package["name"]), str(package["version"]), tuple(dict.fromkeys(hashes)))


def _local(package: dict) -> bool:
    source = package.get("source") or {}
    return isinstance(source, dict) and any(key in source for key in LOCAL_SOURCES)


def _edges(package: dict, where: str) -> list[dict]:
    groups = [_list(package.get("dependencies") or [], f"{where}: dependencies")]
    for key in ("optional-dependencies", "dev-dependencies"):
        groups += [
            _list(group, f"{where}: {key}") for group in _table(package.get(key) or {}, f"{where}: {key}").values()
        ]
    return [_table(edge, f"{where}: a dependency") for group in groups for edge in group]


def _target(entries: dict, edge: dict, environment: dict, where: str) -> tuple[int, dict]:
    """The entry an edge leads to: the one with its version, else the one whose resolution markers apply."""
    candidates = entries.get(canonicalize_name(edge.get("name", "")), [])
    if "version" in edge:
        candidates = [(n, p) for n, p in candidates if str(p.get("version")) == str(edge["version"])]
    if len(candidates) > 1:
        candidates = [
            (n, p)
            for n, p in candidates
            if any(_applies(m, environment, where) for m in p.get("resolution-markers") or [""])
        ]
    if len(candidates) != 1:
        raise LockError(f"{where}: its dependency {edge.get('name')!r} matches {len(candidates)} packages of the lock")
    return candidates[0]
