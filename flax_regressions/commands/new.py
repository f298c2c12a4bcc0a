"""Start a case: write its repro module from the template and declare it, not measured yet, in matrix.yaml.

    flax-regressions new <case> [--cases DIR] [--upstream OWNER/REPO#N]

Writes DIR/repro/<case>.py (the house format: catalogue.new_case) and declares the case with its variants and no
rules in DIR/matrix.yaml, which is created, saying ``include: builtin``, when absent. Without --cases, the built-in
catalogue of a checkout (never the one inside an installed package). A case id that exists is refused. Then: write
bug() and fix(), and ``bisect <case> --write`` measures them. Exit status: 0, or 2 with a one-line reason.
"""

from __future__ import annotations

from argparse import Namespace
from functools import partial
from pathlib import Path

from flax_regressions.catalogue import case_dirs, edit, new_case, repro_modules
from flax_regressions.commands.parser import Parser
from flax_regressions.core.errors import Error
from flax_regressions.core.paths import builtin_matrix, packaged
from flax_regressions.core.status import OK
from flax_regressions.core.workspace import Workspace


class NewCaseError(Error):
    """The case cannot be started: a bad id, one that exists, or nowhere to write it."""


def add_arguments(parser: Parser) -> None:
    parser.add_argument("case", help="the case id: a Python identifier, the module's name")
    parser.add_argument(
        "--cases", type=Path, metavar="DIR", help="your cases directory (default: a checkout's built-in catalogue)"
    )
    parser.add_argument(
        "--upstream", default="", metavar="OWNER/REPO#N", help="the upstream issue, e.g. google/flax#4590"
    )


def run(args: Namespace, workspace: Workspace) -> int:
    problem = repro_modules.id_problem(args.case)
    if problem:
        raise NewCaseError(f"{args.case!r}: {problem}")
    if args.upstream and not new_case.UPSTREAM.match(args.upstream):
        raise NewCaseError(f"--upstream {args.upstream!r}: write it owner/repo#number, e.g. google/flax#4590")
    matrix_file = args.cases / "matrix.yaml" if args.cases else builtin_matrix()
    if packaged(matrix_file):
        raise NewCaseError("the built-in catalogue inside the installed package is not edited: give --cases DIR")
    shown = str(args.cases / "matrix.yaml") if args.cases else workspace.shown(matrix_file)
    existing = case_dirs.load([args.cases]) if args.cases and _started(args.cases) else case_dirs.load()
    if args.case in existing.cases:
        raise NewCaseError(f"case {args.case!r} exists (in {workspace.shown(existing.declared_in[args.case])})")
    module = matrix_file.parent / "repro" / f"{args.case}.py"
    if module.exists():
        raise NewCaseError(f"{workspace.shown(module)} exists")
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(new_case.module_text(args.case, args.upstream))
    try:
        edit.write(
            matrix_file,
            {(args.case, "bug"): [], (args.case, "fix"): []},
            partial(case_dirs.read_one, shown=shown),
            {args.case: args.upstream},
        )
    except Exception:
        module.unlink()  # nothing half-made is left behind
        raise
    print(f"wrote {workspace.shown(module)}; declared {args.case} (bug, fix: not measured yet) in {shown}")
    where = f" --cases {args.cases}" if args.cases else ""
    print(f"next: write bug() and fix(), then `flax-regressions bisect {args.case}{where} --write` measures them")
    return OK


def _started(directory: Path) -> bool:
    """Whether the cases directory has a matrix or modules to read yet."""
    return (directory / "matrix.yaml").exists() or (directory / "repro").is_dir()
