"""Your own cases: the matrices of the --cases directories, each read with its own repro/, merged into one.

A directory holds a ``matrix.yaml`` and a ``repro/`` in the built-in catalogue's format. Its matrix either
stands alone (it gives python, current, flax and backends itself) or says ``include: builtin``: then the
built-in catalogue's cases join it, and every setting it does not give is the built-in one. A setting given
by two files must be the same in both, and a case id may be declared once: otherwise one line naming both
files. Each case keeps the matrix.yaml that declares it (``Matrix.declared_in``), so its module is found in
the repro/ beside that file, wherever the cell runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from flax_regressions.catalogue import edit, reader
from flax_regressions.catalogue.model import Detection, Matrix, MatrixError
from flax_regressions.catalogue.rules import Rule
from flax_regressions.catalogue.yaml_nodes import compose
from flax_regressions.core.paths import builtin_matrix


def load(directories: Sequence[Path] = (), builtin_file: Path | None = None) -> Matrix:
    """The matrix of the --cases ``directories``, merged; with none, the built-in one (``builtin_file``, by default
    the catalogue's own, core.paths)."""
    builtin_file = builtin_file or builtin_matrix()
    if not directories:
        return reader.load(builtin_file)
    distinct: dict[Path, Path] = {}  # a directory named twice is read once
    for directory in directories:
        distinct.setdefault(Path(directory).resolve(), Path(directory))
    directories = list(distinct.values())
    builtin, read = None, []
    for directory in directories:
        one = reader.Reader(Path(directory).resolve() / "matrix.yaml", shown=str(Path(directory) / "matrix.yaml"))
        root = _compose(one)
        included = includes_builtin(one, root)
        if included and builtin is None:
            builtin = reader.load(builtin_file)
        read.append((one, one.matrix(root, builtin if included else None)))
    return merge(read, builtin, tuple(Path(d).resolve() for d in directories))


def read_one(path: Path, shown: str, builtin_file: Path | None = None) -> Matrix:
    """One cases matrix as ``load`` reads it (with the built-in cases when it includes them): how an edited file is
    checked before it replaces the original (catalogue.edit)."""
    one = reader.Reader(Path(path), shown=shown)
    root = _compose(one)
    builtin = reader.load(builtin_file or builtin_matrix()) if includes_builtin(one, root) else None
    return merge([(one, one.matrix(root, builtin))], builtin, ())


def _compose(one: reader.Reader) -> yaml.Node | None:
    """A cases directory's matrix; a directory with repro modules and no matrix.yaml yet reads as one that says
    ``include: builtin`` and declares nothing: its modules are cases not measured yet (``bisect --write`` writes it).
    """
    if one.path.exists() or not one.repro_dir.is_dir():
        if not one.path.parent.is_dir() or not one.path.exists():
            why = "no matrix.yaml and no repro/ here (flax-regressions new CASE --cases DIR starts one)"
            raise MatrixError(one.path, None, "", why, one.shown)
        return compose(one.path, one.shown)
    return yaml.compose(edit.NEW_MATRIX, Loader=yaml.SafeLoader)


def includes_builtin(one: reader.Reader, root: yaml.Node | None) -> bool:
    """Whether the file says ``include: builtin`` (the one catalogue there is to include)."""
    node = (
        next((v for k, v in root.value if k.value == "include"), None) if isinstance(root, yaml.MappingNode) else None
    )
    if node is not None and one.scalar(node, "include") != "builtin":
        one.fail(node, "include", f"the only catalogue to include is builtin, not {node.value!r}")
    return node is not None


def merge(read: list[tuple[reader.Reader, Matrix]], builtin: Matrix | None, directories: tuple[Path, ...]) -> Matrix:
    """One matrix of the files read (in the order given) and the built-in one (when included, its cases first)."""
    settings: dict[str, tuple[Any, str]] = {}  # setting -> (value, the file that gave it first)
    cases: dict[str, dict[str, list[Rule]]] = {}
    upstream: dict[str, str] = {}
    declared_in: dict[str, Path] = {}
    undeclared: set[str] = set()
    detection: dict[str, Detection] = {}
    if builtin is not None:
        cases, upstream, declared_in = dict(builtin.cases), dict(builtin.upstream), dict(builtin.declared_in)
        detection = dict(builtin.detection)
        undeclared |= builtin.undeclared
    for one, part in read:
        for key, line in one.given.items():
            value = getattr(part, key)
            if key in settings and settings[key][0] != value:
                raise MatrixError(
                    one.path,
                    line,
                    key,
                    f"not the same as in {settings[key][1]} (give it once, or the same in every --cases matrix)",
                    one.shown,
                )
            settings.setdefault(key, (value, one.shown or str(one.path)))
        for case in part.cases:
            if case in cases:
                other = _shown(declared_in[case], read)
                raise MatrixError(
                    one.path, one.case_lines[case], f"cases.{case}", f"case id already declared in {other}", one.shown
                )
            cases[case], upstream[case], declared_in[case] = (
                part.cases[case],
                part.upstream[case],
                part.declared_in[case],
            )
        undeclared |= part.undeclared
        detection |= part.detection
    first = read[0][1]  # a setting nobody gives is the built-in one, which every part was read with
    python, current, flax, backends = (
        settings[key][0] if key in settings else getattr(first, key) for key in reader.SETTINGS
    )
    return Matrix(
        python, current, flax, backends, cases, upstream, declared_in, directories, frozenset(undeclared), detection
    )


def _shown(path: Path, read: list[tuple[reader.Reader, Matrix]]) -> str:
    """The file that declared a case, as messages name it: a --cases matrix as given, the built-in one by its path."""
    return next((one.shown or str(one.path) for one, _ in read if one.path == path), f"the built-in catalogue ({path})")
