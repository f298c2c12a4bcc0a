"""Every case on every Flax release in a range.

    flax-regressions sweep [--between A B] [--resume] [-j N] [--write] [--cases DIR]

Writes results/sweep/matrix.{md,json}; with --write, what each cell measured into the history beside each
matrix.yaml it read (catalogue.history: the evidence audit and scan answer from; never inside an installed package).
Exit status: 0 when every result is as expected, 1 when one is not,
2 with a one-line reason on a usage or environment error.
"""

from __future__ import annotations

import time
from argparse import Namespace

from flax_regressions.analysis import report
from flax_regressions.analysis.sweep import record, sweep
from flax_regressions.catalogue import case_dirs
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.core.results import load_cells
from flax_regressions.core.workspace import Workspace
from flax_regressions.render import matrix_table
from flax_regressions.render.markdown import write
from flax_regressions.running import registry
from flax_regressions.running.side_by_side import JOBS


def add_arguments(parser: Parser) -> None:
    parser.add_argument(
        "--between",
        nargs=2,
        metavar=("A", "B"),
        help="the first and last Flax release (default: the oldest matrix.yaml covers, and latest)",
    )
    parser.add_argument("--resume", action="store_true", help="keep the cells an earlier sweep completed; run the rest")
    parser.add_argument(
        "-j", "--jobs", type=int, default=JOBS, metavar="N", help=f"cells run at once (default: {JOBS})"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="record what every cell measured as the catalogue's history (history.json beside each matrix.yaml)",
    )
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    if args.jobs < 1:
        raise Error(f"--jobs {args.jobs}: give at least 1")
    the_matrix = case_dirs.load(args.cases)
    first, last = args.between or (the_matrix.oldest_release() or registry.releases(the_matrix.python)[0], "latest")
    versions = registry.between(the_matrix.python, first, last)
    start = time.monotonic()
    rows = sweep(workspace, the_matrix, versions, args.resume, print, args.jobs)
    text = matrix_table.render(rows)
    write(workspace.sweep / "matrix.md", text, summary=False)
    print(text)
    if args.write:
        record(the_matrix, list(load_cells(workspace.sweep / "cells")[0].values()), workspace, print)
    bad = report.not_as_expected(rows)
    print(
        f"sweep: {len(rows) - len(bad)} of {len(rows)} results as expected on {len(versions)} Flax releases "
        f"{versions[0]} .. {versions[-1]} ({time.monotonic() - start:.0f}s)"
    )
    return status.NOT_AS_EXPECTED if bad else status.OK
