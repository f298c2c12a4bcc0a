"""An audit as people and programs read it: a table of the cases that matter, one line of verdict; or JSON."""

from __future__ import annotations

from typing import Any

from flax_regressions.analysis.audit import CaseAt, CaseVerdict, Point
from flax_regressions.render.markdown import escaped, table

WORDS = {
    "worse": "❌ gets worse",
    "unknown": "❓ not measured",
    "bites": "⚠️ bites",
    "better": "✅ gets better",
    "fine": "✅ fine",
}


def change_text(v: CaseVerdict) -> str:
    """What happens to the case, in words: the variants that change, or what bites, or why it is unknown."""
    if v.unknown:
        return v.unknown
    parts = []
    for label, names in (
        ("appears", v.appears),
        ("goes away", v.goes_away),
        ("workaround breaks", v.breaks),
        ("workaround starts working", v.starts_working),
    ):
        if names:
            parts.append(f"{label}: {', '.join(names)}")
    end = v.after or v.before
    if end.reproduces and not v.appears:
        parts.append(f"reproduces: {', '.join(end.reproduces)}")
    return "; ".join(parts) or "nothing reproduces"


def workaround_text(v: CaseVerdict) -> str:
    if v.unknown or not (v.before.reproduces or (v.after and v.after.reproduces) or v.breaks):
        return ""
    return ", ".join(v.workarounds) or "none measured to work on both sides"


def side(at: CaseAt | None, point: Point | None) -> str:
    if point is None:
        return ""
    return f"flax {point.flax} + jax {at.jax if at and at.jax else point.jax or '?'}"


def render_text(verdicts: list[CaseVerdict], before: Point, after: Point | None, upstream: dict[str, str]) -> str:
    shown = [v for v in verdicts if v.kind != "fine"]
    title = f"{before.describe()} → {after.describe()}" if after else before.describe()
    rows = [
        [v.case, WORDS[v.kind], escaped(change_text(v)), escaped(workaround_text(v)), escaped(upstream.get(v.case, ""))]
        for v in shown
    ]
    lines = [f"## Audit: {title} ({before.backend})", ""]
    if rows:
        lines += table(["case", "verdict", "what happens", "workaround that works on both sides", "upstream"], rows)
        lines.append("")
    fine = len(verdicts) - len(shown)
    lines.append(f"{summary(verdicts)}; {fine} case(s) fine, not listed.")
    return "\n".join(lines) + "\n"


def summary(verdicts: list[CaseVerdict]) -> str:
    counts = {kind: sum(v.kind == kind for v in verdicts) for kind in WORDS}
    return ", ".join(f"{counts[k]} {WORDS[k].split(' ', 1)[1]}" for k in ("worse", "bites", "unknown", "better"))


def to_json(
    verdicts: list[CaseVerdict], before: Point, after: Point | None, exit_code: int, upstream: dict[str, str]
) -> dict[str, Any]:
    def at(state: CaseAt | None) -> dict[str, Any] | None:
        if state is None:
            return None
        return {
            "jax": state.jax,
            "unknown": state.unknown,
            "reproduces": list(state.reproduces),
            "works": list(state.works),
            "broken": list(state.broken),
        }

    return {
        "from": vars(before),
        "to": vars(after) if after else None,
        "exit_code": exit_code,
        "cases": [
            {
                "case": v.case,
                "verdict": v.kind,
                "upstream": upstream.get(v.case) or None,
                "appears": list(v.appears),
                "goes_away": list(v.goes_away),
                "breaks": list(v.breaks),
                "starts_working": list(v.starts_working),
                "workarounds": list(v.workarounds),
                "from": at(v.before),
                "to": at(v.after),
            }
            for v in verdicts
        ],
    }
