"""Where the built-in catalogue is: ``matrix.yaml`` and ``repro/``, the same shape in a checkout and in the wheel.

A checkout has them at its root; the wheel ships them as package data under ``flax_regressions/builtin/``
(pyproject's force-include), so the installed tool needs no clone. ``catalogue_dir`` is the one place that knows
which: everything else asks it. The working files (environments, results, the compilation cache) are a
``core.workspace.Workspace``'s, never the package's.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def catalogue_dir() -> Path:
    """The directory that holds the built-in ``matrix.yaml`` and ``repro/``."""
    packaged = PACKAGE_DIR / "builtin"
    return packaged if (packaged / "matrix.yaml").is_file() else PACKAGE_DIR.parent


def builtin_matrix() -> Path:
    """The built-in matrix.yaml (its cases are in repro/ beside it)."""
    return catalogue_dir() / "matrix.yaml"


def packaged(path: Path) -> bool:
    """Whether ``path`` is inside the catalogue an installed wheel ships: never to be edited in place."""
    return Path(path).resolve().is_relative_to(PACKAGE_DIR / "builtin")
