"""Which files a scan reads: the Python files under the paths given, as ruff would pick them.

Skipped: the directories every Python tool skips (``.git``, ``.venv``, ``build``, ...), whatever a ``.gitignore``
ignores (each directory's own, as git reads them), and the patterns of ``exclude`` in the ``[tool.flax-regressions]``
table of the nearest ``pyproject.toml`` (gitignore syntax, relative to that file). A file named on the command line
is read even where a directory walk would skip it, as ruff does.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pathspec

from flax_regressions.core.errors import Error

SKIPPED_DIRS = {
    ".bzr", ".direnv", ".eggs", ".envs", ".git", ".hg", ".mypy_cache", ".nox", ".pytest_cache", ".ruff_cache",
    ".svn", ".tox", ".venv", "__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist",
    "node_modules", "site-packages", "venv",
}  # fmt: skip
TABLE = "flax-regressions"


class ScanError(Error):
    """A scan that cannot start: a path that does not exist, a pyproject.toml that cannot be read."""


def settings(start: Path) -> tuple[Path | None, dict]:
    """The nearest pyproject.toml at or above ``start`` and its ``[tool.flax-regressions]`` table."""
    for directory in [start, *start.parents]:
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ScanError(f"{candidate}: cannot read it ({exc})") from None
            table = data.get("tool", {}).get(TABLE, {})
            if not isinstance(table, dict) or not isinstance(table.get("exclude", []), list):
                raise ScanError(f"{candidate}: [tool.{TABLE}] exclude is a list of patterns")
            return candidate, table
    return None, {}


def python_files(paths: list[Path], cwd: Path) -> list[Path]:
    """The files to scan, each once, in a stable order."""
    pyproject, table = settings(cwd.resolve())
    excluded = pathspec.GitIgnoreSpec.from_lines(table.get("exclude", []))
    base = pyproject.parent if pyproject else cwd.resolve()
    found: dict[Path, None] = {}
    for given in paths:
        path = (cwd / given).resolve()
        if not path.exists():
            raise ScanError(f"{given}: no such file or directory")
        if path.is_file():
            found.setdefault(path)
            continue
        for file in _walk(path):
            if not _under(file, base) or not excluded.match_file(file.relative_to(base).as_posix()):
                found.setdefault(file)
    return list(found)


def _walk(top: Path) -> Iterator[Path]:
    """Python files under ``top``, skipping the usual directories and what each level's .gitignore ignores."""
    ignores: list[tuple[Path, pathspec.GitIgnoreSpec]] = []
    for parent in [*reversed(top.parents), top]:  # the .gitignore files above ``top`` apply too, up to the repo root
        ignores += _gitignore(parent)
    for directory, dirs, files in os.walk(top):
        here = Path(directory)
        level = [*[(b, s) for b, s in ignores if _under(here, b)], *(_gitignore(here) if here != top else [])]
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not _ignored(here / d, level, True))
        for name in sorted(files):
            if name.endswith(".py") and not _ignored(here / name, level, False):
                yield here / name
        ignores = level


def _gitignore(directory: Path) -> list[tuple[Path, pathspec.GitIgnoreSpec]]:
    path = directory / ".gitignore"
    if not path.is_file():
        return []
    return [(directory, pathspec.GitIgnoreSpec.from_lines(path.read_text(errors="replace").splitlines()))]


def _ignored(path: Path, specs: list[tuple[Path, pathspec.GitIgnoreSpec]], is_dir: bool) -> bool:
    for base, spec in specs:
        relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(relative):
            return True
    return False


def _under(path: Path, base: Path) -> bool:
    return path == base or base in path.parents
