"""Merge cells' results into one row per cell, case and variant, and say which rows are not as expected.

A variant that is as expected on its own example but fails its property test (hypothesis, generated sizes)
is not as expected: its row carries the shrunk example's error and the command that reproduces it.

Cells the run was meant to have but that left no complete file (an interrupted run, a killed session) are
rows too, variant by variant, with why they are missing; an unreadable file is reported, not fatal.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path

from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.merged import Row, write_merged
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import CellId, CellOutcome, CellResult, Versions, cell_file, load_cells

NOT_SELECTED = "not in the run's selection (-k or -m): rerun the cell whole"


def rows_of(
    the_matrix: Matrix, cells: dict[CellId, CellResult], unreadable: dict[CellId, str], wanted: list[CellId]
) -> list[Row]:
    """One row per (cell, case, variant), wanted cells first, in matrix order; missing results become rows too."""
    rows = []
    for cell in wanted + sorted(set(cells) - set(wanted), key=str):
        result = cells.get(cell)
        broken = {(p.case, p.variant): p for p in (result.properties if result else ()) if p.broken}
        for case, variant in the_matrix.variants():
            record = (result.record(case, variant) if result else None) or _without_record(
                result, unreadable.get(cell), case, variant
            )
            found = broken.get((case, variant))
            rows.append(
                Row(
                    cell,
                    result.versions if result else Versions(),
                    record,
                    *((found.message, found.reproduce) if found and record.as_expected else (None, None)),
                    _cell_problem(result, case, variant) if record.as_expected else None,
                )
            )
    return rows


def _cell_problem(result: CellResult | None, case: str, variant: str) -> str | None:
    """Why a variant's record, as expected in itself, does not make its row as expected: the run behind it did not
    finish
    (its property test never ran), or the cell could not be rerun now and this is the last good result."""
    if result is None:
        return None
    if result.rerun_failed:
        return f"not run now ({result.rerun_failed}); last result, from {result.updated}"
    if not result.complete and not any((p.case, p.variant) == (case, variant) for p in result.properties):
        return "unfinished: the run stopped before its property test"
    return None


def _without_record(result: CellResult | None, unreadable: str | None, case: str, variant: str) -> VariantRecord:
    """The row of a variant with no record: its cell could not run, or the run never reached it."""
    if result is not None and result.outcome is not CellOutcome.RAN:
        outcome = Outcome.SKIPPED if result.outcome is CellOutcome.SKIPPED else Outcome.ERROR
        return VariantRecord(case, variant, outcome, message=result.reason, as_expected=outcome is Outcome.SKIPPED)
    if unreadable or result is None:
        why = unreadable or "no results file"
    elif result.complete:
        why = NOT_SELECTED
    else:
        why = "the run stopped before this variant"
    return VariantRecord(case, variant, Outcome.MISSING, message=why)


def not_as_expected(rows: list[Row]) -> list[Row]:
    return [row for row in rows if not row.as_expected]


def write_report(wanted: list[CellId], the_matrix: Matrix, cells_dir: Path, out_dir: Path) -> list[Row]:
    """Merge the cells in ``cells_dir`` into ``out_dir``/matrix.json and return the rows (matrix.md is
    render.matrix_table's)."""
    cells, unreadable_files = load_cells(cells_dir)
    files = {cell: cell_file(cells_dir, cell) for cell in wanted}
    unreadable = {cell: unreadable_files[path] for cell, path in files.items() if path in unreadable_files}
    rows = rows_of(the_matrix, cells, unreadable, wanted)
    run = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    write_merged(out_dir / "matrix.json", rows, cells, run)
    return rows


def default_cells(the_matrix: Matrix) -> list[CellId]:
    """The cells a plain ``nox`` run is meant to produce: every default Flax version on the CPU."""
    return [CellId(v.version, "cpu") for v in the_matrix.flax]
