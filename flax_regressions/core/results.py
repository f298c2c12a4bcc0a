"""The results model: what a cell recorded, and the one module that writes and reads results files.

A cell is one Flax release (or ``latest``) on one backend, optionally with a JAX chosen by hand. Its
pytest run keeps one file, ``results/cells/<cell>.json``, and replaces it whole after every test
(core.files.write_json), so a run that is killed leaves a valid file saying ``complete: false``. The merged
report, ``results/matrix.json``, is core.merged's. Everything else (the report, the gate, the bug report,
bisect, sweep) takes the objects below and never parses JSON itself.

A file is checked against the schema as it is read, field by field: a file this code cannot use (another
tool's JSON, a record without its outcome, a list where a record belongs) is a ``ResultsError`` naming the
file and the field, which the report shows as that cell's row, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from flax_regressions.core.cells import CellId
from flax_regressions.core.errors import Error
from flax_regressions.core.files import write_json
from flax_regressions.core.records import NONE, PropertyRecord, VariantRecord, checked

R = TypeVar("R", VariantRecord, PropertyRecord)
SCHEMA = 1  # files from before the schema field have the same layout and load as version 1


class ResultsError(Error):
    """A results file that cannot be used. Its message is one line naming the file."""


class CellOutcome(str, Enum):
    RAN = "ran"
    ERROR = "error"  # its environment could not be built
    SKIPPED = "skipped"  # its backend is absent on this machine
    NOT_RUN = "not run"  # the harness could not run it (registry unreachable, pytest wrote nothing): not the release's


@dataclass(frozen=True)
class Versions:
    """The versions a cell actually had installed."""

    flax: str | None = None
    jax: str | None = None
    jaxlib: str | None = None

    def to_json(self) -> dict:
        return {"flax": self.flax, "jax": self.jax, "jaxlib": self.jaxlib}

    @classmethod
    def from_json(cls, data: dict) -> Versions:
        return cls(data.get("flax"), data.get("jax"), data.get("jaxlib"))


@dataclass(frozen=True)
class CompileCache:
    """JAX's persistent compilation cache in a cell's run: where it was (None: off), and what it did."""

    directory: str | None = None
    requests: int = 0  # compilations that asked the cache
    served: int = 0  # of those, the ones it answered (the rest were compiled, then written to it)

    def to_json(self) -> dict:
        return {"directory": self.directory, "requests": self.requests, "served": self.served}

    @classmethod
    def from_json(cls, data: dict) -> CompileCache:
        return cls(data.get("directory"), int(data.get("requests") or 0), int(data.get("served") or 0))


_CELL_FIELDS = {
    "cell": str,
    "cell_outcome": str,
    "complete": bool,
    "results": list,
    "reason": (str, NONE),
    "versions": (dict, NONE),
    "packages": (dict, NONE),
    "properties": (list, NONE),
    "rerun_failed": (str, NONE),
    "compile_cache": (dict, NONE),
    "run_id": (str, NONE),
}
_REQUIRED = ("cell", "cell_outcome", "complete", "results")


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
    rerun_failed: str | None = None  # a later attempt could not run the cell (registry unreachable): why
    compile_cache: CompileCache | None = None  # None: a file from before it was recorded
    run_id: str | None = None  # the pytest run that wrote the file last (running.cells: did this run record anything?)

    @classmethod
    def not_run(cls, cell: CellId, outcome: CellOutcome, reason: str) -> CellResult:
        """A cell that could not run (an install that failed, a backend that is absent)."""
        return cls(cell, outcome, reason)

    @property
    def flax(self) -> str:
        """The Flax release: the installed one where the cell ran, else the one requested."""
        return self.versions.flax or self.cell.flax

    def record(self, case: str, variant: str) -> VariantRecord | None:
        return next((r for r in self.records if (r.case, r.variant) == (case, variant)), None)

    def with_records(
        self, records: Iterable[VariantRecord], properties: Iterable[PropertyRecord], complete: bool, updated: str
    ) -> CellResult:
        return replace(
            self,
            records=tuple(sorted(records, key=_by_variant)),
            properties=tuple(sorted(properties, key=_by_variant)),
            complete=complete,
            updated=updated,
        )

    def to_json(self) -> dict:
        data = {
            "schema": SCHEMA,
            "cell": str(self.cell),
            "backend": self.cell.backend,
            "cell_outcome": self.outcome.value,
            "complete": self.complete,
            "results": [r.to_json() for r in self.records],
        }
        if self.outcome is not CellOutcome.RAN:
            return data | {"reason": self.reason}
        return (
            data
            | {
                "versions": self.versions.to_json(),
                "python": self.python,
                "platform": self.platform,
                "packages": self.packages,
                "started": self.started,
                "updated": self.updated,
                "properties": [p.to_json() for p in self.properties],
                "compile_cache": self.compile_cache.to_json() if self.compile_cache else None,
                "run_id": self.run_id,
            }
            | ({"rerun_failed": self.rerun_failed} if self.rerun_failed else {})
        )

    @classmethod
    def from_json(cls, data: dict) -> CellResult:
        checked(data, _CELL_FIELDS, _REQUIRED)
        return cls(
            cell=CellId.parse(data["cell"]),
            outcome=CellOutcome(data["cell_outcome"]),
            reason=data.get("reason"),
            complete=data["complete"],
            versions=Versions.from_json(data.get("versions") or {}),
            python=data.get("python"),
            platform=data.get("platform"),
            packages=data.get("packages") or {},
            started=data.get("started"),
            updated=data.get("updated"),
            records=_each(VariantRecord, "results", data["results"]),
            properties=_each(PropertyRecord, "properties", data.get("properties") or []),
            rerun_failed=data.get("rerun_failed"),
            compile_cache=CompileCache.from_json(data["compile_cache"]) if data.get("compile_cache") else None,
            run_id=data.get("run_id"),
        )

    def write(self, path: Path) -> None:
        write_json(path, self.to_json(), indent=None)  # rewritten after every test of a cell: one line

    @classmethod
    def load(cls, path: Path) -> CellResult:
        """Read one results file; raise ResultsError (one line, naming the file) when it cannot be used."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ResultsError(f"unreadable results file {Path(path).name}: {exc}") from None
        if not isinstance(data, dict) or data.get("schema", SCHEMA) != SCHEMA:
            found = f"schema {data['schema']!r}" if isinstance(data, dict) else f"a JSON {type(data).__name__}"
            raise ResultsError(
                f"unreadable results file {Path(path).name}: not a results file of schema {SCHEMA} (found {found})"
            )
        try:
            return cls.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResultsError(f"unreadable results file {Path(path).name}: {exc}") from None


def _each(record_type: type[R], key: str, items: list[Any]) -> tuple[R, ...]:
    out = []
    for n, item in enumerate(items):
        try:
            out.append(record_type.from_json(item))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{key}[{n}]: {exc}") from None
    return tuple(out)


def _by_variant(record: VariantRecord | PropertyRecord) -> tuple[str, str]:
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
