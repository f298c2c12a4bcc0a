"""A bisection's history as a person reads it: each variant's segments and, between them, whose change it was.

The Markdown rows (``--markdown``) are the form of the README's history table.
"""

from __future__ import annotations

from flax_regressions.analysis.bisect.history import History
from flax_regressions.analysis.bisect.observation import show
from flax_regressions.analysis.bisect.search import FLAKY
from flax_regressions.catalogue.measured import Segment
from flax_regressions.core.failure import common_phrase
from flax_regressions.core.variant import is_bug
from flax_regressions.render.markdown import escaped, table


def describe_segment(variant: str, seg: Segment, last: str, latest: str) -> str:
    """``reproduces (ValueError: a phrase) on 0.10.1–0.10.4``; ``0.11.0+`` when it runs to the latest release."""
    span = f"{seg.first}+" if last == latest else (seg.first if last == seg.first else f"{seg.first}–{last}")
    if seg.expect == "pass":
        what = "does not reproduce" if is_bug(variant) else "works"
    elif seg.expect == "fail":
        phrase = common_phrase(seg.messages)
        what = (
            ("reproduces" if is_bug(variant) else "broken") + f" ({seg.exception}" + (f": {phrase})" if phrase else ")")
        )
    else:
        what = seg.expect
    return f"{what} on {span}"


def report_lines(history: History, markdown: bool = False) -> list[str]:
    """Per variant: its segments, and between them each change with its two sides and whose it is."""
    versions, found = history.versions, history.found
    axis = f"jax (with flax {history.flax})" if history.flax else "flax"
    lines = []
    for i, why in sorted(found.skipped.items()):
        detail = f": {' vs '.join(show(o, history.variants) for o in found.flaky[i])}" if why == FLAKY else ""
        lines.append(f"{history.case}: {axis} {versions[i]} skipped ({why}{detail})")
    rows = []
    for v in history.variants:
        lines.append(f"{history.case}-{v}" + (f" with flax {history.flax}, along jax:" if history.flax else ":"))
        parts = []
        for k, seg in enumerate(history.segments[v]):
            change = history.changes[v][k - 1] if k else None
            if change:
                lines.append(f"    change at {change.describe()}")
            text = describe_segment(v, seg, history.ends[v][k], versions[-1])
            lines.append(f"  {text}")
            if change and change.jax_change:
                text += f" with jax {change.jax_change[1]}+ (JAX's change, not Flax's)"
            parts.append(text)
        rows.append([history.case, v, escaped("; ".join(parts))])
    return lines + (["", *table(["case", "variant", "history"], rows)] if markdown else [])
