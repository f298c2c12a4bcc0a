"""The main job from the command line: the matrix's cells, two at once, then the report; or, with --here, the
cases in this interpreter, with nothing built.

    flax-regressions run [--flax V ...] [--backend B] [--cases DIR ...] [--lock FILE] [--report-log FILE] [-- PYTEST ARGS]
    flax-regressions run --here [--backend B] [--cases DIR ...] [-- PYTEST ARGS]

Without --here it is ``uv run nox``: each cell (every default release of the matrix, or each --flax) in its
own environment (running.cells.run_cell), its pytest output in results/logs/<cell>.log, then the report
(results/matrix.{md,json}); exit status the report's. With --here the cell is this interpreter, as a GPU
runner or a team's own virtual environment has it: the installed Flax, JAX and jaxlib and the backend JAX
reports; it writes results/cells/<cell>.json and prints that cell's table. Exit status: 0 when every variant
is as expected, 1 when one is not, 2 with a one-line reason on bad input.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from flax_regressions.commands import report as report_command
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.paths import CELLS_DIR, RESULTS_DIR, shown_path
from flax_regressions.core.results import CellId, CellOutcome, CellResult, ResultsError, cell_file
from flax_regressions.incell.context import chosen_backend
from flax_regressions.incell.repros import installed_versions
from flax_regressions.render import matrix_table
from flax_regressions.running import cells, locks
from flax_regressions.spec import cases
from flax_regressions.spec.model import Matrix, MatrixError
from flax_regressions.tools import report

PARALLEL = 2  # cells at once, as nox runs them (see README, "Speed")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = Parser("run", description="Run the matrix's cells, then the report; or --here, this interpreter.")
    parser.add_argument("--flax", action="append", metavar="V",
                        help="a Flax release to run (repeatable; default: every release of the matrix)")
    parser.add_argument("--backend", help="the JAX backend (default: cpu; with --here, the one JAX reports)")
    parser.add_argument("--here", action="store_true",
                        help="run the cases in this interpreter, on its installed Flax and JAX: build nothing")
    parser.add_argument("--lock", metavar="FILE", help="build every cell from this lock's pins, Flax replaced by the "
                                                        "cell's release (requirements.txt, pylock.toml or uv.lock)")
    parser.add_argument("--report-log", metavar="FILE", help="also write the report as a pytest report log (JSON lines)")
    parser.add_cases()
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, log=print) -> int:
    """Run; return the exit status (core.status). Arguments after ``--`` go to every cell's pytest."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = parse_args(own)
    try:
        the_matrix = cases.load(args.cases)
        if args.here and (args.flax or args.lock):
            raise ValueError(f"--here runs the installed packages: it takes no {'--flax' if args.flax else '--lock'}")
        lock = locks.read(args.lock, the_matrix.python) if args.lock else None
        backend = chosen_backend(args.backend) if args.here else args.backend or "cpu"
        if backend not in the_matrix.backends:
            raise ValueError(f"unknown backend {backend!r} (matrix.yaml has: {', '.join(the_matrix.backends)})")
    except (MatrixError, ValueError, locks.LockError) as exc:
        print(f"run: error: {exc}", file=sys.stderr)
        return status.USAGE_ERROR
    if args.here:
        return here(the_matrix, backend, pytest_args, log, args.report_log)
    wanted = [CellId(v, backend) for v in args.flax or [v.version for v in the_matrix.flax]]
    one_at_a_time = threading.Lock()

    def say(line: str) -> None:  # two cells' lines, each whole
        with one_at_a_time:
            log(line)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        list(pool.map(lambda cell: run_one(the_matrix, cell, pytest_args, say, lock), wanted))
    return report_command.main(the_matrix, log=log, argv=own, wanted=wanted)


def run_one(the_matrix: Matrix, cell: CellId, pytest_args: list[str], log, lock: locks.Lock | None = None) -> CellResult:
    """One cell, its pytest output to results/logs/<cell>.log (two cells run at once), a line when it starts and ends."""
    logfile = RESULTS_DIR / "logs" / f"{cell}.log"
    log(f"run: {cell}: started")
    result = cells.run_cell(the_matrix, cell.flax, cell.backend, pytest_args, log=lambda line: log(f"run: {cell}: {line}"),
                            runner=cells.logged_runner(logfile), lock=lock)
    ended = result.reason if result.outcome is not CellOutcome.RAN else result.rerun_failed or "ran"
    log(f"run: {cell}: {ended}" + (f" (log: {shown_path(logfile)})" if logfile.exists() else ""))
    return result


def here(the_matrix: Matrix, backend: str, pytest_args: list[str], log, report_log: str | None = None) -> int:
    """The cases in this interpreter: its results file, and its table with the verdict."""
    versions = installed_versions()
    if versions.flax == "not installed":
        print(f"run: error: --here: flax is not installed in this interpreter ({sys.executable})", file=sys.stderr)
        return status.USAGE_ERROR
    cell = CellId(versions.flax, backend)
    path = cell_file(CELLS_DIR, cell)
    log(f"run: {cell}: here, in {sys.executable} (flax {versions.flax}, jax {versions.jax}, jaxlib {versions.jaxlib})")
    command = cells.pytest_command(sys.executable, cell, cells.cases_args(the_matrix) + pytest_args)
    subprocess.run(command, env=os.environ | {"JAX_PLATFORMS": backend}, cwd=cells.harness())
    try:
        result = CellResult.load(path)
    except ResultsError as exc:
        print(f"run: error: {cell}: {'pytest wrote no results file' if not path.exists() else exc}", file=sys.stderr)
        return status.USAGE_ERROR
    log(f"run: wrote {shown_path(path)}")
    rows = report.rows_of(the_matrix, {cell: result}, {}, [cell])
    return report_command.verdict(rows, matrix_table.render(rows), log, report_log)


if __name__ == "__main__":
    sys.exit(main())
