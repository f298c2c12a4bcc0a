"""The upgrade gate: run every case on two Flax releases and say what moving from one to the other changes.

    python -m flax_regressions.gate [--from V] [--to V] [--backend B] [-k EXPR]     (or: nox -s gate -- ...)

It compares what actually happens on each side, the outcome and the exception type of every variant, not
whether either side matches matrix.yaml: a gate is run before matrix.yaml knows the new release. The
changes that matter to a team upgrading are:

- a fix that stops working (it passed on --from, it fails on --to): code relying on it breaks;
- a bug that starts reproducing (its bug variant passed on --from, fails on --to);
- a bug that goes away (failed on --from, passes on --to): its workarounds can be dropped;
- a fix that starts working, and an error whose type or message changes: worth knowing, not breaking.

A variant that crashes the interpreter or hangs past its timeout counts as not working.

Exit status: 0 when the upgrade breaks nothing, 1 when a fix breaks or a bug appears, 2 on a usage or
environment error (an unknown release, an environment that cannot be built, a cell that errored), with a
one-line reason. The verdict is written to results/gate/gate.md (appended to $GITHUB_STEP_SUMMARY when that
is set) and results/gate/gate.json; both cells (run at the same time, conformance tests only) keep their
results under results/gate/cells/ and their pytest output under results/gate/logs/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from flax_regressions import cells, matrix, releases
from flax_regressions.cli import Parser
from flax_regressions.results import RESULTS_DIR, cell_id, write_json

GATE_DIR = RESULTS_DIR / "gate"
OK, BREAKS, ERROR = 0, 1, 2

# Every kind of change, in the order the verdict lists them: (heading, whether it breaks the upgrade, one variant's phrase).
CHANGES = {
    "fix_breaks": ("❌ Fixes that stop working", True, "the fix stops working"),
    "bug_appears": ("❌ Bugs that start reproducing", True, "the bug starts reproducing"),
    "bug_gone": ("✅ Bugs that go away", False, "the bug goes away"),
    "fix_works": ("✅ Fixes that start working", False, "the fix starts working"),
    "error_changes": ("ℹ️ Errors that change", False, "the error changes"),
}


class GateError(Exception):
    """A usage or environment problem: the gate cannot give a verdict. Its message is one line."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser("gate", description="Compare two Flax releases: what does the upgrade break?")
    parser.add_argument("--from", dest="before", default="current", metavar="V",
                        help="the release upgraded from (default: current, the one matrix.yaml marks)")
    parser.add_argument("--to", dest="after", default="latest", metavar="V",
                        help="the release upgraded to (default: latest)")
    parser.add_argument("--backend", default="cpu", help="the JAX backend both cells run on (default: cpu)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="only the variants pytest -k selects (ids read <case>-<variant>)")
    return parser.parse_args(argv)


def kind_of(variant: str) -> str:
    return "bug" if variant.startswith("bug") else "fix"


def normalized(message: str | None) -> str:
    """A message with its memory addresses blanked: two runs of the same failure compare equal."""
    return re.sub(r"0x[0-9a-fA-F]+", "0x…", message or "")


def classify(variant: str, before: dict, after: dict) -> str | None:
    """The kind of change between two records of one variant (see CHANGES), or None when nothing changed.

    A variant that crashed the interpreter or ran past its timeout (outcome "error", see faults) did not
    work either: for a fix that passed before, that is a fix that breaks.
    """
    was, now = before["outcome"], after["outcome"]
    if was == "passed" and now in ("failed", "error"):
        return "bug_appears" if kind_of(variant) == "bug" else "fix_breaks"
    if was in ("failed", "error") and now == "passed":
        return "bug_gone" if kind_of(variant) == "bug" else "fix_works"
    if was != "passed" and now != "passed" and (
        (was, before["exception"], normalized(before["message"])) != (now, after["exception"], normalized(after["message"]))
    ):
        return "error_changes"
    return None


def check_cell(data: dict, version: str, backend: str) -> None:
    """Refuse a cell whose results cannot be compared: it could not run (no environment, no such backend
    here), its run stopped before the end, or no variant ran. One variant's error is a result, not this."""
    where = f"flax {version} ({backend})"
    if data.get("cell_outcome") in ("error", "skipped"):
        raise GateError(f"{where}: {data.get('cell_outcome')}: {data.get('reason')}")
    if not data.get("complete"):
        raise GateError(f"{where}: the cell's run stopped before it finished")
    if not data.get("results"):
        raise GateError(f"{where}: no variant ran (check -k)")


def side(data: dict, requested: str) -> dict:
    versions = data.get("versions", {})
    return {"requested": requested, "cell": data.get("cell"), "flax": versions.get("flax"), "jax": versions.get("jax"),
            "jaxlib": versions.get("jaxlib"), "python": data.get("python"), "platform": data.get("platform")}


def compare(before: dict, after: dict) -> dict:
    """The verdict on two cells' results files (as run_cell writes them): every change, and the exit status."""
    old = {(r["case"], r["variant"]): r for r in before["results"]}
    new = {(r["case"], r["variant"]): r for r in after["results"]}
    one_side = sorted(set(old) ^ set(new))
    if one_side:
        case, variant = one_side[0]
        raise GateError(f"{case}-{variant} ran on only one of the two cells: compare runs of the same variants")
    changes, unchanged, not_compared = [], [], []
    for case, variant in sorted(old):
        a, b = old[case, variant], new[case, variant]
        if "skipped" in (a["outcome"], b["outcome"]):
            not_compared.append(f"{case}-{variant}")
            continue
        change = classify(variant, a, b)
        if change is None:
            unchanged.append(f"{case}-{variant}")
            continue
        changes.append({
            "case": case, "variant": variant, "kind": kind_of(variant), "change": change,
            "breaking": CHANGES[change][1],
            "before": {k: a[k] for k in ("outcome", "exception", "message")},
            "after": {k: b[k] for k in ("outcome", "exception", "message")},
        })
    for change in changes:
        if change["change"] == "bug_gone":
            change["droppable"] = _droppable(change["case"], new)
    breaking = [c for c in changes if c["breaking"]]
    return {
        "exit_code": BREAKS if breaking else OK,
        "verdict": "breaks" if breaking else "ok",
        "reason": None,
        "breaking": len(breaking),
        "changes": changes,
        "unchanged": unchanged,
        "not_compared": not_compared,
    }


def _droppable(case: str, after: dict) -> list[str]:
    """The workarounds of ``case`` that are no longer needed: none while any bug variant still fails."""
    variants = {v: r for (c, v), r in after.items() if c == case}
    if any(kind_of(v) == "bug" and r["outcome"] != "passed" for v, r in variants.items()):
        return []
    return sorted(v for v in variants if kind_of(v) == "fix")


def run_side(the_matrix, version: str, backend: str, extra: list[str]) -> dict:
    """Run the cell of one release under results/gate/cells and return its results, checked.

    Its pytest output goes to results/gate/logs/<cell>.log, not to the terminal: the two cells run at once.
    """
    cell = cell_id(version, backend)
    path = GATE_DIR / "cells" / f"{cell}.json"
    log = GATE_DIR / "logs" / f"{cell}.log"
    path.unlink(missing_ok=True)  # never compare a stale file left by an earlier run
    log.parent.mkdir(parents=True, exist_ok=True)

    def runner(command: list[str], env: dict[str, str]) -> None:
        with open(log, "w") as out:
            subprocess.run(command, env=os.environ | env, cwd=matrix.ROOT, stdout=out, stderr=subprocess.STDOUT)

    cells.run_cell(the_matrix, version, backend, extra, cells_dir=path.parent, runner=runner,
                   log=lambda line: print(f"gate: {line}", file=sys.stderr))
    if log.exists():
        last = (log.read_text().strip().splitlines() or ["(empty)"])[-1].strip(" =")
        print(f"gate: flax {version} ({backend}): {last} (log: {shown_path(log)})", file=sys.stderr)
    try:
        if not path.exists():
            raise GateError(f"flax {version} ({backend}): pytest wrote no results file")
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise GateError(f"flax {version} ({backend}): unreadable results file {shown_path(path)}: {exc}") from None
        check_cell(data, version, backend)
    except GateError as exc:
        raise GateError(f"{exc} (log: {shown_path(log)})" if log.exists() else str(exc)) from None
    return data


def gate(args: argparse.Namespace) -> dict:
    """Run both cells and compare them; raise GateError (or MatrixError, RegistryError) when that cannot be done."""
    the_matrix = matrix.load()
    if args.backend not in the_matrix.backends:
        raise GateError(f"unknown backend {args.backend!r} (matrix.yaml has: {', '.join(the_matrix.backends)})")
    requested = {"before": the_matrix.current if args.before == "current" else args.before,
                 "after": the_matrix.current if args.after == "current" else args.after}
    resolved = {k: releases.resolve(v, the_matrix.python) for k, v in requested.items()}  # both named before any build
    if resolved["before"] == resolved["after"]:
        raise GateError(f"--from and --to are the same release (flax {resolved['before']}): nothing to compare")
    reason = cells.missing_backend(the_matrix, args.backend)
    if reason:
        raise GateError(f"backend {args.backend}: {reason}")
    # The conformance tests only: the property tests hold variants to matrix.yaml, the gate compares what happens.
    extra = ["-m", "conformance"] + (["-k", args.keyword] if args.keyword else [])
    with ThreadPoolExecutor(max_workers=2) as pool:  # both cells at once: the gate's time is the slower cell's
        sides = [pool.submit(run_side, the_matrix, resolved[k], args.backend, extra) for k in ("before", "after")]
        before, after = (side.result() for side in sides)
    verdict = compare(before, after)
    verdict.update({"from": side(before, args.before), "to": side(after, args.after)})
    return verdict


def render_markdown(verdict: dict) -> str:
    """The verdict for a person: what changes, section by section, ready for a CI job summary."""
    a, b, backend = verdict.get("from") or {}, verdict.get("to") or {}, verdict["backend"]
    title = f"## Flax upgrade gate: {a.get('flax') or a.get('requested')} → {b.get('flax') or b.get('requested')} ({backend})"
    if verdict["verdict"] == "error":
        return f"{title}\n\n⚠️ **No verdict** (exit 2): {verdict['reason']}\n"
    counts = {k: sum(c["change"] == k for c in verdict["changes"]) for k in CHANGES}
    if verdict["breaking"]:
        parts = [f"{counts['fix_breaks']} fix(es) stop working"] * bool(counts["fix_breaks"])
        parts += [f"{counts['bug_appears']} bug(s) start reproducing"] * bool(counts["bug_appears"])
        head = f"❌ **The upgrade breaks {verdict['breaking']} variant(s)** (exit 1): {', '.join(parts)}."
    else:
        head = "✅ **The upgrade breaks nothing** (exit 0)."
    lines = [title, "", head, "",
             f"| | from | to |", "|---|---|---|",
             f"| flax | {a.get('flax')} | {b.get('flax')} |",
             f"| jax | {a.get('jax')} | {b.get('jax')} |",
             f"| jaxlib | {a.get('jaxlib')} | {b.get('jaxlib')} |"]
    for key, (heading, _, _) in CHANGES.items():
        chosen = [c for c in verdict["changes"] if c["change"] == key]
        if not chosen:
            continue
        lines += ["", f"### {heading}", "",
                  f"| case | variant | on flax {a.get('flax')} | on flax {b.get('flax')} |", "|---|---|---|---|"]
        for c in chosen:
            note = ""
            if key == "bug_gone":
                note = (f"<br>workarounds no longer needed: {', '.join(c['droppable'])}" if c["droppable"]
                        else "<br>another bug variant of this case still fails: keep its workarounds")
            lines.append(f"| {c['case']} | {c['variant']} | {_what(c['before'])} | {_what(c['after'])}{note} |")
    lines += ["", f"{len(verdict['unchanged'])} variant(s) unchanged."]
    if verdict["not_compared"]:
        lines.append(f"Skipped on one side, not compared: {', '.join(verdict['not_compared'])}.")
    return "\n".join(lines) + "\n"


def shown_message(message: str | None, limit: int = 120) -> str:
    """A message for a table cell: without its trailing documentation link, cut at ``limit``, pipes escaped."""
    message = re.sub(r"\s*\(https?://[^)]*\)$", "", message or "")
    message = message if len(message) <= limit else message[:limit - 3] + "..."
    return message.replace("|", "\\|")


def _what(record: dict) -> str:
    if record["outcome"] == "passed":
        return "passes"
    if record["outcome"] == "error":  # crashed or timed out: no exception to name
        return f"error: {shown_message(record['message'])}"
    return f"{record['outcome']}: {record['exception']}: {shown_message(record['message'])}"


def shown_path(path: Path) -> str:
    """A path as a message shows it: relative to the repository when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(matrix.ROOT))
    except ValueError:
        return str(path)


def write_outputs(verdict: dict) -> str:
    """gate.json and gate.md under results/gate/, the Markdown also appended to $GITHUB_STEP_SUMMARY."""
    markdown = render_markdown(verdict)
    write_json(GATE_DIR / "gate.json", verdict)
    (GATE_DIR / "gate.md").write_text(markdown)
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary, "a") as f:
            f.write(markdown + "\n")
    return markdown


def main(argv: list[str] | None = None) -> int:
    """Run the gate; print the verdict; return the exit status (0 ok, 1 breaks, 2 error)."""
    args = parse_args(argv)
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        verdict = gate(args)
    except (GateError, matrix.MatrixError, releases.RegistryError) as exc:
        verdict = {"exit_code": ERROR, "verdict": "error", "reason": str(exc), "breaking": 0, "changes": [],
                   "unchanged": [], "not_compared": [],
                   "from": {"requested": args.before}, "to": {"requested": args.after}}
    verdict.update(backend=args.backend, when=when)
    print(write_outputs(verdict))
    if verdict["exit_code"] == ERROR:
        print(f"gate: error: {verdict['reason']}", file=sys.stderr)
    else:
        for change in verdict["changes"]:
            if change["breaking"]:
                print(f"gate: {change['case']}-{change['variant']}: {CHANGES[change['change']][2]} on flax "
                      f"{verdict['to']['flax']} ({_what(change['after'])})", file=sys.stderr)
    return verdict["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
