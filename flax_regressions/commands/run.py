"""The main job: the matrix's cells side by side, then the report; or --here, the cases in this interpreter.

    flax-regressions run [--flax V ...] [--jax J] [--backend B] [-j N] [--cases DIR ...] [--lock FILE]
                         [--report-log FILE] [-- PYTEST ARGS]
    flax-regressions run --here [--backend B] [--cases DIR ...] [-- PYTEST ARGS]

Without --here it is ``uv run nox``: each cell (every default release of the matrix, or each --flax; with a JAX
chosen by hand, --jax) in its own environment (running.cells.run_cell). The main job (the default cells, no
pytest arguments) ends with the report (results/matrix.{md,json}); any other run prints the table of the cells and
variants it ran and judges those alone. Several cells run side by side, each with its pytest output in
results/logs/<cell>.log; one alone shows it here.
With --here the cell is this interpreter, as a GPU runner or a team's own virtual environment has it: the installed
Flax, JAX and jaxlib and the backend JAX reports; it writes results/cells/<cell>.json and prints that cell's table.
Exit status: 0 when every result of the cells run is as expected, 1 when one is not, 2 with a one-line reason on bad
input, and 2 when a cell's pytest recorded nothing (a mistyped pytest option, ``-k`` that selects nothing): its
earlier results are kept, marked "not run now", never shown as passing.
"""

from __future__ import annotations

import sys
import threading
from argparse import Namespace
from collections.abc import Callable

from flax_regressions.analysis import report
from flax_regressions.catalogue import case_dirs
from flax_regressions.catalogue.model import Matrix
from flax_regressions.commands import report as report_command
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.core.results import CellId, CellOutcome, CellResult
from flax_regressions.core.workspace import Workspace
from flax_regressions.incell.context import chosen_backend
from flax_regressions.incell.repros import installed_versions
from flax_regressions.render import matrix_table
from flax_regressions.running import cells, locks
from flax_regressions.running.runners import LoggedRunner, Runner, subprocess_runner
from flax_regressions.running.side_by_side import JOBS, each

Log = Callable[[str], None]
# the main job holds the workarounds that work over generated sizes, every other variant at its documented call:
# the catalogue's precision is held by every other run (flax_regressions.incell.properties.parametrize)
MAIN_JOB_PROPERTIES = "--properties=workarounds"


def add_arguments(parser: Parser) -> None:
    parser.add_argument(
        "--flax",
        action="append",
        metavar="V",
        help="a Flax release to run (repeatable; default: every release of the matrix)",
    )
    parser.add_argument("--jax", metavar="J", help="with this JAX release instead of each release's own")
    parser.add_argument("--backend", help="the JAX backend (default: cpu; with --here, the one JAX reports)")
    parser.add_argument(
        "--here",
        action="store_true",
        help="run the cases in this interpreter, on its installed Flax and JAX: build nothing",
    )
    parser.add_argument(
        "--lock",
        metavar="FILE",
        help="build every cell from this lock's pins, Flax replaced by the "
        "cell's release (requirements.txt, pylock.toml or uv.lock)",
    )
    parser.add_argument("-j", "--jobs", type=int, default=JOBS, metavar="N", help=f"cells at once (default: {JOBS})")
    parser.add_argument(
        "--report-log", metavar="FILE", help="also write the report as a pytest report log (JSON lines)"
    )
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    """Run; return the exit status (core.status). ``args.pytest_args`` (after ``--``) go to every cell's pytest."""
    the_matrix = case_dirs.load(args.cases)
    if args.here and (args.flax or args.lock or args.jax):
        given = "--flax" if args.flax else "--lock" if args.lock else "--jax"
        raise Error(f"--here runs the installed packages: it takes no {given}")
    if args.jobs < 1:
        raise Error(f"--jobs {args.jobs}: give at least 1")
    lock = locks.read(args.lock, the_matrix.python) if args.lock else None
    if args.here:
        check_installed()
    backend = chosen_backend(args.backend) if args.here else args.backend or "cpu"
    if backend not in the_matrix.backends:
        raise Error(f"unknown backend {backend!r} (matrix.yaml has: {', '.join(the_matrix.backends)})")
    absent = cells.missing_backend(the_matrix, backend)
    if absent:
        raise Error(f"--backend {backend}: {absent}")
    main_job = not (args.here or args.flax or args.jax or args.pytest_args)  # the default cells, whole
    if args.here:
        check_device(backend)
        results = [here(workspace, the_matrix, backend, args.pytest_args)]
    else:
        for note in lock.notes if lock else ():
            print(f"run: {note}")
        versions = args.flax or [v.version for v in the_matrix.flax]
        wanted = [CellId(v, backend, args.jax, lock.digest if lock else None) for v in versions]
        # the newest release first: it runs the most variants to their end, the longest cell (measured: 40 s against
        # 29 to 34 s with the cache off; oldest first, its lane ended 13 s after the other's)
        extra = [MAIN_JOB_PROPERTIES] if main_job else args.pytest_args
        results = run_cells(workspace, the_matrix, wanted[::-1], extra, lock, args.jobs)[::-1]
    if main_job:  # the merged report too
        code = report_command.merge(workspace, the_matrix, [r.cell for r in results], print, args.report_log)
    else:
        rows = [
            row
            for row in report.rows_of(the_matrix, {r.cell: r for r in results}, {}, [r.cell for r in results])
            if not (args.pytest_args and row.record.message == report.NOT_SELECTED)
        ]
        code = report_command.verdict(rows, matrix_table.render(rows), print, args.report_log)
    unrun = [r for r in results if r.rerun_failed or r.outcome is CellOutcome.NOT_RUN]
    for result in unrun:
        print(f"run: error: {result.cell}: not run now: {result.rerun_failed or result.reason}", file=sys.stderr)
    return status.USAGE_ERROR if unrun else code


def check_installed() -> None:
    """``run --here`` runs this interpreter's Flax and JAX: refused when it has none."""
    versions = installed_versions()
    missing = [name for name in ("flax", "jax", "jaxlib") if getattr(versions, name) == "not installed"]
    if missing:
        raise Error(
            f"--here: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed in this "
            f"interpreter ({sys.executable})"
        )


def check_device(backend: str) -> None:
    """``run --here`` on a backend this interpreter's JAX cannot run on (a GPU machine whose JAX has no CUDA plugin)
    is refused before any variant runs."""
    if backend != "cpu":
        import jax

        try:
            jax.devices({"cuda": "gpu"}.get(backend, backend))
        except RuntimeError as exc:
            raise Error(
                f"--here --backend {backend}: this interpreter's JAX has no {backend} device "
                f"({str(exc).splitlines()[0]})"
            ) from None


def run_cells(
    workspace: Workspace,
    the_matrix: Matrix,
    wanted: list[CellId],
    pytest_args: list[str],
    lock: locks.Lock | None,
    jobs: int,
) -> list[CellResult]:
    """Every cell, ``jobs`` at a time, each line said whole, with how many are done and how many wait; one cell
    alone shows its pytest output here."""
    one_at_a_time = threading.Lock()
    counts = {"started": 0, "done": 0}

    def say(line: str) -> None:
        with one_at_a_time:
            print(line, flush=True)

    def one(cell: CellId) -> CellResult:
        runner: Runner = subprocess_runner if len(wanted) == 1 else LoggedRunner(workspace.logs / f"{cell}.log")
        with one_at_a_time:
            counts["started"] += 1
            waiting = len(wanted) - counts["started"]
        say(f"run: {cell}: started ({counts['done']} of {len(wanted)} done, {waiting} waiting)")
        result = cells.run_cell(
            workspace,
            the_matrix,
            cell.flax,
            cell.backend,
            pytest_args,
            runner=runner,
            log=lambda line: say(f"run: {cell}: {line}"),
            jax=cell.jax,
            lock=lock,
        )
        ended = result.reason if result.outcome is not CellOutcome.RAN else result.rerun_failed or "ran"
        log = runner.path if isinstance(runner, LoggedRunner) and runner.path.exists() else None
        with one_at_a_time:
            counts["done"] += 1
        where = f"; log: {workspace.shown(log)}" if log else ""
        say(f"run: {cell}: {ended} ({counts['done']} of {len(wanted)} done{where})")
        return result

    return each(wanted, one, jobs)


def here(workspace: Workspace, the_matrix: Matrix, backend: str, pytest_args: list[str]) -> CellResult:
    """The cases in this interpreter: its results file, the cell named by the installed Flax."""
    versions = installed_versions()
    cell = CellId(versions.flax or "not installed", backend)
    print(
        f"run: {cell}: here, in {sys.executable} (flax {versions.flax}, jax {versions.jax}, jaxlib {versions.jaxlib})"
    )
    result = cells.run_pytest(
        workspace, the_matrix, sys.executable, cell, pytest_args, workspace.cells, subprocess_runner
    )
    if not result.rerun_failed and result.outcome is CellOutcome.RAN:
        print(f"run: wrote {workspace.shown(cells.cell_file(workspace.cells, cell))}")
    return result
