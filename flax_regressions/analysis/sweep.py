"""The whole suite on every Flax release in a range, each with its contemporary JAX.

The default matrix samples a few releases; the sweep runs the full cell (running.cells.run_cell) on every
release of a range into results/sweep/cells/ and merges them as the report does. It is how "the
expectations are right on every release" is checked. Cells run side by side (running.side_by_side), each with
its pytest output in results/sweep/logs/<cell>.log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flax_regressions.analysis import report
from flax_regressions.catalogue import history
from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.log import Log
from flax_regressions.core.merged import Row
from flax_regressions.core.paths import packaged
from flax_regressions.core.results import CellId, CellResult, cell_file, load_cells
from flax_regressions.core.workspace import Workspace
from flax_regressions.running import cells
from flax_regressions.running.runners import LoggedRunner
from flax_regressions.running.side_by_side import JOBS, each

BACKEND = "cpu"


def sweep(
    workspace: Workspace,
    the_matrix: Matrix,
    versions: list[str],
    resume: bool = False,
    log: Callable[[str], None] = print,
    jobs: int = JOBS,
) -> list[Row]:
    """Run (or, with ``resume``, keep) every release's cell, ``jobs`` at a time, merge them, and return the rows."""
    cells_dir = workspace.sweep / "cells"
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
        cells.run_cell(
            workspace,
            the_matrix,
            cell.flax,
            BACKEND,
            ["-q"],
            cells_dir=cells_dir,
            log=log,
            runner=LoggedRunner(workspace.sweep / "logs" / f"{cell}.log"),
        )
        finished.append(cell)
        log(f"sweep: {len(finished)}/{len(todo)} flax {cell.flax}: {time.monotonic() - step:.0f}s")

    each(todo, run, jobs)
    return report.write_report(wanted, the_matrix, cells_dir, workspace.sweep)


def record(the_matrix: Matrix, results: list[CellResult], workspace: Workspace, log: Log) -> None:
    """Lay what ``results`` measured over the history of each catalogue directory the matrix was read from
    (``sweep --write``, ``bisect --write``); the built-in catalogue inside an installed package is left alone."""
    for matrix_file in dict.fromkeys(the_matrix.declared_in.values()):
        if packaged(matrix_file):
            continue
        cases = {case for case, path in the_matrix.declared_in.items() if path == matrix_file}
        written = history.record(matrix_file.parent, results, cases)
        if written:
            log(f"recorded what was measured in {workspace.shown(written)}")
