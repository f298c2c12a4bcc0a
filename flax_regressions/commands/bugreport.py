"""A paste-ready upstream bug report for one case on one release: reports/<case>-flax-<V>.md.

    flax-regressions bugreport <case> [--flax V] [--backend B] [--variant bug_...]

A report of a bug that does not reproduce on the release is not one to file: then nothing is written and
the exit status says so (core.status.NOT_AS_EXPECTED), with where the bug was seen failing instead.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Callable

from flax_regressions.analysis.bugreport import ReportError, environment, known
from flax_regressions.analysis.bugreport.script import standalone_script
from flax_regressions.catalogue import case_dirs
from flax_regressions.commands.parser import Parser
from flax_regressions.core.records import Outcome
from flax_regressions.core.status import NOT_AS_EXPECTED, OK
from flax_regressions.core.variant import is_bug
from flax_regressions.core.workspace import Workspace
from flax_regressions.render.bugreport import render
from flax_regressions.render.markdown import write
from flax_regressions.running import cells, envs, registry, specs


def add_arguments(parser: Parser) -> None:
    parser.add_argument("case", help="a case of matrix.yaml (its repro is repro/<case>.py)")
    parser.add_argument("--flax", default="latest", metavar="V", help="the release the report is for (default: latest)")
    parser.add_argument("--backend", default="cpu", help="the JAX backend (default: cpu)")
    parser.add_argument("--variant", default="bug", help="the bug variant to report (default: bug)")
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    """Write the report; print where; return the exit status (core.status)."""
    status, summary = report(args, workspace, log=lambda line: print(f"bugreport: {line}", file=sys.stderr))
    print(f"bugreport: {summary}", file=sys.stderr if status else sys.stdout)
    return status


def report(args: Namespace, workspace: Workspace, log: Callable[[str], None]) -> tuple[int, str]:
    """Write the report; return (exit status, a one-line summary)."""
    the_matrix = case_dirs.load(args.cases)
    if args.case not in the_matrix.cases:
        raise ReportError(f"unknown case {args.case!r} (matrix.yaml has: {', '.join(the_matrix.cases)})")
    variants = the_matrix.cases[args.case]
    if args.variant not in variants or not is_bug(args.variant):
        bugs = [v for v in variants if is_bug(v)]
        raise ReportError(f"{args.case} has no bug variant {args.variant!r} (it has: {', '.join(bugs)})")
    if args.backend not in the_matrix.backends:
        raise ReportError(f"unknown backend {args.backend!r} (matrix.yaml has: {', '.join(the_matrix.backends)})")
    reason = cells.missing_backend(the_matrix, args.backend)
    if reason:
        raise ReportError(f"backend {args.backend}: {reason}")
    flax = registry.resolve(args.flax, the_matrix.python)
    python = envs.ensure(specs.spec_for(the_matrix, flax, args.backend), workspace.envs, log=log)

    module = the_matrix.repro_file(args.case)
    script = standalone_script(module, args.variant)
    script_name = f"repro_{args.case}.py"
    status, output = environment.run_script(workspace, python, script, args.backend, script_name)
    outcomes = known.ensure_outcomes(workspace, the_matrix, args.case, flax, args.backend, log)
    if status == 0:
        where = known.flax_where(outcomes, args.variant, Outcome.FAILED)
        others = [v for v in variants if is_bug(v) and v != args.variant]
        return NOT_AS_EXPECTED, (
            f"{args.case}-{args.variant} does not reproduce on flax {flax} ({args.backend}): the script ran "
            f"without error; recorded as failing on: {', '.join(where) or 'no release'}"
            + (f"; try --variant {' or '.join(others)}" if others else "")
        )
    versions, env_info = environment.system_info(workspace, python, args.backend)
    text = render(
        case=args.case,
        variant=args.variant,
        module=module,
        upstream=the_matrix.upstream.get(args.case, ""),
        versions=versions,
        env_info=env_info,
        script=script,
        script_name=script_name,
        status=status,
        output=output,
        outcomes=outcomes,
        workarounds=known.workarounds(outcomes, flax, versions["jax"]),
        backend=args.backend,
    )
    path = workspace.reports / f"{args.case}{'' if args.variant == 'bug' else '-' + args.variant}-flax-{flax}.md"
    write(path, text, summary=False)
    raised = environment.failure_of(output).exception or "an error"
    return (
        OK,
        f"wrote {workspace.shown(path)}: {args.case}-{args.variant} on flax {flax} ({args.backend}) raises {raised}",
    )
