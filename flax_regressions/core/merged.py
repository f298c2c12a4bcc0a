"""The merged report, ``results/matrix.json``: one ``Row`` per cell, case and variant, and the one module that
writes and reads it (the cells' own files are core.results')."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from flax_regressions.core.cells import CellId
from flax_regressions.core.files import write_json
from flax_regressions.core.records import NOT_MEASURED, VariantRecord
from flax_regressions.core.results import CellOutcome, CellResult, ResultsError, Versions


@dataclass(frozen=True)
class Row:
    """One cell, case and variant of the merged report (results/matrix.json)."""

    cell: CellId
    versions: Versions
    record: VariantRecord
    property_failure: str | None = None  # right on the example, wrong on a generated one: the shrunk error
    reproduce: str | None = None  # the command that reruns that example
    cell_problem: str | None = None  # the record stands, but its cell's run did not: unfinished, or not rerun now

    @property
    def flax(self) -> str:
        return self.versions.flax or self.cell.flax

    @property
    def as_expected(self) -> bool:
        return self.record.as_expected and self.property_failure is None and self.cell_problem is None

    def to_json(self) -> dict:
        out = self.record.to_json()
        if out.get("expected_detail") != NOT_MEASURED:
            out.pop("expected_detail", None)  # the rule is matrix.yaml's to say; "not measured yet" is the record's
        out |= {
            "cell": str(self.cell),
            "backend": self.cell.backend,
            "flax": self.flax,
            "jax": self.versions.jax,
            "jaxlib": self.versions.jaxlib,
            "as_expected": self.as_expected,
        }
        if self.property_failure is not None:
            out |= {"property_failure": self.property_failure, "reproduce": self.reproduce}
        if self.cell_problem is not None:
            out |= {"cell_problem": self.cell_problem}
        return out

    @classmethod
    def from_json(cls, data: dict) -> Row:
        record = VariantRecord.from_json(data)
        return cls(
            CellId.parse(data["cell"]),
            Versions.from_json(data),
            record,
            data.get("property_failure"),
            data.get("reproduce"),
            data.get("cell_problem"),
        )


def write_merged(path: Path, rows: list[Row], cells: dict[CellId, CellResult], run: dict) -> None:
    """results/matrix.json: the run, each cell's environment, and every row."""
    environments = {
        str(c): {
            "versions": r.versions.to_json() if r.outcome is CellOutcome.RAN else None,
            "python": r.python,
            "platform": r.platform,
            "packages": r.packages or None,
            "updated": r.updated,
            "complete": r.complete,
        }
        for c, r in cells.items()
    }
    write_json(path, {"run": run, "environments": environments, "cells": [row.to_json() for row in rows]})


def load_merged(path: Path) -> list[Row]:
    """The rows of a merged report; [] when there is none, ResultsError when it cannot be used."""
    if not Path(path).exists():
        return []
    try:
        return [Row.from_json(row) for row in json.loads(Path(path).read_text())["cells"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ResultsError(f"unreadable merged results {Path(path).name}: {type(exc).__name__}: {exc}") from None
