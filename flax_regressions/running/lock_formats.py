"""The three lock formats read into pins (running.locks says which file is which): a requirements file's
``name==version`` lines, PEP 751's pylock.toml, and uv's universal uv.lock, markers evaluated for the cells' Python.
Each pin keeps where it came from (file and line or entry) for the one-line LockError that names it."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from flax_regressions.core.errors import Error, one_line

LOCAL_SOURCES = ("editable", "virtual", "directory")  # the project itself (uv.lock source keys, pylock.toml tables)


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


def _applies(marker: object, environment: dict, where: str) -> bool:
    if not marker:
        return True
    if not isinstance(marker, str):
        raise LockError(f"{where}: its marker is {type(marker).__name__}, not a string")
    try:
        return Marker(marker).evaluate(environment)
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise LockError(f"{where}: cannot evaluate the marker {marker!r}: {one_line(str(exc))}") from None


def toml(path: Path, text: str) -> dict:
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


def requirements_file(text: str, path: Path, environment: dict, notes: list[str]) -> list[tuple[Pin, str]]:
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


def pylock(data: dict, path: Path, environment: dict) -> list[tuple[Pin, str]]:
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


def uv_lock(data: dict, path: Path, environment: dict) -> list[tuple[Pin, str]]:
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
