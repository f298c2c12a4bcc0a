"""Where the suite keeps its inputs and its working files, relative to the checkout."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MATRIX_FILE = ROOT / "matrix.yaml"
ENVS_DIR = ROOT / ".envs"
RESULTS_DIR = ROOT / "results"
CELLS_DIR = RESULTS_DIR / "cells"
REPORTS_DIR = ROOT / "reports"
COMPILE_CACHE_DIR = ROOT / ".jax-cache"


def shown_path(path: Path) -> str:
    """A path as a message shows it: relative to the checkout when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
