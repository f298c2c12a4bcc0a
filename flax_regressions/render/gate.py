"""The gate's verdict for a person: what the upgrade changes, section by section, ready for a job summary.

A gate whose --to is older than its --from is a downgrade, which its first line says: the same changes read
the other way round (a "bug that goes away" is one the older release never had). A gate with Flax held is a
JAX upgrade, and says so; where both moved, each breaking change names its cause (analysis.gate.attribute).
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from flax_regressions.analysis.verdict import KINDS, Change, Seen, Side, Verdict
from flax_regressions.render.markdown import shown_message, table

HEADINGS = {
    "fix_breaks": "❌ Fixes that stop working",
    "bug_appears": "❌ Bugs that start reproducing",
    "bug_gone": "✅ Bugs that go away",
    "fix_works": "✅ Fixes that start working",
    "error_changes": "ℹ️ Errors that change",
}
PHRASES = {  # one variant's change, as a line says it
    "fix_breaks": "the fix stops working",
    "bug_appears": "the bug starts reproducing",
    "bug_gone": "the bug goes away",
    "fix_works": "the fix starts working",
    "error_changes": "the error changes",
}


def title(verdict: Verdict) -> str:
    a, b, backend = verdict.before, verdict.after, verdict.backend
    old, new = a.flax or a.requested, b.flax or b.requested
    if verdict.jax_gate:
        move = "downgrade" if _older(b.jax, a.jax) else "upgrade"
        return f"## JAX {move} gate: {a.jax} → {b.jax} with Flax {new} ({backend})"
    move = "downgrade" if _older(new, old) else "upgrade"
    return f"## Flax {move} gate: {old} → {new} ({backend})"


def render(verdict: Verdict) -> str:
    head = title(verdict)
    if verdict.reason is not None:
        return f"{head}\n\n⚠️ **No verdict** (exit 2): {verdict.reason}\n"
    a, b = verdict.before, verdict.after
    move = "downgrade" if "downgrade" in head else "upgrade"
    counts = {k: sum(c.change == k for c in verdict.changes) for k in KINDS}
    if verdict.breaking:
        parts = [f"{counts['fix_breaks']} fix(es) stop working"] * bool(counts["fix_breaks"])
        parts += [f"{counts['bug_appears']} bug(s) start reproducing"] * bool(counts["bug_appears"])
        summary = f"❌ **The {move} breaks {len(verdict.breaking)} variant(s)** (exit 1): {', '.join(parts)}."
    else:
        summary = f"✅ **The {move} breaks nothing** (exit 0)."
    lines = [head, "", summary, ""] + table(
        ["", "from", "to"],
        [["flax", str(a.flax), str(b.flax)], ["jax", str(a.jax), str(b.jax)], ["jaxlib", str(a.jaxlib), str(b.jaxlib)]],
    )
    if verdict.mixed is not None:
        m = verdict.mixed
        lines += [
            "",
            f"Flax and JAX both move: flax {m.flax} was run again with jax {m.jax}; a breaking change "
            "it already shows (the same failure) is JAX's, one that still works there is Flax's, and one that "
            "fails otherwise there is not told.",
        ]
    for key in KINDS:
        chosen = [c for c in verdict.changes if c.change == key]
        if not chosen:
            continue
        rows = [[c.case, c.variant, what(c.before), what(c.after) + _droppable_note(c)] for c in chosen]
        headers = ["case", "variant", f"on {side_name(a)}", f"on {side_name(b)}"]
        if verdict.mixed is not None and chosen[0].breaking:
            headers.append("cause")
            rows = [row + [{"jax": "JAX", "flax": "Flax", None: "not told"}[c.cause]] for row, c in zip(rows, chosen)]
        lines += ["", f"### {HEADINGS[key]}", ""] + table(headers, rows)
    if verdict.cause_note:
        lines += ["", f"Cause not told: {verdict.cause_note}"]
    lines += ["", f"{len(verdict.unchanged)} variant(s) unchanged."]
    if verdict.not_compared:
        lines.append(f"Skipped on one side, not compared: {', '.join(verdict.not_compared)}.")
    return "\n".join(lines) + "\n"


def breaking_lines(verdict: Verdict) -> list[str]:
    """One line per breaking change, as the command prints them last (stderr)."""
    return [
        f"{c.case}-{c.variant}: {PHRASES[c.change]} on {side_name(verdict.after)} ({what(c.after)})"
        f"{cause_text(verdict, c)}"
        for c in verdict.breaking
    ]


def side_name(side: Side) -> str:
    """One side as a change's heading names it: ``flax 0.11.0``, or ``flax 0.12.9 + jax 0.11.2`` when JAX was pinned."""
    return f"flax {side.flax}" + (f" + jax {side.jax}" if side.pinned_jax else "")


def cause_text(verdict: Verdict, change: Change) -> str:
    """Whose change a breaking one is, where Flax and JAX both moved and the gate told them apart."""
    if verdict.mixed is None:
        return ""
    pair = f"flax {verdict.mixed.flax} with jax {verdict.mixed.jax}"
    if change.cause == "jax":
        return f"; JAX's change ({pair} already does this)"
    if change.cause == "flax":
        return f"; Flax's change ({pair} does not do this)"
    there = change.with_newer_jax
    return f"; cause not told ({pair} " + (f"{what(there)})" if there else "did not run it)")


def _older(a: str | None, b: str | None) -> bool:
    """Whether release ``a`` is older than ``b``; False when either is not a version (``latest`` before it ran)."""
    try:
        return Version(str(a)) < Version(str(b))
    except InvalidVersion:
        return False


def _droppable_note(change: Change) -> str:
    if change.change != "bug_gone":
        return ""
    if change.droppable:
        return f"<br>workarounds no longer needed: {', '.join(change.droppable)}"
    return "<br>another bug variant of this case still fails: keep its workarounds"


def what(seen: Seen) -> str:
    """One side of a change, in a table cell or a line."""
    if seen.outcome == "passed":
        return "passes"
    if seen.outcome == "error":  # crashed or timed out: no exception to name
        return f"error: {shown_message(seen.message)}"
    return f"{seen.outcome}: {seen.exception}: {shown_message(seen.message)}"
