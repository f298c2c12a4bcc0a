"""The results table a reviewer reads: one row per case and variant, one column per cell."""

from __future__ import annotations

from flax_regressions.core.cells import CellId
from flax_regressions.core.merged import Row
from flax_regressions.core.records import NOT_MEASURED, Outcome
from flax_regressions.core.variant import is_bug
from flax_regressions.render.markdown import escaped, shortened, table


def verdict_text(row: Row) -> str:
    """What a reviewer reads in the table cell."""
    if row.cell_problem:
        return f"❌ {row.cell_problem}: {_record_text(row).removeprefix('✅ ')}"
    return _record_text(row)


def _record_text(row: Row) -> str:
    record = row.record
    bug = is_bug(record.variant)
    failure, message = record.exception or "", shortened(record.message)
    if row.property_failure:
        return f"❌ fails over generated sizes: {shortened(row.property_failure)}"
    if record.outcome in (Outcome.MISSING, Outcome.ERROR):
        return f"❌ {record.outcome.value}: {message}"
    if record.outcome is Outcome.SKIPPED:
        return f"⏭ skipped: {message}"
    if record.expected in ("unknown", None) and record.expected_detail == NOT_MEASURED:
        return f"❓ unknown: {NOT_MEASURED}"
    if record.expected in ("unknown", None):
        return f"❓ unknown: {record.outcome.value}{' ' + failure if failure else ''}; add an expectation"
    if record.expected in ("fail", "warn"):
        if record.as_expected:
            if record.expected == "warn":
                return f"✅ {'bug' if bug else 'fix'} warns, as recorded ({failure})"
            return "✅ bug reproduces" if bug else f"✅ fix broken, as recorded ({failure})"
        if record.outcome is Outcome.PASSED:
            return "❌ bug gone: update matrix.yaml" if bug else "❌ fix works again: update matrix.yaml"
        return f"❌ fails differently: {failure}: {message}"
    if record.as_expected:
        return "✅ bug absent" if bug else "✅ fix works"
    return f"❌ bug appeared: {failure}" if bug else f"❌ fix broken: {failure}: {message}"


def summary_lines(rows: list[Row]) -> list[str]:
    """One line per row that is not as expected: what the command prints last, and the table's footnotes."""
    return [
        f"{r.record.case}-{r.record.variant} on flax {r.flax} ({r.cell.backend}): {verdict_text(r)}"
        for r in rows
        if not r.as_expected
    ]


def counted(good: int, total: int) -> str:
    """How many results (a variant in a cell: one table cell) are as expected: "251 of 252 results"."""
    return f"{good} of {total} result{'s' if total != 1 else ''}"


def variants(n_variants: int, n_cells: int) -> str:
    return f"{n_variants} variant{'s' if n_variants != 1 else ''} in {n_cells} cell{'s' if n_cells != 1 else ''}"


def render(rows: list[Row]) -> str:
    cells = list(dict.fromkeys(r.cell for r in rows))
    head: dict[CellId, str] = {}
    for r in rows:
        head.setdefault(r.cell, f"flax {r.flax} · {r.cell.backend}<br>jax {r.versions.jax or '?'}")
    by_key = {(r.record.case, r.record.variant, r.cell): r for r in rows}
    body = [
        [case, variant] + [escaped(verdict_text(by_key[case, variant, c])) for c in cells]
        for case, variant in dict.fromkeys((r.record.case, r.record.variant) for r in rows)
    ]
    good = sum(r.as_expected for r in rows)
    lines = table(["case", "variant"] + [head[c] for c in cells], body)
    lines += ["", f"**{counted(good, len(rows))} as expected** ({variants(len(body), len(cells))})."]
    return "\n".join(lines + [f"- {line}" for line in summary_lines(rows)]) + "\n"
