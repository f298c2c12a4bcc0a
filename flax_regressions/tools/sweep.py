"""The whole suite on every Flax release in a range, each with its contemporary JAX.

The default matrix samples a few releases; the sweep runs the full cell (running.cells.run_cell) on every
release of a range into results/sweep/cells/ and merges them as the report does. It is how "the
expectations are right on every release" is checked.
"""

from __future__ import annotations

import time

from flax_regressions.core.paths import RESULTS_DIR
from flax_regressions.core.merged import Row
from flax_regressions.core.results import CellId, cell_file, load_cells
from flax_regressions.running import cells
from flax_regressions.spec.model import Matrix
from flax_regressions.tools import report

SWEEP_DIR = RESULTS_DIR / "sweep"
BACKEND = "cpu"


def sweep(the_matrix: Matrix, versions: list[str], resume: bool = False, log=print) -> list[Row]:
    """Run (or, with ``resume``, keep) every release's cell, merge them, and return the rows."""
    cells_dir = SWEEP_DIR / "cells"
    wanted = [CellId(v, BACKEND) for v in versions]
    done, _ = load_cells(cells_dir)
    for stale in set(done) - set(wanted):  # the report reads every file here: keep only this sweep's cells
        cell_file(cells_dir, stale).unlink()
    for n, cell in enumerate(wanted, 1):
        if resume and cell in done and done[cell].complete:
            log(f"sweep: {n}/{len(versions)} flax {cell.flax}: kept from the earlier sweep")
            continue
        step = time.monotonic()
        cells.run_cell(the_matrix, cell.flax, BACKEND, ["-q"], cells_dir=cells_dir, log=log)
        log(f"sweep: {n}/{len(versions)} flax {cell.flax}: {time.monotonic() - step:.0f}s")
    return report.write_report(wanted, the_matrix, cells_dir, SWEEP_DIR)
