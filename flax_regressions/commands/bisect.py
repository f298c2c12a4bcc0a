"""Where a case's variants changed: the Flax releases (and the JAX releases, where JAX decides) of each change.

    flax-regressions bisect <case> [--variant V] [--between A B] [--write] [--fresh] [--markdown]

A probe is one cell run of the case's tests (analysis.bisect.prober), remembered in
results/bisect/<case>/probes.json: running again, or again with --write, costs no cell runs. --write
turns the history into matrix.yaml rules (catalogue.edit). Exit status: 0, or 2 with a one-line reason
on a usage or environment error.
"""

from __future__ import annotations

import difflib
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from flax_regressions.analysis.bisect.history import History, analyse
from flax_regressions.analysis.bisect.prober import BisectError, Prober
from flax_regressions.catalogue import case_dirs, edit
from flax_regressions.catalogue.model import Matrix, MatrixError
from flax_regressions.commands.parser import Parser
from flax_regressions.core.paths import builtin_matrix, packaged
from flax_regressions.core.status import OK
from flax_regressions.core.workspace import Workspace
from flax_regressions.render.bisect import report_lines
from flax_regressions.running import registry


def add_arguments(parser: Parser) -> None:
    parser.add_argument("case")
    parser.add_argument(
        "--variant", action="append", metavar="V", help="only this variant (repeatable; default: all the case's)"
    )
    parser.add_argument(
        "--between",
        nargs=2,
        metavar=("A", "B"),
        help="the first and last Flax release (default: the oldest matrix.yaml covers, and latest)",
    )
    parser.add_argument(
        "--probe",
        action="append",
        default=[],
        metavar="V",
        help="also probe this release first (repeatable): a behaviour that comes and goes between two "
        "probed releases is otherwise missed",
    )
    parser.add_argument(
        "--write", action="store_true", help="rewrite the variants' rules in matrix.yaml from the result"
    )
    parser.add_argument("--fresh", action="store_true", help="forget remembered runs: run every probe again")
    parser.add_argument("--markdown", action="store_true", help="also print the history as Markdown table rows")
    parser.add_cases()


def run(args: Namespace, workspace: Workspace, log: Callable[[str], None] = print) -> int:
    the_matrix = case_dirs.load(args.cases)
    if args.case not in the_matrix.cases:
        raise BisectError(f"unknown case {args.case!r} (matrix.yaml has: {', '.join(the_matrix.cases)})")
    variants = args.variant or list(the_matrix.cases[args.case])
    unknown = [v for v in variants if v not in the_matrix.cases[args.case]]
    if unknown:
        raise BisectError(
            f"{args.case} has no variant {unknown[0]!r} (it has: {', '.join(the_matrix.cases[args.case])})"
        )
    first, last = args.between or (the_matrix.oldest_release() or registry.releases(the_matrix.python)[0], "latest")
    versions = registry.between(the_matrix.python, first, last)
    latest = registry.resolve("latest", the_matrix.python)
    if args.write:
        writable(the_matrix, args.case)
    if args.write and versions[-1] != latest:
        raise BisectError(
            f"--write needs the range to end at the latest release ({latest}), not {versions[-1]}: "
            "later releases would lose their expectations"
        )
    if len(versions) < 2:
        raise BisectError(f"nothing to bisect: {len(versions)} release(s) between {first} and {last}")
    seeds = [registry.resolve(v, the_matrix.python) for v in [v.version for v in the_matrix.flax] + args.probe]
    seeds = [s for s in dict.fromkeys(seeds) if s in versions]
    prober = Prober(workspace, the_matrix, args.case, workspace.bisect / args.case, log=log, fresh=args.fresh)
    start = time.monotonic()
    history = analyse(the_matrix, args.case, variants, versions, prober, seeds, log)
    cost = prober.cost
    log(
        f"{args.case}: {cost['runs']} cell runs ({cost['built']} environments built), "
        f"{cost['remembered']} answered from "
        f"remembered runs; {time.monotonic() - start:.0f}s in all ({cost['seconds']:.0f}s running cells)"
    )
    print("\n".join(report_lines(history, args.markdown)))
    if args.write:
        return write(the_matrix, history, the_matrix.declared_in[args.case])
    return OK


def writable(the_matrix: Matrix, case: str) -> None:
    """--write edits the built-in matrix.yaml of a checkout: not the copy inside an installed package, nor (yet) a
    --cases directory's matrix (print the history and copy its rules there by hand)."""
    declared = the_matrix.declared_in[case]
    if packaged(declared) or declared != builtin_matrix():
        raise BisectError(
            f"--write edits the built-in matrix.yaml of a checkout, not {declared}: "
            "run without --write and copy the rules it prints"
        )


def write(the_matrix: Matrix, history: History, path: Path) -> int:
    """Rewrite the bisected variants' rules in matrix.yaml (validated first); print the diff."""
    edits = {}
    for v in history.variants:
        edits[history.case, v] = edit.rules_for(v, history.segments[v], the_matrix.cases[history.case][v])
    before = path.read_text()
    try:
        after = edit.write(path, edits)
    except (ValueError, MatrixError) as exc:
        raise BisectError(f"not written: {exc}") from None
    diff = list(
        difflib.unified_diff(before.splitlines(), after.splitlines(), "matrix.yaml", "matrix.yaml", lineterm="")
    )
    print("\n".join(diff) if diff else "matrix.yaml already says this: unchanged")
    return OK
