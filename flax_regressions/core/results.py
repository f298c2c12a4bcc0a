"""The results model: what a cell recorded, and the one module that writes and reads results files.

A cell is one Flax release (or ``latest``) on one backend, optionally with a JAX chosen by hand. Its
pytest run keeps one file, ``results/cells/<cell>.json``, and replaces it whole after every test
(core.files.write_json), so a run that is killed leaves a valid file saying ``complete: false``. The merged
report, ``results/matrix.json``, is one ``Row`` per cell, case and variant. Everything else (the report,
the gate, the bug report, bisect, sweep) takes the objects below and never parses JSON itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path

from flax_regressions.core.cells import CellId
from flax_regressions.core.failure import Failure
from flax_regressions.core.files import write_json

SCHEMA = 1  # files from before the schema field have the same layout and load as version 1


class ResultsError(Exception):
    """A results file that cannot be used. Its message is one line naming the file."""


class Outcome(str, Enum):
    """What one variant did in one cell."""

    PASSED = "passed"
    FAILED = "failed"  # it raised: the exception and message say how
    SKIPPED = "skipped"
    ERROR = "error"  # the harness could not tell: a hang, a crash, a setup error, a cell that could not run
    MISSING = "missing"  # no record: the run stopped first, or never started


class CellOutcome(str, Enum):
    RAN = "ran"
    ERROR = "error"  # its environment could not be built
    SKIPPED = "skipped"  # its backend is absent on this machine
    NOT_RUN = "not run"  # the harness could not run it (registry unreachable, pytest wrote nothing): says nothing of the release


@dataclass(frozen=True)
class Versions:
    """The versions a cell actually had installed."""

    flax: str | None = None
    jax: str | None = None
    jaxlib: str | None = None

    def to_json(self) -> dict:
        return {"flax": self.flax, "jax": self.jax, "jaxlib": self.jaxlib}

    @classmethod
    def from_json(cls, data: dict) -> "Versions":
        return cls(data.get("flax"), data.get("jax"), data.get("jaxlib"))


class _Record:
    """A record's JSON is its fields, the outcome by its value; keys it does not know are ignored on reading."""

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"outcome": self.outcome.value}

    @classmethod
    def from_json(cls, data: dict):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known} | {"outcome": Outcome(data["outcome"])})


@dataclass(frozen=True)
class VariantRecord(_Record):
    """What one variant did in one cell, and whether that is what matrix.yaml expects there."""

    case: str
    variant: str
    outcome: Outcome
    exception: str | None = None
    message: str | None = None
    expected: str | None = None  # "pass", "fail", "unknown" (no rule), or None (nothing was held to a rule)
    expected_detail: str | None = None
    as_expected: bool = False
    duration_s: float | None = None

    @property
    def failure(self) -> Failure:
        return Failure(self.exception, self.message)


@dataclass(frozen=True)
class PropertyRecord(_Record):
    """One property test (a variant over generated sizes): passed, failed (with the command that reruns
    the shrunk example), skipped or error. Kept apart: it never stands in for the variant's record."""

    case: str
    variant: str
    outcome: Outcome
    message: str | None = None
    reproduce: str | None = None
    duration_s: float = 0.0

    @property
    def broken(self) -> bool:
        return self.outcome in (Outcome.FAILED, Outcome.ERROR)


@dataclass(frozen=True)
class CellResult:
    """Everything one cell recorded. ``outcome`` says whether it ran at all; ``reason`` why not."""

    cell: CellId
    outcome: CellOutcome = CellOutcome.RAN
    reason: str | None = None
    complete: bool = True
    versions: Versions = Versions()
    python: str | None = None
    platform: str | None = None
    packages: dict = field(default_factory=dict)
    started: str | None = None
    updated: str | None = None
    records: tuple[VariantRecord, ...] = ()
    properties: tuple[PropertyRecord, ...] = ()

    @classmethod
    def not_run(cls, cell: CellId, outcome: CellOutcome, reason: str) -> "CellResult":
        """A cell that could not run (an install that failed, a backend that is absent)."""
        return cls(cell, outcome, reason)

    @property
    def flax(self) -> str:
        """The Flax release: the installed one where the cell ran, else the one requested."""
        return self.versions.flax or self.cell.flax

    def record(self, case: str, variant: str) -> VariantRecord | None:
        return next((r for r in self.records if (r.case, r.variant) == (case, variant)), None)

    def with_records(self, records, properties, complete: bool, updated: str) -> "CellResult":
        return replace(self, records=tuple(sorted(records, key=_by_variant)),
                       properties=tuple(sorted(properties, key=_by_variant)), complete=complete, updated=updated)

    def to_json(self) -> dict:
        data = {"schema": SCHEMA, "cell": str(self.cell), "backend": self.cell.backend,
                "cell_outcome": self.outcome.value, "complete": self.complete,
                "results": [r.to_json() for r in self.records]}
        if self.outcome is not CellOutcome.RAN:
            return data | {"reason": self.reason}
        return data | {"versions": self.versions.to_json(), "python": self.python, "platform": self.platform,
                       "packages": self.packages, "started": self.started, "updated": self.updated,
                       "properties": [p.to_json() for p in self.properties]}

    @classmethod
    def from_json(cls, data: dict) -> "CellResult":
        return cls(
            cell=CellId.parse(data["cell"]), outcome=CellOutcome(data["cell_outcome"]), reason=data.get("reason"),
            complete=bool(data["complete"]), versions=Versions.from_json(data.get("versions") or {}),
            python=data.get("python"), platform=data.get("platform"), packages=data.get("packages") or {},
            started=data.get("started"), updated=data.get("updated"),
            records=tuple(VariantRecord.from_json(r) for r in data["results"]),
            properties=tuple(PropertyRecord.from_json(p) for p in data.get("properties") or []),
        )

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "CellResult":
        """Read one results file; raise ResultsError (one line, naming the file) when it cannot be used."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ResultsError(f"unreadable results file {Path(path).name}: {exc}") from None
        if not isinstance(data, dict) or data.get("schema", SCHEMA) != SCHEMA:
            raise ResultsError(f"unreadable results file {Path(path).name}: not a results file of schema {SCHEMA}")
        try:
            return cls.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResultsError(f"unreadable results file {Path(path).name}: {type(exc).__name__}: {exc}") from None


def _by_variant(record) -> tuple[str, str]:
    return record.case, record.variant


def cell_file(cells_dir: Path, cell: CellId) -> Path:
    """Where a cell's results file lives: the one place the name is made (it is never parsed back)."""
    return Path(cells_dir) / f"{cell}.json"


def load_cells(cells_dir: Path) -> tuple[dict[CellId, CellResult], dict[Path, str]]:
    """Every usable results file in ``cells_dir`` by the cell it records, and the unusable files with why.

    An unusable file says nothing about which cell it was; a caller that wants a cell looks its
    ``cell_file`` up among them.
    """
    cells, unreadable = {}, {}
    for path in sorted(Path(cells_dir).glob("*.json")):
        try:
            result = CellResult.load(path)
        except ResultsError as exc:
            unreadable[path] = str(exc)
            continue
        cells[result.cell] = result
    return cells, unreadable


@dataclass(frozen=True)
class Row:
    """One cell, case and variant of the merged report (results/matrix.json)."""

    cell: CellId
    versions: Versions
    record: VariantRecord
    property_failure: str | None = None  # right on the example, wrong on a generated one: the shrunk error
    reproduce: str | None = None  # the command that reruns that example

    @property
    def flax(self) -> str:
        return self.versions.flax or self.cell.flax

    @property
    def as_expected(self) -> bool:
        return self.record.as_expected and self.property_failure is None

    def to_json(self) -> dict:
        out = {k: v for k, v in self.record.to_json().items() if k != "expected_detail"}
        out |= {"cell": str(self.cell), "backend": self.cell.backend, "flax": self.flax, "jax": self.versions.jax,
                "jaxlib": self.versions.jaxlib, "as_expected": self.as_expected}
        if self.property_failure is not None:
            out |= {"property_failure": self.property_failure, "reproduce": self.reproduce}
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Row":
        record = VariantRecord.from_json(data)
        return cls(CellId.parse(data["cell"]), Versions.from_json(data), record,
                   data.get("property_failure"), data.get("reproduce"))


def write_merged(path: Path, rows: list[Row], cells: dict[CellId, CellResult], run: dict) -> None:
    """results/matrix.json: the run, each cell's environment, and every row."""
    environments = {str(c): {"versions": r.versions.to_json() if r.outcome is CellOutcome.RAN else None,
                             "python": r.python, "platform": r.platform, "packages": r.packages or None,
                             "updated": r.updated, "complete": r.complete} for c, r in cells.items()}
    write_json(path, {"run": run, "environments": environments, "cells": [row.to_json() for row in rows]})


def load_merged(path: Path) -> list[Row]:
    """The rows of a merged report; [] when there is none, ResultsError when it cannot be used."""
    if not Path(path).exists():
        return []
    try:
        return [Row.from_json(row) for row in json.loads(Path(path).read_text())["cells"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ResultsError(f"unreadable merged results {Path(path).name}: {type(exc).__name__}: {exc}") from None
