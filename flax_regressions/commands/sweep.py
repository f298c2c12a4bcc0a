"""Every case on every Flax release in a range.

    nox -s sweep -- [--between A B] [--resume] [-j N]

Writes results/sweep/matrix.{md,json}. Exit status: 0 when every cell is as expected, 1 when one is not,
2 with a one-line reason on a usage or environment error.
"""

from __future__ import annotations

import sys
import time

from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.render import matrix_table
from flax_regressions.render.markdown import write
from flax_regressions.spec import cases, matrix, releases
from flax_regressions.tools import report
from flax_regressions.tools.sweep import SWEEP_DIR, sweep


def parse_args(argv: list[str]):
    parser = Parser("sweep", description="Run every case on every Flax release in a range.")
    parser.add_argument("--between", nargs=2, metavar=("A", "B"),
                        help="the first and last Flax release (default: the oldest matrix.yaml covers, and latest)")
    parser.add_argument("--resume", action="store_true", help="keep the cells an earlier sweep completed; run the rest")
    parser.add_argument("-j", "--jobs", type=int, default=2, metavar="N", help="cells run at once (default: 2)")
    parser.add_cases()
    return parser.parse_args(argv)


def main(argv: list[str], the_matrix: matrix.Matrix | None = None, log=print) -> int:
    args = parse_args(argv)
    try:
        the_matrix = the_matrix or cases.load(args.cases)
        first, last = args.between or (the_matrix.oldest_release() or releases.releases(the_matrix.python)[0], "latest")
        versions = releases.between(the_matrix.python, first, last)
    except Error as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return status.USAGE_ERROR
    start = time.monotonic()
    if args.jobs < 1:
        print(f"sweep: error: --jobs {args.jobs}: give at least 1", file=sys.stderr)
        return status.USAGE_ERROR
    rows = sweep(the_matrix, versions, args.resume, log, args.jobs)
    text = matrix_table.render(rows)
    write(SWEEP_DIR / "matrix.md", text, summary=False)
    print(text)
    bad = report.not_as_expected(rows)
    log(f"sweep: {len(rows) - len(bad)} of {len(rows)} results as expected on {len(versions)} Flax releases "
        f"{versions[0]} .. {versions[-1]} ({time.monotonic() - start:.0f}s)")
    return status.NOT_AS_EXPECTED if bad else status.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
