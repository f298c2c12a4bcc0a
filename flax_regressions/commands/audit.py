"""Which known bugs bite at your versions, and what changes if you move: answered from the measured rules, at once.

    flax-regressions audit [--lock FILE | --here | --flax V [--jax J]] [--to V [--jax-to J]] [--cases DIR]
                           [--backend B] [--format text|json] [--output FILE]

No environment is built and nothing runs: each case's rules answer, where a run measured those very versions
(analysis.audit). Without versions, the Flax and JAX installed here, else matrix.yaml's current release. Exit
status, as the gate's: 1 when something gets worse (a bug appears, a workaround breaks), 2 when it cannot tell (a
version not measured: the table says how to measure it) or on bad input, else 0.
"""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

from flax_regressions.analysis import audit, points
from flax_regressions.analysis.audit import CaseVerdict
from flax_regressions.catalogue import case_dirs
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.workspace import Workspace
from flax_regressions.render import audit as render


def add_arguments(parser: Parser) -> None:
    parser.add_versions("--flax", "--jax", "--to", "--jax-to")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="the output (default: text)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the output here, not to stdout")
    parser.add_cases()


def exit_code(verdicts: list[CaseVerdict]) -> int:
    if any(v.kind == "worse" for v in verdicts):
        return status.NOT_AS_EXPECTED
    return status.USAGE_ERROR if any(v.kind == "unknown" for v in verdicts) else status.OK


def run(args: Namespace, workspace: Workspace) -> int:
    the_matrix = case_dirs.load(args.cases)
    before = points.before(the_matrix, args.lock, args.here, args.flax, args.jax, args.backend)
    after = points.after(the_matrix, args.to, args.jax_to, args.backend)
    verdicts = audit.audit(the_matrix, before, after, audit.evidence(the_matrix, workspace))
    code = exit_code(verdicts)
    if args.format == "json":
        text = json.dumps(render.to_json(verdicts, before, after, code, the_matrix.upstream), indent=2) + "\n"
    else:
        text = render.render_text(verdicts, before, after, the_matrix.upstream)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"audit: wrote {args.output}: {render.summary(verdicts)}")
    else:
        print(text, end="")
    return code
