"""A team's own lock file, read into exact pins: what its environments are built from (``--lock FILE``).

Three formats, told apart by the file's name: ``uv.lock`` (uv's universal lock), ``pylock.toml`` or
``pylock.<name>.toml`` (PEP 751), anything else a requirements file of ``name==version`` lines (pip-compile,
``uv pip compile``, ``uv export``, ``pip freeze``). Universal locks list packages for every platform and
Python, so markers are evaluated for the cells' Python on this machine: a pin for Windows or another Python
is left out rather than failing to install. The project's own package (editable, virtual, a local
directory) is left out too: it is the user's code, not a dependency. Anything else that cannot be pinned by
version from the registry is a ``LockError`` naming the file and the line or entry.
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

LOCAL_SOURCES = ("editable", "virtual", "directory")  # the project itself (uv.lock source keys, pylock.toml tables)
JAX_FAMILY = re.compile(r"^(jax|jaxlib|jax-(cuda|rocm)\d*-(plugin|pjrt))$")  # replaced together with JAX


class LockError(Exception):
    """A lock file that cannot be used. Its message is one line naming the file and the line or entry."""


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503): jax-cuda12-plugin, not jax_cuda12_plugin
    version: str

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Lock:
    """The exact pins of a lock file that apply to the cells' Python on this machine, one per package."""

    pins: tuple[Pin, ...]  # sorted by name

    def version(self, name: str) -> str | None:
        return next((p.version for p in self.pins if p.name == canonicalize_name(name)), None)

    @property
    def digest(self) -> str:
        """A short hash of the pins alone: the same pins from another file share their environments."""
        return hashlib.sha256("\n".join(map(str, self.pins)).encode()).hexdigest()[:10]

    def requirements(self) -> tuple[str, ...]:
        """Every pin but Flax's, which the release under test replaces, and JAX's (``jax_pins``), which a JAX chosen
        by hand replaces."""
        return tuple(str(p) for p in self.pins if p.name != "flax" and not JAX_FAMILY.match(p.name))

    def jax_pins(self) -> tuple[str, ...]:
        return tuple(str(p) for p in self.pins if JAX_FAMILY.match(p.name))


def read(path: Path, python: str) -> Lock:
    """Read ``path`` as its name says (see the module docstring), markers evaluated for ``python`` ("3.12")."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(f"--lock {path}: cannot read it ({exc.strerror if isinstance(exc, OSError) else exc})") from None
    environment = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    if path.name == "uv.lock":
        found = _uv_lock(_toml(path, text), path, environment)
    elif re.fullmatch(r"pylock(\.[^.]+)?\.toml", path.name):
        found = _pylock(_toml(path, text), path, environment)
    else:
        found = _requirements(text, path, environment)
    pins: dict[str, tuple[Pin, str]] = {}
    for pin, where in found:
        if pin.name in pins and pins[pin.name][0] != pin:
            raise LockError(f"{where}: {pin.name} is pinned twice for Python {python} ({pins[pin.name][0].version} at "
                            f"{pins[pin.name][1]}, {pin.version} here)")
        pins[pin.name] = (pin, where)
    if not pins:
        raise LockError(f"{path}: no pinned package for Python {python}")
    return Lock(tuple(sorted((p for p, _ in pins.values()), key=lambda p: p.name)))


def _applies(marker: str | None, environment: dict, where: str) -> bool:
    if not marker:
        return True
    try:
        return Marker(marker).evaluate(environment)
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise LockError(f"{where}: cannot evaluate the marker {marker!r}: {exc}") from None


def _toml(path: Path, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"{path}: not TOML: {exc}") from None


def _requirements(text: str, path: Path, environment: dict) -> list[tuple[Pin, str]]:
    """``name==version`` lines; comments, blank lines and ``--hash`` options skipped, ``\\`` continues a line."""
    found, joined, first = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #")[0].strip() if not raw.lstrip().startswith("#") else ""
        if not joined:
            first = number
        if line.endswith("\\"):
            joined += line[:-1] + " "
            continue
        line, joined = (joined + line).strip(), ""
        line = re.sub(r"\s--hash[=\s]\S+", "", f" {line}").strip()
        if not line:
            continue
        where = f"{path}:{first}"
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
            found.append((Pin(canonicalize_name(requirement.name), pinned[0].version), where))
    return found


def _pylock(data: dict, path: Path, environment: dict) -> list[tuple[Pin, str]]:
    """PEP 751: ``[[packages]]`` with ``name``, ``version`` and an optional ``marker``."""
    found = []
    for n, package in enumerate(data.get("packages") or [], 1):
        where = f"{path}: packages[{n}] ({package.get('name', 'no name')})"
        if not _applies(package.get("marker"), environment, where):
            continue
        if any(key in package for key in LOCAL_SOURCES):
            continue
        if "name" not in package or "version" not in package:
            raise LockError(f"{where}: no {'name' if 'name' not in package else 'version'}: cannot pin it")
        found.append((Pin(canonicalize_name(package["name"]), str(package["version"])), where))
    return found


def _uv_lock(data: dict, path: Path, environment: dict) -> list[tuple[Pin, str]]:
    """uv.lock: the packages its projects reach on this Python and platform, following the dependency edges (with
    their markers) of every project, extra and dependency group; the projects themselves are left out."""
    entries = {}
    for n, package in enumerate(data.get("package") or [], 1):
        if "name" not in package or "version" not in package and not _local(package):
            raise LockError(f"{path}: package[{n}]: no {'name' if 'name' not in package else 'version'}")
        entries.setdefault(canonicalize_name(package["name"]), []).append((n, package))
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
                raise LockError(f"{where}: comes from {', '.join(package['source'])}, not a registry: cannot pin it by version")
            found.append((Pin(canonicalize_name(package["name"]), str(package["version"])), where))
        for edge in _edges(package):
            if _applies(edge.get("marker"), environment, where):
                todo.append(_target(entries, edge, environment, where))
    return found


def _local(package: dict) -> bool:
    return any(key in (package.get("source") or {}) for key in LOCAL_SOURCES)


def _edges(package: dict) -> list[dict]:
    groups = [package.get("dependencies") or []]
    groups += list((package.get("optional-dependencies") or {}).values())
    groups += list((package.get("dev-dependencies") or {}).values())
    return [edge for group in groups for edge in group]


def _target(entries: dict, edge: dict, environment: dict, where: str) -> tuple[int, dict]:
    """The entry an edge leads to: the one with its version, else the one whose resolution markers apply."""
    candidates = entries.get(canonicalize_name(edge.get("name", "")), [])
    if "version" in edge:
        candidates = [(n, p) for n, p in candidates if str(p.get("version")) == str(edge["version"])]
    if len(candidates) > 1:
        candidates = [(n, p) for n, p in candidates
                      if any(_applies(m, environment, where) for m in p.get("resolution-markers") or [""])]
    if len(candidates) != 1:
        raise LockError(f"{where}: its dependency {edge.get('name')!r} matches {len(candidates)} packages of the lock")
    return candidates[0]
