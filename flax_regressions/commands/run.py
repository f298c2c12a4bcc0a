"""The main job from the command line: the matrix's cells, two at once, then the report; or, with --here, the
cases in this interpreter, with nothing built.

    flax-regressions run [--flax V ...] [--backend B] [--cases DIR ...] [--lock FILE] [--report-log FILE] [-- PYTEST ARGS]
    flax-regressions run --here [--backend B] [--cases DIR ...] [-- PYTEST ARGS]

Without --here it is ``uv run nox``: each cell (every default release of the matrix, or each --flax) in its
own environment (running.cells.run_cell), its pytest output in results/logs/<cell>.log, then the report
(results/matrix.{md,json}). With --here the cell is this interpreter, as a GPU runner or a team's own virtual
environment has it: the installed Flax, JAX and jaxlib and the backend JAX reports; it writes
results/cells/<cell>.json and prints that cell's table. Exit status: 0 when every variant is as expected, 1 when
one is not, 2 with a one-line reason on bad input, and 2 when a cell's pytest recorded nothing (a mistyped pytest
option, ``-k`` that selects nothing): its earlier results are kept, marked "not run now", never shown as passing.
"""

from __future__ import annotations

import argparse
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from flax_regressions.commands import report as report_command
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.core.paths import CELLS_DIR, RESULTS_DIR, shown_path
from flax_regressions.core.results import CellId, CellOutcome, CellResult
from flax_regressions.incell.context import chosen_backend
from flax_regressions.incell.repros import installed_versions
from flax_regressions.render import matrix_table
from flax_regressions.running import cells, locks
from flax_regressions.running.runners import LoggedRunner, subprocess_runner
from flax_regressions.spec import cases
from flax_regressions.spec.model import Matrix
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
        return run(args, pytest_args, log)
    except Error as exc:
        print(f"run: error: {exc}", file=sys.stderr)
        return status.USAGE_ERROR


def run(args: argparse.Namespace, pytest_args: list[str], log) -> int:
    the_matrix = cases.load(args.cases)
    if args.here and (args.flax or args.lock):
        raise Error(f"--here runs the installed packages: it takes no {'--flax' if args.flax else '--lock'}")
    lock = locks.read(args.lock, the_matrix.python) if args.lock else None
    if args.here:
        check_installed()
    backend = chosen_backend(args.backend) if args.here else args.backend or "cpu"
    if backend not in the_matrix.backends:
        raise Error(f"unknown backend {backend!r} (matrix.yaml has: {', '.join(the_matrix.backends)})")
    absent = cells.missing_backend(the_matrix, backend)
    if absent:
        raise Error(f"--backend {backend}: {absent}")
    if args.here:
        check_device(backend)
        results = [here(the_matrix, backend, pytest_args, log)]
        rows = report.rows_of(the_matrix, {r.cell: r for r in results}, {}, [r.cell for r in results])
        code = report_command.verdict(rows, matrix_table.render(rows), log, args.report_log)
    else:
        for note in lock.notes if lock else ():
            log(f"run: {note}")
        wanted = [CellId(v, backend, None, lock.digest if lock else None)
                  for v in args.flax or [v.version for v in the_matrix.flax]]
        results = run_cells(the_matrix, wanted, pytest_args, log, lock)
        code = report_command.merge(the_matrix, wanted, log, args.report_log)
    unrun = [r for r in results if r.rerun_failed or r.outcome is CellOutcome.NOT_RUN]
    for result in unrun:
        print(f"run: error: {result.cell}: not run now: {result.rerun_failed or result.reason}", file=sys.stderr)
    return status.USAGE_ERROR if unrun else code


def check_installed() -> None:
    """``run --here`` runs this interpreter's Flax and JAX: refused when it has none."""
    versions = installed_versions()
    missing = [name for name in ("flax", "jax", "jaxlib") if getattr(versions, name) == "not installed"]
    if missing:
        raise Error(f"--here: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed in this "
                    f"interpreter ({sys.executable})")


def check_device(backend: str) -> None:
    """``run --here`` on a backend this interpreter's JAX cannot run on (a GPU machine whose JAX has no CUDA plugin)
    is refused before any variant runs."""
    if backend != "cpu":
        import jax

        try:
            jax.devices({"cuda": "gpu"}.get(backend, backend))
        except RuntimeError as exc:
            raise Error(f"--here --backend {backend}: this interpreter's JAX has no {backend} device "
                        f"({str(exc).splitlines()[0]})") from None


def run_cells(the_matrix: Matrix, wanted: list[CellId], pytest_args: list[str], log,
              lock: locks.Lock | None) -> list[CellResult]:
    """Every cell, two at once; each line said whole."""
    one_at_a_time = threading.Lock()

    def say(line: str) -> None:
        with one_at_a_time:
            log(line)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(lambda cell: run_one(the_matrix, cell, pytest_args, say, lock), wanted))


def run_one(the_matrix: Matrix, cell: CellId, pytest_args: list[str], log, lock: locks.Lock | None = None) -> CellResult:
    """One cell, its pytest output to results/logs/<cell>.log (two cells run at once), a line when it starts and ends."""
    runner = LoggedRunner(RESULTS_DIR / "logs" / f"{cell}.log")
    log(f"run: {cell}: started")
    result = cells.run_cell(the_matrix, cell.flax, cell.backend, pytest_args, log=lambda line: log(f"run: {cell}: {line}"),
                            runner=runner, lock=lock)
    ended = result.reason if result.outcome is not CellOutcome.RAN else result.rerun_failed or "ran"
    log(f"run: {cell}: {ended}" + (f" (log: {shown_path(runner.path)})" if runner.path.exists() else ""))
    return result


def here(the_matrix: Matrix, backend: str, pytest_args: list[str], log) -> CellResult:
    """The cases in this interpreter: its results file, the cell named by the installed Flax."""
    versions = installed_versions()
    cell = CellId(versions.flax, backend)
    log(f"run: {cell}: here, in {sys.executable} (flax {versions.flax}, jax {versions.jax}, jaxlib {versions.jaxlib})")
    result = cells.run_pytest(the_matrix, sys.executable, cell, pytest_args, CELLS_DIR, subprocess_runner, backend)
    if not result.rerun_failed and result.outcome is CellOutcome.RAN:
        log(f"run: wrote {shown_path(cells.cell_file(CELLS_DIR, cell))}")
    return result


if __name__ == "__main__":
    sys.exit(main())
