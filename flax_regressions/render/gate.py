"""The gate's verdict for a person: what the upgrade changes, section by section, ready for a job summary.

A gate whose --to is older than its --from is a downgrade, which its first line says: the same changes read
the other way round (a "bug that goes away" is one the older release never had). A gate with Flax held is a
JAX upgrade, and says so; where both moved, each breaking change names its cause (tools.gate.attribute).
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from flax_regressions.render.markdown import shown_message, table
from flax_regressions.tools.gate import CHANGES


def render(verdict: dict) -> str:
    a, b, backend = verdict.get("from") or {}, verdict.get("to") or {}, verdict["backend"]
    old, new = a.get("flax") or a.get("requested"), b.get("flax") or b.get("requested")
    if _jax_gate(verdict):
        move = "downgrade" if _older(b["jax"], a["jax"]) else "upgrade"
        title = f"## JAX {move} gate: {a['jax']} → {b['jax']} with Flax {new} ({backend})"
    else:
        move = "downgrade" if _older(new, old) else "upgrade"
        title = f"## Flax {move} gate: {old} → {new} ({backend})"
    if verdict["verdict"] == "error":
        return f"{title}\n\n⚠️ **No verdict** (exit 2): {verdict['reason']}\n"
    counts = {k: sum(c["change"] == k for c in verdict["changes"]) for k in CHANGES}
    if verdict["breaking"]:
        parts = [f"{counts['fix_breaks']} fix(es) stop working"] * bool(counts["fix_breaks"])
        parts += [f"{counts['bug_appears']} bug(s) start reproducing"] * bool(counts["bug_appears"])
        head = f"❌ **The {move} breaks {verdict['breaking']} variant(s)** (exit 1): {', '.join(parts)}."
    else:
        head = f"✅ **The {move} breaks nothing** (exit 0)."
    lines = [title, "", head, ""] + table(["", "from", "to"], [
        [name, str(a.get(name)), str(b.get(name))] for name in ("flax", "jax", "jaxlib")])
    if "mixed" in verdict:
        m = verdict["mixed"]
        lines += ["", f"Flax and JAX both move: flax {m['flax']} was run again with jax {m['jax']}; a breaking change "
                      "it already shows (the same failure) is JAX's, one that still works there is Flax's, and one that "
                      "fails otherwise there is not told."]
    for key, (heading, _, _) in CHANGES.items():
        chosen = [c for c in verdict["changes"] if c["change"] == key]
        if not chosen:
            continue
        rows = [[c["case"], c["variant"], what(c["before"]), what(c["after"]) + _droppable_note(key, c)] for c in chosen]
        headers = ["case", "variant", f"on {side_name(a)}", f"on {side_name(b)}"]
        if "mixed" in verdict and CHANGES[key][1]:
            headers.append("cause")
            rows = [row + [{"jax": "JAX", "flax": "Flax", None: "not told"}[c["cause"]]] for row, c in zip(rows, chosen)]
        lines += ["", f"### {heading}", ""] + table(headers, rows)
    if verdict.get("cause_note"):
        lines += ["", f"Cause not told: {verdict['cause_note']}"]
    lines += ["", f"{len(verdict['unchanged'])} variant(s) unchanged."]
    if verdict["not_compared"]:
        lines.append(f"Skipped on one side, not compared: {', '.join(verdict['not_compared'])}.")
    return "\n".join(lines) + "\n"


def _jax_gate(verdict: dict) -> bool:
    """Flax held, JAX moved: the gate compares two JAX releases."""
    a, b = verdict.get("from") or {}, verdict.get("to") or {}
    return bool(a.get("flax")) and a.get("flax") == b.get("flax") and a.get("jax") != b.get("jax")


def side_name(side: dict) -> str:
    """One side as a change's heading names it: ``flax 0.11.0``, or ``flax 0.12.9 + jax 0.11.2`` when JAX was pinned."""
    pinned = "-jax-" in (side.get("cell") or "")
    return f"flax {side.get('flax')}" + (f" + jax {side.get('jax')}" if pinned else "")


def where(verdict: dict) -> str:
    """Where a change shows, as the stderr lines say it: the --to side."""
    return side_name(verdict["to"])


def cause_text(verdict: dict, change: dict) -> str:
    """Whose change a breaking one is, where Flax and JAX both moved and the gate told them apart."""
    if "mixed" not in verdict:
        return ""
    mixed = verdict["mixed"]
    pair = f"flax {mixed['flax']} with jax {mixed['jax']}"
    if change.get("cause") == "jax":
        return f"; JAX's change ({pair} already does this)"
    if change.get("cause") == "flax":
        return f"; Flax's change ({pair} does not do this)"
    there = change.get("with_newer_jax")
    return f"; cause not told ({pair} " + (f"{what(there)})" if there else "did not run it)")


def _older(a: str | None, b: str | None) -> bool:
    """Whether release ``a`` is older than ``b``; False when either is not a version (``latest`` before it ran)."""
    try:
        return Version(a) < Version(b)
    except (InvalidVersion, TypeError):
        return False


def _droppable_note(key: str, change: dict) -> str:
    if key != "bug_gone":
        return ""
    if change["droppable"]:
        return f"<br>workarounds no longer needed: {', '.join(change['droppable'])}"
    return "<br>another bug variant of this case still fails: keep its workarounds"


def what(record: dict) -> str:
    """One side of a change, in a table cell or a line."""
    if record["outcome"] == "passed":
        return "passes"
    if record["outcome"] == "error":  # crashed or timed out: no exception to name
        return f"error: {shown_message(record['message'])}"
    return f"{record['outcome']}: {record['exception']}: {shown_message(record['message'])}"
