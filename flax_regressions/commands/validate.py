"""Check the matrix (the built-in one, or --cases directories' merged) and its repro modules; build nothing.

    flax-regressions validate [--cases DIR ...]

The detection rules are compiled and checked against the cases' own modules (analysis.scan.selfcheck).
Exit status: 0 and one line naming the files and what they hold, then one line for each case not measured yet (a
repro module no matrix.yaml declares, or a variant with no rules: a run reports these unknown), or 2 with the
one-line problem (file:line: field: what).
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from flax_regressions.analysis.scan import selfcheck
from flax_regressions.catalogue import case_dirs
from flax_regressions.catalogue.model import Matrix
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.paths import packaged
from flax_regressions.core.workspace import Workspace


def add_arguments(parser: Parser) -> None:
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    the_matrix = case_dirs.load(args.cases)
    selfcheck.check(the_matrix, {(Path(d) / "matrix.yaml").resolve(): str(Path(d) / "matrix.yaml") for d in args.cases})
    print(describe(the_matrix, workspace))
    cases = "".join(f" --cases {d}" for d in args.cases)
    for line in unmeasured_lines(the_matrix, workspace, cases):
        print(line)
    return status.OK


def describe(the_matrix: Matrix, workspace: Workspace) -> str:
    files = ", ".join(_file(path, workspace) for path in dict.fromkeys(the_matrix.declared_in.values()))
    return (
        f"{files}: valid: {len(the_matrix.cases)} cases, {len(the_matrix.variants())} variants, "
        f"flax {', '.join(v.version for v in the_matrix.flax)}"
    )


def unmeasured_lines(the_matrix: Matrix, workspace: Workspace, cases: str = "") -> list[str]:
    """One line per case that is not measured yet, naming the file that holds it."""
    lines = []
    for case in the_matrix.cases:
        variants = [v for c, v in the_matrix.unmeasured() if c == case]
        if case in the_matrix.undeclared:
            where, what = workspace.shown(the_matrix.repro_file(case)), "no matrix.yaml declares it"
        elif variants:
            where, what = workspace.shown(the_matrix.declared_in[case]), f"no rules for {', '.join(variants)}"
        else:
            continue
        lines.append(f"{where}: {case}: unmeasured: {what} (bisect {case}{cases} --write measures it)")
    return lines


def _file(path: Path, workspace: Workspace) -> str:
    if packaged(path):
        return "the built-in catalogue"
    return workspace.shown(path) + ("" if path.exists() else " (not written yet: bisect --write writes it)")
