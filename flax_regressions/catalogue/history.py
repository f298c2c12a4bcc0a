"""The catalogue's measured history: what every variant did on every release a sweep ran, with the versions installed.

``history.json`` stands beside a catalogue's ``matrix.yaml`` (the built-in one, or a cases directory's), written by
``sweep --write``. It is the evidence behind the rules, and what ``audit`` and ``scan`` count as measured: a rule
such as ``>=0.11.0`` is open-ended, so only the (Flax, JAX) pairs a run measured are answered from it; anything
else is "not measured", named as such. A team's own runs (the work directory's results files) count as well.

One entry per cell (Flax, JAX, backend): the versions it had installed, whether JAX was chosen by hand, and per
case and variant ``passed`` or ``failed: <exception type>`` (a watched warning is a failure of its category, as a
cell records it). A later sweep of the same cell replaces the cases it ran and keeps the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from flax_regressions.catalogue.rules import Rule
from flax_regressions.core.errors import Error
from flax_regressions.core.files import write_json
from flax_regressions.core.records import Outcome
from flax_regressions.core.results import CellOutcome, CellResult

FILE = "history.json"
SCHEMA = 1


class HistoryError(Error):
    """A history file that cannot be read: one line naming it."""


@dataclass(frozen=True)
class MeasuredCell:
    flax: str
    jax: str
    backend: str
    jax_chosen: bool  # JAX chosen by hand (bisect's JAX axis, ``run --jax``), not the release's own
    date: str  # the day the results were recorded
    results: dict[str, dict[str, str]] = field(default_factory=dict)  # case -> variant -> "passed" | "failed: <Type>"

    def key(self) -> tuple[str, str, str]:
        return (self.flax, self.jax, self.backend)

    def to_json(self) -> dict:
        return {
            "flax": self.flax,
            "jax": self.jax,
            "backend": self.backend,
            "jax_chosen": self.jax_chosen,
            "date": self.date,
            "results": self.results,
        }

    @classmethod
    def from_json(cls, data: dict) -> MeasuredCell:
        return cls(data["flax"], data["jax"], data["backend"], data["jax_chosen"], data["date"], data["results"])


def agrees(rule: Rule, record: str) -> bool:
    """Whether a recorded outcome is what the rule expects: a pass, or a failure of the rule's exception type (the
    record keeps the type's bare name, the rule may name its module)."""
    if rule.expect == "pass":
        return record == "passed"
    raised = record.partition(": ")[2]
    return record != "passed" and (rule.raises is None or raised == rule.raises.rsplit(".", 1)[-1])


def outcome_text(outcome: Outcome, exception: str | None) -> str:
    return "passed" if outcome is Outcome.PASSED else f"{outcome.value}: {exception or '?'}"


def of_result(result: CellResult) -> MeasuredCell | None:
    """A cell's results as history, or None when they measure nothing whole (not run, unfinished, no versions)."""
    if result.outcome is not CellOutcome.RAN or not result.complete or not result.versions.flax:
        return None
    if not result.versions.jax or result.rerun_failed:
        return None
    results: dict[str, dict[str, str]] = {}
    for record in result.records:
        if record.outcome in (Outcome.PASSED, Outcome.FAILED):
            results.setdefault(record.case, {})[record.variant] = outcome_text(record.outcome, record.exception)
    day = (result.updated or result.started or "")[:10]
    return MeasuredCell(
        result.versions.flax, result.versions.jax, result.cell.backend, result.cell.jax is not None, day, results
    )


def read(path: Path) -> list[MeasuredCell]:
    """The history at ``path``; none when there is no file yet."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
        if data.get("schema") != SCHEMA:
            raise HistoryError(f"{path}: schema {data.get('schema')!r}, not {SCHEMA}: measure it again (sweep --write)")
        return [MeasuredCell.from_json(cell) for cell in data["cells"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HistoryError(f"{path}: cannot read the measured history ({type(exc).__name__}: {exc})") from None


def merge(old: list[MeasuredCell], new: list[MeasuredCell]) -> list[MeasuredCell]:
    """``old`` with ``new`` laid over it: a cell measured again keeps the cases only the old run had."""
    cells = {cell.key(): cell for cell in old}
    for cell in new:
        before = cells.get(cell.key())
        results = (before.results if before else {}) | cell.results
        cells[cell.key()] = MeasuredCell(cell.flax, cell.jax, cell.backend, cell.jax_chosen, cell.date, results)
    return sorted(cells.values(), key=lambda c: (c.backend, Version(c.flax), Version(c.jax)))


def write(path: Path, cells: list[MeasuredCell]) -> None:
    write_json(path, {"schema": SCHEMA, "about": __doc__.split("\n\n")[0], "cells": [c.to_json() for c in cells]})


def record(directory: Path, results: list[CellResult], cases: set[str]) -> Path | None:
    """Lay the measured ``results`` of ``cases`` over the history beside ``directory``'s matrix.yaml; the file
    written, or None when the runs measured none of them."""
    measured = []
    for result in results:
        cell = of_result(result)
        if cell is not None and (kept := {c: v for c, v in cell.results.items() if c in cases}):
            measured.append(MeasuredCell(cell.flax, cell.jax, cell.backend, cell.jax_chosen, cell.date, kept))
    if not measured:
        return None
    path = directory / FILE
    write(path, merge(read(path), measured))
    return path
