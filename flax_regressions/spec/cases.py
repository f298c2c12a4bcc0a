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

from flax_regressions.core.paths import MATRIX_FILE, shown_path
from flax_regressions.spec import matrix
from flax_regressions.spec.model import Matrix, MatrixError
from flax_regressions.spec.yaml_nodes import compose


def load(directories: Sequence[Path] = (), builtin_file: Path = MATRIX_FILE) -> Matrix:
    """The matrix of the --cases ``directories``, merged; with none, the built-in one (``builtin_file``)."""
    if not directories:
        return matrix.load(builtin_file)
    distinct: dict[Path, Path] = {}  # a directory named twice is read once
    for directory in directories:
        distinct.setdefault(Path(directory).resolve(), Path(directory))
    directories = list(distinct.values())
    builtin, read = None, []
    for directory in directories:
        reader = matrix.Reader(Path(directory).resolve() / "matrix.yaml", shown=str(Path(directory) / "matrix.yaml"))
        root = compose(reader.path, reader.shown)
        included = includes_builtin(reader, root)
        if included and builtin is None:
            builtin = matrix.load(builtin_file)
        read.append((reader, reader.matrix(root, builtin if included else None)))
    return merge(read, builtin, tuple(Path(d).resolve() for d in directories))


def includes_builtin(reader: matrix.Reader, root) -> bool:
    """Whether the file says ``include: builtin`` (the one catalogue there is to include)."""
    node = next((v for k, v in root.value if k.value == "include"), None) if isinstance(root, yaml.MappingNode) else None
    if node is not None and reader.scalar(node, "include") != "builtin":
        reader.fail(node, "include", f"the only catalogue to include is builtin, not {node.value!r}")
    return node is not None


def merge(read: list[tuple[matrix.Reader, Matrix]], builtin: Matrix | None, directories: tuple[Path, ...]) -> Matrix:
    """One matrix of the files read (in the order given) and the built-in one (when included, its cases first)."""
    settings: dict[str, tuple[object, str]] = {}  # setting -> (value, the file that gave it first)
    cases, upstream, declared_in = {}, {}, {}
    if builtin is not None:
        cases, upstream, declared_in = dict(builtin.cases), dict(builtin.upstream), dict(builtin.declared_in)
    for reader, part in read:
        for key, line in reader.given.items():
            value = getattr(part, key)
            if key in settings and settings[key][0] != value:
                raise MatrixError(reader.path, line, key, f"not the same as in {settings[key][1]} (give it once, "
                                                          "or the same in every --cases matrix)", reader.shown)
            settings.setdefault(key, (value, reader.shown))
        for case in part.cases:
            if case in cases:
                other = _shown(declared_in[case], read)
                raise MatrixError(reader.path, reader.case_lines[case], f"cases.{case}",
                                  f"case id already declared in {other}", reader.shown)
            cases[case], upstream[case], declared_in[case] = part.cases[case], part.upstream[case], part.declared_in[case]
    first = read[0][1]  # a setting nobody gives is the built-in one, which every part was read with
    python, current, flax, backends = (settings[key][0] if key in settings else getattr(first, key) for key in matrix.SETTINGS)
    return Matrix(python, current, flax, backends, cases, upstream, declared_in, directories)


def _shown(path: Path, read: list[tuple[matrix.Reader, Matrix]]) -> str:
    """The file that declared a case, as messages name it: a --cases matrix as given, the built-in one by its path."""
    return next((reader.shown for reader, _ in read if reader.path == path), f"the built-in catalogue ({shown_path(path)})")
