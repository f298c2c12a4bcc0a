"""The upgrade gate's command line: what moving from one Flax release to another breaks.

    python -m flax_regressions.commands.gate [--from V] [--to V] [--jax-from J] [--jax-to J] [--backend B] [-k EXPR]
                                             [--lock FILE] [--cases DIR]    (or: nox -s gate -- ...)

A JAX upgrade with Flax held: ``--from 0.12.9 --jax-from 0.11.1 --jax-to 0.11.2`` (with a --jax-* option and no
--to, the Flax release stays --from's).

Exit status (core.status): 0 the upgrade breaks nothing, 1 a fix breaks or a bug appears (each named on
stderr), 2 no verdict, with a one-line reason. The verdict goes to results/gate/gate.md (and the job
summary) and results/gate/gate.json; both cells keep their results and pytest logs under results/gate/.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.core.files import write_json
from flax_regressions.render import gate as gate_markdown
from flax_regressions.render.markdown import write
from flax_regressions.running import locks
from flax_regressions.spec import cases
from flax_regressions.tools import gate


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser("gate", description="Compare two Flax releases: what does the upgrade break?")
    parser.add_argument("--from", dest="before", default="current", metavar="V",
                        help="the release upgraded from (default: current, the one matrix.yaml marks, or the "
                             "one --lock pins)")
    parser.add_argument("--to", dest="after", default=None, metavar="V",
                        help="the release upgraded to (default: latest; with --jax-from/--jax-to: the --from release)")
    parser.add_argument("--jax-from", dest="jax_before", metavar="J",
                        help="pin this JAX release on the --from side (default: the one the release shipped with)")
    parser.add_argument("--jax-to", dest="jax_after", metavar="J",
                        help="pin this JAX release on the --to side (default: the one the release shipped with)")
    parser.add_argument("--backend", default="cpu", help="the JAX backend both cells run on (default: cpu)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="only the variants pytest -k selects (ids read <case>-<variant>)")
    parser.add_argument("--lock", metavar="FILE", help="build both sides from this lock's pins, Flax replaced by each "
                                                        "side's release (requirements.txt, pylock.toml or uv.lock)")
    parser.add_cases()
    args = parser.parse_args(argv)
    if args.after is None and not (args.jax_before or args.jax_after):
        args.after = "latest"  # with a JAX pin and no --to, Flax stays at --from's release (main)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the gate; print the verdict; return the exit status."""
    args = parse_args(argv)
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        the_matrix = cases.load(args.cases)
        lock = locks.read(args.lock, the_matrix.python) if args.lock else None
        if lock and args.before == "current" and lock.version("flax"):
            args.before = lock.version("flax")  # the release the team runs is the one its lock pins
        args.after = args.after or args.before
        verdict = gate.gate(the_matrix, args.before, args.after, args.backend, args.keyword,
                            args.jax_before, args.jax_after, lock)
    except Error as exc:
        verdict = {"exit_code": status.USAGE_ERROR, "verdict": "error", "reason": str(exc), "breaking": 0,
                   "changes": [], "unchanged": [], "not_compared": [],
                   "from": {"requested": args.before}, "to": {"requested": args.after}}
    verdict.update(backend=args.backend, when=when, lock=args.lock)
    markdown = gate_markdown.render(verdict)
    write_json(gate.GATE_DIR / "gate.json", verdict)
    write(gate.GATE_DIR / "gate.md", markdown)
    print(markdown)
    if verdict["exit_code"] == status.USAGE_ERROR:
        print(f"gate: error: {verdict['reason']}", file=sys.stderr)
    for change in verdict["changes"]:
        if change["breaking"]:
            print(f"gate: {change['case']}-{change['variant']}: {gate.CHANGES[change['change']][2]} on "
                  f"{gate_markdown.where(verdict)} ({gate_markdown.what(change['after'])})"
                  f"{gate_markdown.cause_text(verdict, change)}", file=sys.stderr)
    return verdict["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
