"""What an upgrade from one release (or JAX) to another breaks.

    flax-regressions gate [--from V] [--to V] [--jax-from J] [--jax-to J] [--backend B] [-k EXPR] [--lock FILE]
                          [--cases DIR]

A JAX upgrade with Flax held: ``--from 0.12.9 --jax-from 0.11.1 --jax-to 0.11.2`` (with a --jax-* option and no
--to, the Flax release stays --from's). Exit status (core.status): 0 the upgrade breaks nothing, 1 a fix breaks or
a bug appears (each named on stderr), 2 no verdict, with a one-line reason. Each gate keeps its verdict (gate.md,
also in the job summary, and gate.json), its cells and their pytest logs in results/gate/<from>-to-<to>/, and
results/gate/latest/ holds a copy of the last one.
"""

from __future__ import annotations

import shutil
import sys
from argparse import Namespace
from dataclasses import replace
from datetime import UTC, datetime

from flax_regressions.analysis import gate
from flax_regressions.analysis.verdict import Verdict
from flax_regressions.catalogue import case_dirs
from flax_regressions.commands.parser import Parser
from flax_regressions.core.errors import Error
from flax_regressions.core.files import write_json
from flax_regressions.core.workspace import Workspace
from flax_regressions.render import gate as gate_markdown
from flax_regressions.render.markdown import write
from flax_regressions.running import locks

LATEST = "latest"


def add_arguments(parser: Parser) -> None:
    parser.add_argument(
        "--from",
        dest="before",
        default="current",
        metavar="V",
        help="the release upgraded from (default: current, the one matrix.yaml marks, or the one --lock pins)",
    )
    parser.add_argument(
        "--to",
        dest="after",
        default=None,
        metavar="V",
        help="the release upgraded to (default: latest; with --jax-from/--jax-to: the --from release)",
    )
    parser.add_argument(
        "--jax-from",
        dest="jax_before",
        metavar="J",
        help="pin this JAX release on the --from side (default: the one the release shipped with)",
    )
    parser.add_argument(
        "--jax-to",
        dest="jax_after",
        metavar="J",
        help="pin this JAX release on the --to side (default: the one the release shipped with)",
    )
    parser.add_argument("--backend", default="cpu", help="the JAX backend both cells run on (default: cpu)")
    parser.add_argument(
        "-k", dest="keyword", metavar="EXPR", help="only the variants pytest -k selects (ids read <case>-<variant>)"
    )
    parser.add_argument(
        "--lock",
        metavar="FILE",
        help="build both sides from this lock's pins, Flax replaced by each "
        "side's release (requirements.txt, pylock.toml or uv.lock)",
    )
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    """Run the gate; write and print the verdict; return its exit status. With no verdict, the verdict documents
    say why before the error is raised on (the command line says it once)."""
    when = datetime.now(UTC).isoformat(timespec="seconds")
    before, after = args.before, args.after or ("latest" if not (args.jax_before or args.jax_after) else None)
    try:
        the_matrix = case_dirs.load(args.cases)
        lock = locks.read(args.lock, the_matrix.python) if args.lock else None
        for note in lock.notes if lock else ():
            print(f"gate: {note}", file=sys.stderr)
        if lock and before == "current" and lock.version("flax"):
            before = lock.version("flax")  # the release the team runs is the one its lock pins
        after = after or before
        name, verdict = gate.gate(
            workspace,
            the_matrix,
            before,
            after,
            args.backend,
            args.keyword,
            args.jax_before,
            args.jax_after,
            lock,
            log=lambda line: print(f"gate: {line}", file=sys.stderr),
        )
        verdict = replace(verdict, when=when)
    except Error as exc:
        publish(workspace, None, Verdict.error(str(exc), before, after, args.backend, when, args.lock))
        raise
    publish(workspace, name, verdict)
    for line in gate_markdown.breaking_lines(verdict):
        print(f"gate: {line}", file=sys.stderr)
    return verdict.exit_code


def publish(workspace: Workspace, name: str | None, verdict: Verdict) -> None:
    """The verdict as gate.json and gate.md (and the job summary) in the gate's directory, that directory copied to
    results/gate/latest/, and the Markdown printed. A gate with no verdict has no directory: latest/ alone says why."""
    latest = workspace.gate / LATEST
    shutil.rmtree(latest, ignore_errors=True)
    directory = workspace.gate / name if name else latest
    markdown = gate_markdown.render(verdict)
    write_json(directory / "gate.json", verdict.to_json())
    write(directory / "gate.md", markdown)
    if name:
        shutil.copytree(directory, latest)
    print(markdown)
