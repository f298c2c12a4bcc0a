"""Your own lines that hit a catalogue case, each with what happens to it across the upgrade and its workaround.

    flax-regressions scan [PATH ...] [--from V | --lock FILE | --here] [--to V] [--jax-from J] [--jax-to J]
                          [--select CASE,...] [--ignore CASE,...] [--cases DIR] [--format text|json|sarif]
                          [--output FILE] [--diff | --fix]

Finds every call site a case's detection rules match (analysis.scan) and says, from the measured rules, what
happens to that case between the two releases (analysis.audit). Without versions: --from is the lock's, else the
Flax installed here, else matrix.yaml's current; --to the newest release measured (no network). Hits whose case
is fine on both sides are not listed. ``# flax-regressions: ignore[case]`` on a line silences it there; excludes go
in ``[tool.flax-regressions] exclude`` of pyproject.toml; .gitignored files are skipped. --diff shows and --fix
applies the rewrites of the cases that have one (each works on every measured release). Exit status: 1 when a hit's
case gets worse or bites at --to, 2 when one cannot be told (not measured) or on bad input, else 0.
"""

from __future__ import annotations

import difflib
import json
import sys
from argparse import Namespace
from pathlib import Path

from flax_regressions.analysis import audit, points
from flax_regressions.analysis.scan import engine, files
from flax_regressions.catalogue import case_dirs
from flax_regressions.catalogue.model import upstream_url
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.core.workspace import Workspace
from flax_regressions.render import scan as render

SHOWN = ("worse", "bites", "unknown", "better")  # the verdicts a hit is listed with


def add_arguments(parser: Parser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or directories (default: .)")
    parser.add_versions("--from", "--jax-from", "--to", "--jax-to")
    parser.add_argument("--select", metavar="CASE,...", help="only these cases")
    parser.add_argument("--ignore", metavar="CASE,...", help="not these cases")
    parser.add_argument("--format", choices=("text", "json", "sarif"), default="text", help="(default: text)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the hits here, not to stdout")
    fixing = parser.add_mutually_exclusive_group()
    fixing.add_argument("--diff", action="store_true", help="show the rewrites as a diff; change nothing")
    fixing.add_argument("--fix", action="store_true", help="apply the rewrites in place")
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    the_matrix = case_dirs.load(args.cases)
    detections = {c: d for c, d in the_matrix.detection.items() if d.none is None}
    for option in ("select", "ignore"):
        named = [c.strip() for c in (getattr(args, option) or "").split(",") if c.strip()]
        unknown = [c for c in named if c not in the_matrix.cases]
        if unknown:
            raise Error(f"--{option}: no case {unknown[0]!r} in the catalogue")
        if named:
            detections = {c: d for c, d in detections.items() if (c in named) == (option == "select")}
    if not detections:
        raise Error("no case left with detection rules to scan for (see --select, --ignore)")
    cells = audit.evidence(the_matrix, workspace)
    before = points.before(the_matrix, args.lock, args.here, args.flax, args.jax, args.backend)
    to = args.to or audit.newest_measured(cells, args.backend) or "latest"
    after = points.after(the_matrix, to, args.jax_to, args.backend)
    cwd = Path.cwd()
    paths = files.python_files(args.paths or [Path(".")], cwd)
    if not paths:
        shown = " ".join(str(p) for p in args.paths) or "."
        raise Error(f"no Python file to scan under {shown} (excluded, ignored or none there): nothing was checked")
    sources = [engine.parse(p, _shown(p, cwd)) for p in paths]
    found = engine.find(sources, detections)
    verdicts = {v.case: v for v in audit.audit(the_matrix, before, after, cells, sorted({h.case for h in found}))}
    hits = [h for h in found if verdicts[h.case].kind in SHOWN]
    if args.diff or args.fix:
        rewrite(sources, paths, hits, args.fix)
    emit(args, hits, detections, verdicts, the_matrix.upstream)
    print(summary(hits, len(paths), before, after, verdicts), file=sys.stderr)
    kinds = {verdicts[h.case].kind for h in hits}
    if kinds & {"worse", "bites"}:
        return status.NOT_AS_EXPECTED
    return status.USAGE_ERROR if "unknown" in kinds else status.OK


def emit(args: Namespace, hits: list[engine.Hit], detections: dict, verdicts: dict, upstream: dict[str, str]) -> None:
    if args.format == "json":
        text = json.dumps(render.to_json(hits, detections, verdicts), indent=2) + "\n"
    elif args.format == "sarif":
        links = {case: upstream_url(link) for case, link in upstream.items()}
        text = json.dumps(render.to_sarif(hits, detections, verdicts, links), indent=2) + "\n"
    else:
        text = "".join(line + "\n" for line in render.text_lines(hits, detections, verdicts))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        print(text, end="")


def rewrite(sources: list[engine.Source], paths: list[Path], hits: list[engine.Hit], apply: bool) -> None:
    """Show (--diff) or apply (--fix) the fixes of the hits, file by file."""
    for source, path in zip(sources, paths, strict=True):
        mine = [h for h in hits if h.path == source.shown and h.fix is not None]
        if not mine:
            continue
        new = engine.fixed(source.text, mine)
        if apply:
            path.write_text(new, encoding="utf-8")
            print(f"scan: fixed {len(mine)} hit(s) in {source.shown}", file=sys.stderr)
        else:
            diff = difflib.unified_diff(
                source.text.splitlines(keepends=True), new.splitlines(keepends=True), source.shown, source.shown
            )
            sys.stdout.writelines(diff)


def summary(
    hits: list[engine.Hit], scanned: int, before: audit.Point, after: audit.Point | None, verdicts: dict
) -> str:
    span = f"{before.describe()} -> {after.describe()}" if after else before.describe()
    if not hits:
        return f"scan: no hits that matter in {scanned} file(s) ({span})"
    counts = {kind: sum(verdicts[h.case].kind == kind for h in hits) for kind in SHOWN}
    said = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    fixable = sum(h.fix is not None for h in hits)
    more = f"; {fixable} fixable with --fix" if fixable else ""
    return f"scan: {len(hits)} hit(s) in {scanned} file(s) ({span}): {said}{more}"


def _shown(path: Path, cwd: Path) -> str:
    try:
        return path.relative_to(cwd.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
