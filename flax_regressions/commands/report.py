"""Merge the cells into results/matrix.{json,md} and give the verdict.

    python -m flax_regressions.commands.report          (or: nox -s report)

Exit status: 0 when every cell of the default matrix is as matrix.yaml expects, 1 when one is not (each
named on stderr), 2 on a broken matrix.yaml.
"""

from __future__ import annotations

import sys

from flax_regressions.core import status
from flax_regressions.core.paths import RESULTS_DIR
from flax_regressions.render import matrix_table
from flax_regressions.render.markdown import write
from flax_regressions.spec import matrix
from flax_regressions.tools import report


def main(the_matrix: matrix.Matrix | None = None, log=print) -> int:
    try:
        the_matrix = the_matrix or matrix.load()
    except matrix.MatrixError as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return status.USAGE_ERROR
    rows = report.write_report(report.default_cells(the_matrix), the_matrix)
    text = matrix_table.render(rows)
    write(RESULTS_DIR / "matrix.md", text)
    print(text)
    bad = matrix_table.summary_lines(rows)
    if bad:
        print(f"{len(bad)} cells not as expected:\n  " + "\n  ".join(bad), file=sys.stderr)
        return status.NOT_AS_EXPECTED
    log(f"all {len(rows)} cells as expected")
    return status.OK


if __name__ == "__main__":
    sys.exit(main())
