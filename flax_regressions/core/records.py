"""What one variant did in one cell: the records a results file holds, each owning its JSON.

A record is read field by field against its declared type, so a file from another tool (or a hand-edited
one) is refused with the field that is wrong rather than shown as "unknown: None" (see core.results).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from enum import Enum
from typing import Any, Self, cast

from flax_regressions.core.failure import Failure


class Outcome(str, Enum):
    """What one variant did in one cell."""

    PASSED = "passed"
    FAILED = "failed"  # it raised: the exception and message say how
    SKIPPED = "skipped"
    ERROR = "error"  # the harness could not tell: a hang, a crash, a setup error, a cell that could not run
    MISSING = "missing"  # no record: the run stopped first, or never started


NONE = type(None)
_JSON_TYPES = {
    "str": str,
    "str | None": (str, NONE),
    "bool": bool,
    "float | None": (int, float, NONE),
    "float": (int, float),
    "Outcome": str,
}


def checked(data: object, types: dict[str, Any], required: Iterable[str]) -> dict[str, Any]:
    """The entries of ``data`` that ``types`` names, each an instance of its type(s), the ``required`` ones
    present: the one schema check of every results file (records here, cells in core.results). ValueError
    says which entry is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, found {type(data).__name__}")
    for name in required:
        if name not in data:
            raise ValueError(f"no {name!r}")
    for name, kind in types.items():
        if name in data and not isinstance(data[name], kind):
            kinds = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ValueError(f"{name!r} is {type(data[name]).__name__}, not {kinds}")
    return {name: data[name] for name in types if name in data}


class _Record:
    """A record's JSON is its fields, the outcome by its value; keys it does not know are ignored on reading."""

    outcome: Outcome  # each record's own field

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(cast(Any, self))} | {"outcome": self.outcome.value}

    @classmethod
    def from_json(cls, data: object) -> Self:
        own = fields(cast(Any, cls))
        values = checked(
            data,
            {f.name: _JSON_TYPES.get(str(f.type), object) for f in own},
            [f.name for f in own if f.default is MISSING and f.default_factory is MISSING],
        )
        return cls(**values | {"outcome": Outcome(values["outcome"])})


NOT_MEASURED = "not measured yet (bisect --write measures it)"  # the expected_detail of a variant with no rules


@dataclass(frozen=True)
class VariantRecord(_Record):
    """What one variant did in one cell, and whether that is what matrix.yaml expects there."""

    case: str
    variant: str
    outcome: Outcome
    exception: str | None = None
    message: str | None = None
    expected: str | None = None  # "pass", "fail", "warn", "unknown" (no rule), or None (nothing was held to a rule)
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
