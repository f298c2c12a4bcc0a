"""The catalogue's measured history as one HTML page: every case and variant against every Flax release measured.

history.json holds what each variant did on each release a sweep ran; read as JSON it answers one question at a
time. A person deciding whether to upgrade wants the whole picture at once: where a bug reproduces, where a
workaround breaks, and where the record disagrees with matrix.yaml's rules. The page is one file with its style
inline and no script, so it can be attached to a release, opened from a CI artifact or read offline as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

from packaging.version import Version

from flax_regressions.catalogue.history import MeasuredCell, agrees
from flax_regressions.catalogue.model import Matrix
from flax_regressions.catalogue.rules import Rule
from flax_regressions.core.variant import is_bug
from flax_regressions.render.markdown import write as write_document

TITLE = "Flax regressions: measured history"
JAX_DECIDED = ("fixed by JAX", "changed by JAX")  # a note that says JAX, not Flax, decides the outcome

# What each outcome looks like: (css class, glyph, text). The glyph and text carry it without colour.
OUTCOMES = {
    "reproduces": ("o-repro", "✗", "reproduces"),
    "absent": ("o-absent", "✓", "absent"),
    "works": ("o-works", "✓", "works"),
    "broken": ("o-broken", "✗", "broken"),
    "none": ("o-none", "–", "not measured"),
}

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1em;color:#1a1a1a;background:#fff}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.05em;margin:0 0 .3em}
.summary{margin:.2em 0 .8em}
.legend{border:1px solid #ccc;border-radius:4px;padding:.5em .8em;margin-bottom:1em;background:#fafafa}
.legend ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.4em 1.4em}
.legend li{display:flex;align-items:center;gap:.4em}
.sample{display:inline-block;min-width:6.5em;padding:.15em .4em;border:1px solid #bbb;text-align:center}
.grid{overflow:auto;max-height:calc(100vh - 2em);border:1px solid #bbb}
table{border-collapse:separate;border-spacing:0;font-size:13px}
th,td{border-right:1px solid #ddd;border-bottom:1px solid #ddd;padding:.25em .45em;white-space:nowrap}
thead{position:sticky;top:0;z-index:3}
thead th{background:#f0f0f0;font-weight:600;vertical-align:bottom;text-align:center}
thead th .jax{display:block;font-weight:400;color:#555;font-size:.9em}
thead th.backend{background:#dfe7f2;text-transform:uppercase;letter-spacing:.05em}
thead th.chosen{background:#ece3f7;border:2px dashed #6b3fa0;font-style:italic;font-weight:500}
th.case,th.variant{position:sticky;background:#fff;text-align:left;z-index:2;box-sizing:border-box}
th.case{left:0;white-space:normal;overflow-wrap:anywhere;vertical-align:top;font-family:monospace}
th.variant{font-weight:400;font-family:monospace}
thead th.case,thead th.variant{background:#f0f0f0;z-index:4;text-align:left}
tbody.group tr:first-child>*{border-top:2px solid #888}
td{text-align:center;min-width:6.5em}
td.chosen{border-left:2px dashed #6b3fa0}
.o-absent,.o-works{background:#d9f2dc;color:#14532d}
.o-repro{background:#fde2c8;color:#7a3a00}
.o-broken{background:#f8d0d0;color:#7f1d1d}
.o-none{background:#eee;color:#777}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.g{font-weight:700;margin-right:.25em}
.off{outline:3px solid #c00;outline-offset:-3px}
.flag{display:block;font-size:.8em;font-weight:700;color:#c00}
.unruled{font-size:.8em;color:#555;margin-left:.2em}
.chosen-sample{background:#ece3f7;border:2px dashed #6b3fa0;font-style:italic}
.jx{font-size:.7em;font-weight:700;vertical-align:super;color:#1d4e89;margin-left:.2em}
"""


@dataclass(frozen=True)
class Shown:
    """What one grid cell says: its outcome for the person, whether the rule agrees, and the hover text."""

    outcome: str  # a key of OUTCOMES
    unexpected: bool  # measured, a rule holds there, and it disagrees with the record
    unruled: bool  # measured, but no rule holds there
    jax_decided: bool
    title: str


def columns(cells: list[MeasuredCell]) -> list[MeasuredCell]:
    """The cells in reading order: by backend (cpu first), by Flax release, the release's own JAX before the JAX
    chosen by hand for it, so a chosen column stands right after the column it varies."""

    def order(cell: MeasuredCell) -> tuple[bool, str, Version, bool, Version]:
        return (cell.backend != "cpu", cell.backend, Version(cell.flax), cell.jax_chosen, Version(cell.jax))

    return sorted(cells, key=order)


def rows(cells: list[MeasuredCell], the_matrix: Matrix) -> list[tuple[str, list[str]]]:
    """Every case with its variants: the matrix's in its order, then any the history holds that it no longer
    declares (a record is evidence even once its case is gone)."""
    found: dict[str, dict[str, None]] = {case: dict.fromkeys(variants) for case, variants in the_matrix.cases.items()}
    for cell in cells:
        for case, variants in cell.results.items():
            found.setdefault(case, {}).update(dict.fromkeys(variants))
    return [(case, list(variants)) for case, variants in found.items()]


def rule_at(the_matrix: Matrix, case: str, variant: str, cell: MeasuredCell) -> Rule | None:
    if variant not in the_matrix.cases.get(case, {}):
        return None
    return the_matrix.expectation(case, variant, cell.flax, cell.jax, cell.backend)


def shown(the_matrix: Matrix, case: str, variant: str, cell: MeasuredCell) -> Shown:
    record = cell.results.get(case, {}).get(variant)
    rule = rule_at(the_matrix, case, variant, cell)
    where = f"flax {cell.flax}, jax {cell.jax}{' (chosen)' if cell.jax_chosen else ''}, {cell.backend}"
    held = (f"rule: {rule.describe()}" + (f" ({rule.note})" if rule.note else "")) if rule else "no rule holds here"
    if record is None:
        return Shown("none", False, False, False, f"{case} {variant}\n{where}\nnot measured")  # nothing to hold
    bug, passed = is_bug(variant), record == "passed"
    outcome = ("absent" if passed else "reproduces") if bug else ("works" if passed else "broken")
    unexpected = rule is not None and not agrees(rule, record)
    decided = rule is not None and (rule.note or "").startswith(JAX_DECIDED)
    lines = [f"{case} {variant}", where, record, held]
    if unexpected:
        lines.append("not as expected: the record disagrees with the rule")
    if decided:
        lines.append("decided by JAX, not by Flax")
    return Shown(outcome, unexpected, rule is None, decided, "\n".join(lines))


def _cell_html(s: Shown, column: MeasuredCell) -> str:
    css, glyph, text = OUTCOMES[s.outcome]
    classes = [css] + (["off"] if s.unexpected else []) + (["chosen"] if column.jax_chosen else [])
    words = f'<span class="sr">{escape(text)}</span>' if s.outcome == "none" else escape(text)  # "–" says it
    body = f'<span class="g" aria-hidden="true">{glyph}</span>{words}'
    if s.unruled:
        body += '<span class="unruled">? no rule</span>'
    if s.jax_decided:
        body += '<span class="jx">JAX</span>'
    if s.unexpected:
        body += '<span class="flag">! not as expected</span>'
    key = f"{column.backend}/{column.flax}/{column.jax}"
    return f'<td class="{" ".join(classes)}" data-col="{escape(key)}" title="{escape(s.title)}">{body}</td>'


def _head_html(cols: list[MeasuredCell]) -> str:
    lines = ["<thead>"]
    backends = list(dict.fromkeys(c.backend for c in cols))
    if any(b != "cpu" for b in backends):  # grouped by backend only where there is more than the default
        spans = "".join(
            f'<th class="backend" colspan="{sum(c.backend == b for c in cols)}">{escape(b)}</th>' for b in backends
        )
        lines.append(
            f'<tr><th class="case" rowspan="2">case</th><th class="variant" rowspan="2">variant</th>{spans}</tr>'
        )
        lines.append("<tr>")
    else:
        lines.append('<tr><th class="case">case</th><th class="variant">variant</th>')
    for c in cols:
        hover = escape(f"flax {c.flax} with jax {c.jax} on {c.backend}, measured {c.date}")
        if c.jax_chosen:
            label = f"{escape(c.flax)} + jax {escape(c.jax)} (chosen)"
            lines.append(f'<th class="chosen" scope="col" title="{hover} (JAX chosen by hand)">{label}</th>')
        else:
            label = f'{escape(c.flax)}<span class="jax">jax {escape(c.jax)}</span>'
            lines.append(f'<th class="release" scope="col" title="{hover}">{label}</th>')
    lines += ["</tr>", "</thead>"]
    return "\n".join(lines)


def _legend_html() -> str:
    def sample(outcome: str, extra: str = "", inner: str = "") -> str:
        css, glyph, text = OUTCOMES[outcome]
        return f'<span class="sample {css} {extra}"><span class="g">{glyph}</span>{text}{inner}</span>'

    items = [
        (sample("reproduces"), "bug variant: the bug reproduces (the documented call fails)"),
        (sample("absent"), "bug variant: the bug is absent (the call passes)"),
        (sample("works"), "fix variant: the workaround works"),
        (sample("broken"), "fix variant: the workaround is broken (it fails)"),
        (sample("none"), "not measured: no record of this variant in this column"),
        (
            sample("broken", "off", '<span class="flag">! not as expected</span>'),
            "red frame and “!”: the record disagrees with the matrix.yaml rule that holds there",
        ),
        (sample("works", "", '<span class="unruled">? no rule</span>'), "“?”: measured, but no rule holds there"),
        (sample("absent", "", '<span class="jx">JAX</span>'), "“JAX”: the rule says JAX, not Flax, decides it"),
        ('<span class="sample chosen-sample">0.10.5 + jax 0.6.1 (chosen)</span>', "a JAX chosen by hand"),
    ]
    entries = "".join(f"<li>{s}<span>{escape(text)}</span></li>" for s, text in items)
    hint = "Hover a cell for the recorded result (e.g. “failed: TypeError”) and the rule it was held to."
    return f'<section class="legend" id="legend"><h2>Legend</h2><ul>{entries}</ul><p>{escape(hint)}</p></section>'


def _widths(grid: list[tuple[str, list[str]]]) -> str:
    """The sticky columns fit every name (a very long case id wraps); both monospace, so the offset is in their ch."""
    case = min(max((len(c) for c, _ in grid), default=4) + 2, 32)
    variant = max((len(v) for _, names in grid for v in names), default=7) + 2
    fit = "".join(
        f"th.{n}{{width:{ch}ch;min-width:{ch}ch;max-width:{ch}ch}}" for n, ch in (("case", case), ("variant", variant))
    )
    return fit + f"th.variant{{left:{case}ch}}"


def page(cells: list[MeasuredCell], the_matrix: Matrix, title: str = TITLE) -> str:
    """The whole HTML document: a summary, the legend, and the grid of every case and variant by every column."""
    cols, grid = columns(cells), rows(cells, the_matrix)
    body, measured, off = [], 0, 0
    for case, names in grid:
        upstream = the_matrix.upstream.get(case, "")
        head = (
            f'<th class="case" scope="rowgroup" rowspan="{len(names)}" title="{escape(upstream)}">{escape(case)}</th>'
        )
        body.append(f'<tbody class="group" data-case="{escape(case)}">')
        for i, variant in enumerate(names):
            tds = []
            for column in cols:
                s = shown(the_matrix, case, variant, column)
                measured, off = measured + (s.outcome != "none"), off + s.unexpected
                tds.append(_cell_html(s, column))
            name = f'<th class="variant" scope="row">{escape(variant)}</th>'
            tr = f'<tr data-case="{escape(case)}" data-variant="{escape(variant)}">'
            body.append(f"{tr}{head if i == 0 else ''}{name}{''.join(tds)}</tr>")
        body.append("</tbody>")
    own = sum(not c.jax_chosen for c in cols)
    summary = (
        f"{len(grid)} cases, {sum(len(names) for _, names in grid)} variants; {own} columns measured with the "
        f"release's own JAX, {len(cols) - own} with a JAX chosen by hand; {measured} results recorded, "
        f"{off} not as expected."
    )
    head_tag = '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
    return "\n".join(
        ["<!DOCTYPE html>", '<html lang="en">', head_tag]
        + [f"<title>{escape(title)}</title><style>{STYLE}{_widths(grid)}</style></head>", "<body>"]
        + [f"<h1>{escape(title)}</h1>", f'<p class="summary">{escape(summary)}</p>', _legend_html()]
        + ['<div class="grid" role="region" aria-label="measured history" tabindex="0"><table>', _head_html(cols)]
        + [*body, "</table></div>", "</body>", "</html>", ""]
    )


def write(path: Path, cells: list[MeasuredCell], the_matrix: Matrix) -> None:
    """Write the page at ``path`` (its folder made); never into the job summary, which renders Markdown."""
    write_document(path, page(cells, the_matrix), summary=False)
