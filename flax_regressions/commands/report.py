"""Merge the cells into results/matrix.{json,md} and give the verdict.

    python -m flax_regressions.commands.report [--report-log FILE]     (or: nox -s report -- ...)

Exit status: 0 when every cell of the default matrix is as matrix.yaml expects, 1 when one is not (each
named on stderr), 2 on a broken matrix.yaml. ``--report-log FILE`` also writes every row as a pytest report
log (render.reportlog), which the issue-from-pytest-log action turns into one issue kept up to date.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.core.merged import Row
from flax_regressions.core.paths import RESULTS_DIR
from flax_regressions.core.results import CellId
from flax_regressions.render import matrix_table, reportlog
from flax_regressions.render.markdown import write
from flax_regressions.running import locks
from flax_regressions.spec import cases, matrix
from flax_regressions.tools import report


def main(the_matrix: matrix.Matrix | None = None, log=print, argv: list[str] | None = None) -> int:
    """Merge the matrix's default cells and whatever else results/cells holds."""
    parser = Parser("report", description="Merge the cells into results/matrix.{json,md}.")
    parser.add_argument("--report-log", metavar="FILE", help="also write every row as a pytest report log (JSON lines)")
    parser.add_argument("--lock", metavar="FILE", help="the cells were built from this lock (run --lock): report those")
    parser.add_cases()
    args = parser.parse_args(argv or [])
    try:
        the_matrix = the_matrix or cases.load(args.cases)
        lock = locks.read(args.lock, the_matrix.python) if args.lock else None
        wanted = [replace(cell, lock=lock.digest if lock else None) for cell in report.default_cells(the_matrix)]
        return merge(the_matrix, wanted, log, args.report_log)
    except Error as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return status.USAGE_ERROR


def merge(the_matrix: matrix.Matrix, wanted: list[CellId], log=print, report_log: str | None = None) -> int:
    """Merge the ``wanted`` cells and whatever else results/cells holds into results/matrix.{json,md}; the verdict."""
    rows = report.write_report(wanted, the_matrix)
    text = matrix_table.render(rows)
    write(RESULTS_DIR / "matrix.md", text)
    return verdict(rows, text, log, report_log)


def verdict(rows: list[Row], text: str, log=print, report_log: str | None = None) -> int:
    """Print the table (``text``) and the rows not as expected, write the report log when asked; return the exit
    status. The report's, and `flax-regressions run --here`'s for its one cell."""
    print(text)
    bad = matrix_table.summary_lines(rows)
    code = status.NOT_AS_EXPECTED if bad else status.OK
    if report_log:
        reportlog.write(report_log, rows, code)
    if bad:
        print(f"{len(bad)} of {len(rows)} results not as expected:\n  " + "\n  ".join(bad), file=sys.stderr)
    else:
        log(f"all {len(rows)} results as expected")
    return code


if __name__ == "__main__":
    sys.exit(main(argv=sys.argv[1:]))
