"""Per-cell results files: written atomically by each session, read back by the report.

A cell is one Flax release on one backend. Each cell owns one file, ``results/cells/<cell>.json``, and
replaces it whole (write to a temporary file, then ``os.replace``) after every test, so a session that
crashes or is killed leaves either its previous complete file or its new one, never a torn one, and never
touches another cell's file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from flax_regressions.matrix import ROOT

RESULTS_DIR = ROOT / "results"
CELLS_DIR = RESULTS_DIR / "cells"


def cell_id(flax: str, backend: str, jax: str | None = None) -> str:
    """The name of a cell, as used for its results file and its environment: ``flax-0.10.5-cpu``.

    A cell whose JAX was chosen by hand (bisect holds Flax and varies JAX) says so: ``flax-0.10.5-jax-0.6.0-cpu``.
    """
    return f"flax-{flax}-jax-{jax}-{backend}" if jax else f"flax-{flax}-{backend}"


def write_json(path: Path, data: dict) -> None:
    """Replace ``path`` with ``data`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_cell_error(cells_dir: Path, cell: str, backend: str, outcome: str, reason: str) -> None:
    """Record a cell that could not run at all (an install that failed, a backend that is absent)."""
    write_json(
        cells_dir / f"{cell}.json",
        {"cell": cell, "backend": backend, "cell_outcome": outcome, "reason": reason, "complete": True, "results": []},
    )


def load_cells(cells_dir: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """Every readable cell file by cell id, and the unreadable ones with why (they are reported, not fatal)."""
    cells, unreadable = {}, {}
    for path in sorted(cells_dir.glob("*.json")):
        try:
            cells[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            unreadable[path.stem] = f"unreadable results file {path.name}: {exc}"
    return cells, unreadable
