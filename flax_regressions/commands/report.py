"""Merge the cells into results/matrix.{json,md} and give the verdict.

    python -m flax_regressions.commands.report [--report-log FILE]     (or: nox -s report -- ...)

Exit status: 0 when every cell of the default matrix is as matrix.yaml expects, 1 when one is not (each
named on stderr), 2 on a broken matrix.yaml. ``--report-log FILE`` also writes every row as a pytest report
log (render.reportlog), which the issue-from-pytest-log action turns into one issue kept up to date.
"""

from __future__ import annotations

import sys

from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.merged import Row
from flax_regressions.core.paths import RESULTS_DIR
from flax_regressions.core.results import CellId
from flax_regressions.render import matrix_table, reportlog
from flax_regressions.render.markdown import write
from flax_regressions.spec import cases, matrix
from flax_regressions.tools import report


def main(the_matrix: matrix.Matrix | None = None, log=print, argv: list[str] | None = None,
         wanted: list[CellId] | None = None) -> int:
    """Merge the ``wanted`` cells (default: the matrix's default ones) and whatever else results/cells holds."""
    parser = Parser("report", description="Merge the cells into results/matrix.{json,md}.")
    parser.add_argument("--report-log", metavar="FILE", help="also write every row as a pytest report log (JSON lines)")
    parser.add_cases()
    args, _ = parser.parse_known_args(argv or [])  # `nox -- ARGS` hands the cells' pytest arguments to this session too
    try:
        the_matrix = the_matrix or cases.load(args.cases)
    except matrix.MatrixError as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return status.USAGE_ERROR
    rows = report.write_report(wanted or report.default_cells(the_matrix), the_matrix)
    text = matrix_table.render(rows)
    write(RESULTS_DIR / "matrix.md", text)
    return verdict(rows, text, log, args.report_log)


def verdict(rows: list[Row], text: str, log=print, report_log: str | None = None) -> int:
    """Print the table (``text``) and the rows not as expected, write the report log when asked; return the exit
    status. The report's, and `flax-regressions run --here`'s for its one cell."""
    print(text)
    bad = matrix_table.summary_lines(rows)
    code = status.NOT_AS_EXPECTED if bad else status.OK
    if report_log:
        reportlog.write(report_log, rows, code)
    if bad:
        print(f"{len(bad)} cells not as expected:\n  " + "\n  ".join(bad), file=sys.stderr)
    else:
        log(f"all {len(rows)} cells as expected")
    return code


if __name__ == "__main__":
    sys.exit(main(argv=sys.argv[1:]))
