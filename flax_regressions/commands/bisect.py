"""Where a case's variants change: the Flax releases (and JAX's, where JAX decides), and the rules that say so.

    flax-regressions bisect <case> [--variant V] [--between A B] [--probe V] [--write] [--fresh] [--markdown]
    flax-regressions bisect <case> --flax V --jax-between A B [--write]        (JAX bisected, Flax held at V)

A probe is one cell run of the case's tests (analysis.bisect.prober), remembered in results/bisect/<case>/probes.json:
running again, or again with --write, costs no cell runs. Without --write the rules the history gives are printed as
matrix.yaml text; --write writes them into the matrix.yaml that declares the case (yours with --cases, or the
built-in one of a checkout), keeping its comments, layout and other keys, and declares a case whose module is not
in it yet (catalogue.edit). The built-in catalogue inside an installed package is never written. Exit status: 0, or
2 with a one-line reason on a usage or environment error.
"""

from __future__ import annotations

import difflib
import time
from argparse import Namespace
from functools import partial
from pathlib import Path

from packaging.version import Version

from flax_regressions.analysis.bisect.history import History, analyse, analyse_jax
from flax_regressions.analysis.bisect.prober import BisectError, Prober
from flax_regressions.analysis.sweep import record
from flax_regressions.catalogue import case_dirs, edit, new_case
from flax_regressions.catalogue.measured import RuleDict, already_said, jax_rules_for, rules_for
from flax_regressions.catalogue.model import Matrix, MatrixError
from flax_regressions.commands.parser import Parser
from flax_regressions.core.paths import packaged
from flax_regressions.core.results import load_cells
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
    parser.add_argument("--flax", metavar="V", help="with --jax-between: the Flax release held while JAX is bisected")
    parser.add_argument("--jax-between", nargs=2, metavar=("A", "B"), help="bisect these JAX releases, Flax held")
    parser.add_argument(
        "--write",
        action="store_true",
        help="write the rules into the matrix.yaml that declares the case (declaring it if needed)",
    )
    parser.add_argument("--fresh", action="store_true", help="forget remembered runs: run every probe again")
    parser.add_argument("--markdown", action="store_true", help="also print the history as Markdown table rows")
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    the_matrix = case_dirs.load(args.cases)
    if args.case not in the_matrix.cases:
        raise BisectError(f"unknown case {args.case!r} (matrix.yaml has: {', '.join(the_matrix.cases)})")
    variants = args.variant or list(the_matrix.cases[args.case])
    unknown = [v for v in variants if v not in the_matrix.cases[args.case]]
    if unknown:
        raise BisectError(
            f"{args.case} has no variant {unknown[0]!r} (it has: {', '.join(the_matrix.cases[args.case])})"
        )
    if new_case.unwritten(the_matrix.repro_file(args.case)):
        raise BisectError(f"{the_matrix.repro_file(args.case)} has a variant still as `new` wrote it: write it first")
    if bool(args.flax) != bool(args.jax_between):
        raise BisectError("--flax and --jax-between go together: the Flax release held, the JAX releases bisected")
    if args.write:
        writable(the_matrix, args.case)
    prober = Prober(workspace, the_matrix, args.case, workspace.bisect / args.case, log=print, fresh=args.fresh)
    start = time.monotonic()
    history = (
        jax_history(the_matrix, args, variants, prober)
        if args.flax
        else flax_history(the_matrix, args, variants, prober)
    )
    cost = prober.cost
    print(
        f"{args.case}: {cost['runs']:.0f} cell runs ({cost['built']:.0f} environments built), "
        f"{cost['remembered']:.0f} answered from remembered runs; {time.monotonic() - start:.0f}s in all "
        f"({cost['seconds']:.0f}s running cells)"
    )
    print("\n".join(report_lines(history, args.markdown)))
    edits = measured_rules(the_matrix, history)
    if args.write:
        return write(the_matrix, args.case, edits, workspace)
    print(
        f"\nThe rules this measures (bisect {args.case} --write writes them into "
        f"{the_matrix.declared_in[args.case].name}):\n"
    )
    print(rules_yaml(args.case, edits))
    return OK


def flax_history(the_matrix: Matrix, args: Namespace, variants: list[str], prober: Prober) -> History:
    first, last = args.between or (the_matrix.oldest_release() or registry.releases(the_matrix.python)[0], "latest")
    versions = registry.between(the_matrix.python, first, last)
    latest = registry.resolve("latest", the_matrix.python)
    if args.write and versions[-1] != latest:
        raise BisectError(
            f"--write needs the range to end at the latest release ({latest}), not {versions[-1]}: "
            "later releases would lose their expectations"
        )
    if len(versions) < 2:
        raise BisectError(f"nothing to bisect: {len(versions)} release(s) between {first} and {last}")
    seeds = [registry.resolve(v, the_matrix.python) for v in [v.version for v in the_matrix.flax] + args.probe]
    return analyse(
        the_matrix, args.case, variants, versions, prober, [s for s in dict.fromkeys(seeds) if s in versions], print
    )


def jax_history(the_matrix: Matrix, args: Namespace, variants: list[str], prober: Prober) -> History:
    flax = registry.resolve(args.flax, the_matrix.python)
    first, last = args.jax_between
    known = registry.releases(the_matrix.python, "jax")
    for given in (first, last):
        if given not in known:
            raise BisectError(f"jax {given} is not a release on the registry for Python {the_matrix.python}")
    versions = [j for j in known if Version(first) <= Version(j) <= Version(last)]
    if len(versions) < 2:
        raise BisectError(f"nothing to bisect: {len(versions)} JAX release(s) between {first} and {last}")
    return analyse_jax(args.case, variants, flax, versions, prober, print)


def measured_rules(the_matrix: Matrix, history: History) -> dict[tuple[str, str], list[RuleDict]]:
    """Each bisected variant's rules, from its segments and its present rules (what a person wrote is kept)."""
    old = the_matrix.cases[history.case]
    if history.flax:
        edits = {}
        for v in history.variants:
            firsts = [history.versions.index(s.first) for s in history.segments[v]]
            spans = [history.versions[a:b] for a, b in zip(firsts, [*firsts[1:], len(history.versions)], strict=True)]
            if already_said(old[v], history.flax, history.segments[v], spans, "cpu"):
                print(f"{history.case}-{v}: matrix.yaml already says what was measured with flax {history.flax}")
            else:
                edits[history.case, v] = jax_rules_for(v, history.flax, history.segments[v], old[v])
        return edits
    return {(history.case, v): rules_for(v, history.segments[v], old[v]) for v in history.variants}


def rules_yaml(case: str, edits: dict[tuple[str, str], list[RuleDict]]) -> str:
    """The rules as matrix.yaml text: the case's variants, ready to paste under ``cases:``."""
    lines = [f"  {case}:", "    variants:"]
    for (_, variant), rules in edits.items():
        lines += [f"      {variant}:", edit.rules_text(rules, 8)]
    return "\n".join(lines)


def writable(the_matrix: Matrix, case: str) -> None:
    """--write edits the matrix.yaml that declares the case: never the built-in catalogue inside an installed
    package (a copy of the case in your own cases directory is yours to write)."""
    declared = the_matrix.declared_in[case]
    if packaged(declared):
        raise BisectError(
            f"--write does not edit the built-in catalogue inside the installed package ({declared}): "
            f"copy repro/{case}.py into a cases directory of your own, with `include: builtin` in its "
            "matrix.yaml, and bisect it there"
        )


def write(the_matrix: Matrix, case: str, edits: dict[tuple[str, str], list[RuleDict]], workspace: Workspace) -> int:
    """Write the rules into the declaring matrix.yaml (validated as it will be read); print the diff; record the
    probes' runs in the measured history beside it (catalogue.history)."""
    path = the_matrix.declared_in[case]
    declared = {case: the_matrix.upstream.get(case, "")} if case in the_matrix.undeclared else {}
    before = path.read_text() if path.exists() else ""
    try:
        after = edit.write(path, edits, partial(case_dirs.read_one, shown=str(path)), declared)
    except (ValueError, MatrixError) as exc:
        raise BisectError(f"not written: {exc}") from None
    name = str(Path(path).name)
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), name, name, lineterm=""))
    print("\n".join(diff) if diff else f"{name} already says this: unchanged")
    record(the_matrix, list(load_cells(workspace.bisect / case / "cells")[0].values()), workspace, print)
    return OK
