"""Check the matrix (the built-in one, or --cases directories' merged) and its repro modules; build nothing.

    flax-regressions validate [--cases DIR ...]

Exit status: 0 and one line naming the files and what they hold, or 2 with the one-line problem
(file:line: field: what).
"""

from __future__ import annotations

from argparse import Namespace

from flax_regressions.catalogue import case_dirs
from flax_regressions.catalogue.model import Matrix
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.workspace import Workspace


def add_arguments(parser: Parser) -> None:
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    print(describe(case_dirs.load(args.cases), workspace))
    return status.OK


def describe(the_matrix: Matrix, workspace: Workspace) -> str:
    files = ", ".join(workspace.shown(path) for path in dict.fromkeys(the_matrix.declared_in.values()))
    return (
        f"{files}: valid: {len(the_matrix.cases)} cases, {len(the_matrix.variants())} variants, "
        f"flax {', '.join(v.version for v in the_matrix.flax)}"
    )
