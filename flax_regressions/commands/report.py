"""Merge the cells written so far into results/matrix.{json,md}, draw results/history.html, and give the verdict.

    flax-regressions report [--report-log FILE] [--lock FILE] [--cases DIR ...]

Exit status: 0 when every result of the matrix's default cells is as matrix.yaml expects, 1 when one is not (each
named on stderr), 2 on a broken matrix.yaml. ``--report-log FILE`` also writes every row as a pytest report log
(render.reportlog), which the issue-from-pytest-log action turns into one issue kept up to date.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from flax_regressions.analysis import audit, report
from flax_regressions.catalogue import case_dirs
from flax_regressions.catalogue.model import Matrix
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.cells import CellId
from flax_regressions.core.merged import Row
from flax_regressions.core.workspace import Workspace
from flax_regressions.render import history_page, matrix_table, reportlog
from flax_regressions.render.markdown import write
from flax_regressions.running import locks


def add_arguments(parser: Parser) -> None:
    parser.add_argument("--report-log", metavar="FILE", help="also write every row as a pytest report log (JSON lines)")
    parser.add_argument("--lock", metavar="FILE", help="the cells were built from this lock (run --lock): report those")
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    the_matrix = case_dirs.load(args.cases)
    lock = locks.read(args.lock, the_matrix.python) if args.lock else None
    wanted = [replace(cell, lock=lock.digest if lock else None) for cell in report.default_cells(the_matrix)]
    return merge(workspace, the_matrix, wanted, print, args.report_log)


def merge(
    workspace: Workspace,
    the_matrix: Matrix,
    wanted: list[CellId],
    log: Callable[[str], None] = print,
    report_log: str | None = None,
) -> int:
    """Merge the ``wanted`` cells and whatever else results/cells holds into results/matrix.{json,md}, draw the
    history (results/history.html: the catalogue's measured history with these runs laid over it); the verdict."""
    rows = report.write_report(wanted, the_matrix, workspace.cells, workspace.results)
    text = matrix_table.render(rows)
    write(workspace.results / "matrix.md", text)
    history_page.write(workspace.results / "history.html", audit.evidence(the_matrix, workspace), the_matrix)
    log(f"report: the measured history drawn in {workspace.shown(workspace.results / 'history.html')}")
    return verdict(rows, text, log, report_log)


def verdict(rows: list[Row], text: str, log: Callable[[str], None] = print, report_log: str | None = None) -> int:
    """Print the table (``text``, which lists the rows not as expected under it) and the verdict in one line, write
    the report log when asked; return the exit status. The report's, and `run`'s for the cells it ran."""
    print(text)
    bad = matrix_table.summary_lines(rows)
    code = status.NOT_AS_EXPECTED if bad else status.OK
    if report_log:
        reportlog.write(Path(report_log), rows, code)
    if bad:
        print(f"{len(bad)} of {len(rows)} results not as expected (listed under the table)", file=sys.stderr)
    else:
        log(f"all {len(rows)} results as expected")
    return code
