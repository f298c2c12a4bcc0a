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

import yaml

from flax_regressions.catalogue import reader
from flax_regressions.catalogue.model import Matrix, MatrixError
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
        root = compose(one.path, one.shown)
        included = includes_builtin(one, root)
        if included and builtin is None:
            builtin = reader.load(builtin_file)
        read.append((one, one.matrix(root, builtin if included else None)))
    return merge(read, builtin, tuple(Path(d).resolve() for d in directories))


def includes_builtin(one: reader.Reader, root) -> bool:
    """Whether the file says ``include: builtin`` (the one catalogue there is to include)."""
    node = (
        next((v for k, v in root.value if k.value == "include"), None) if isinstance(root, yaml.MappingNode) else None
    )
    if node is not None and one.scalar(node, "include") != "builtin":
        one.fail(node, "include", f"the only catalogue to include is builtin, not {node.value!r}")
    return node is not None


def merge(read: list[tuple[reader.Reader, Matrix]], builtin: Matrix | None, directories: tuple[Path, ...]) -> Matrix:
    """One matrix of the files read (in the order given) and the built-in one (when included, its cases first)."""
    settings: dict[str, tuple[object, str]] = {}  # setting -> (value, the file that gave it first)
    cases, upstream, declared_in = {}, {}, {}
    if builtin is not None:
        cases, upstream, declared_in = dict(builtin.cases), dict(builtin.upstream), dict(builtin.declared_in)
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
            settings.setdefault(key, (value, one.shown))
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
    first = read[0][1]  # a setting nobody gives is the built-in one, which every part was read with
    python, current, flax, backends = (
        settings[key][0] if key in settings else getattr(first, key) for key in reader.SETTINGS
    )
    return Matrix(python, current, flax, backends, cases, upstream, declared_in, directories)


def _shown(path: Path, read: list[tuple[reader.Reader, Matrix]]) -> str:
    """The file that declared a case, as messages name it: a --cases matrix as given, the built-in one by its path."""
    return next((one.shown for one, _ in read if one.path == path), f"the built-in catalogue ({path})")
