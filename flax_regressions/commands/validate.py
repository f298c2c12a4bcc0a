"""Check a matrix (the built-in one, or --cases directories' merged) and the repro modules it names; build nothing.

    flax-regressions validate [--cases DIR ...]        (or: nox -s validate)

Exit status: 0 and one line saying what the matrix holds, or 2 with the one-line problem (file:line: field: what).
"""

from __future__ import annotations

import sys

from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.spec import cases
from flax_regressions.spec.model import Matrix


def describe(the_matrix: Matrix) -> str:
    return (f"matrix.yaml is valid: {len(the_matrix.cases)} cases, {len(the_matrix.variants())} variants, "
            f"flax {', '.join(v.version for v in the_matrix.flax)}")


def main(argv: list[str] | None = None, log=print) -> int:
    parser = Parser("validate", description="Check the matrix and its repro modules; build nothing.")
    parser.add_cases()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        the_matrix = cases.load(args.cases)
    except Error as exc:
        print(f"validate: error: {exc}", file=sys.stderr)
        return status.USAGE_ERROR
    log(describe(the_matrix))
    return status.OK


if __name__ == "__main__":
    sys.exit(main())
