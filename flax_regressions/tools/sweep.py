"""The whole suite on every Flax release in a range, each with its contemporary JAX.

The default matrix samples a few releases; the sweep runs the full cell (running.cells.run_cell) on every
release of a range into results/sweep/cells/ and merges them as the report does. It is how "the
expectations are right on every release" is checked. Cells run two at a time by default, as nox runs the
matrix (a cell keeps one core busy: JAX start-up and compiles are per process), each with its pytest output
in results/sweep/logs/<cell>.log.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from flax_regressions.core.paths import RESULTS_DIR
from flax_regressions.core.merged import Row
from flax_regressions.core.results import CellId, cell_file, load_cells
from flax_regressions.running import cells
from flax_regressions.running.runners import LoggedRunner
from flax_regressions.spec.model import Matrix
from flax_regressions.tools import report

SWEEP_DIR = RESULTS_DIR / "sweep"
BACKEND = "cpu"


def sweep(the_matrix: Matrix, versions: list[str], resume: bool = False, log=print, jobs: int = 2) -> list[Row]:
    """Run (or, with ``resume``, keep) every release's cell, ``jobs`` at a time, merge them, and return the rows."""
    cells_dir = SWEEP_DIR / "cells"
    wanted = [CellId(v, BACKEND) for v in versions]
    done, _ = load_cells(cells_dir)
    for stale in set(done) - set(wanted):  # the report reads every file here: keep only this sweep's cells
        cell_file(cells_dir, stale).unlink()
    todo = [cell for cell in wanted if not (resume and cell in done and done[cell].complete)]
    if len(todo) < len(wanted):
        log(f"sweep: {len(wanted) - len(todo)} release(s) kept from the earlier sweep")
    finished = []

    def run(cell: CellId) -> None:
        step = time.monotonic()
        cells.run_cell(the_matrix, cell.flax, BACKEND, ["-q"], cells_dir=cells_dir, log=log,
                       runner=LoggedRunner(SWEEP_DIR / "logs" / f"{cell}.log"))
        finished.append(cell)
        log(f"sweep: {len(finished)}/{len(todo)} flax {cell.flax}: {time.monotonic() - step:.0f}s")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run, todo))
    return report.write_report(wanted, the_matrix, cells_dir, SWEEP_DIR)
