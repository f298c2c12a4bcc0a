"""What one probe saw, in the form the search compares: each variant's outcome, exception type and message.

Two probes differ for a variant when its outcome or exception type differs, or when its messages are not
the same failure (core.failure): a message reworded around a stable phrase is not a change point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flax_regressions.core.failure import Failure
from flax_regressions.core.records import Outcome, VariantRecord


@dataclass(frozen=True)
class Behaviour:
    """What one variant did in one probe."""

    variant: str
    expect: (
        str  # "pass" or "fail" (as a matrix.yaml rule says it), or what happened instead: "skipped", "error", "missing"
    )
    exception: str | None = None  # the exception type, for "fail"
    message: str = ""

    @classmethod
    def of(cls, variant: str, record: VariantRecord | None, missing: str) -> Behaviour:
        """From a cell's record of the variant; ``missing`` is the message when the cell has none."""
        if record is None:
            return cls(variant, "missing", message=missing)
        expect = {Outcome.PASSED: "pass", Outcome.FAILED: "fail"}.get(record.outcome, record.outcome.value)
        return cls(variant, expect, record.exception if expect == "fail" else None, record.message or "")

    @property
    def failure(self) -> Failure:
        return Failure(self.exception, self.message)

    def differs(self, other: Behaviour) -> bool:
        """Another outcome, another exception type, or a message that is another failure."""
        if (self.expect, self.exception) != (other.expect, other.exception):
            return True
        return self.expect == "fail" and not self.failure.same_as(other.failure)

    def __str__(self) -> str:
        what = (self.exception or self.expect) if self.expect == "fail" else self.expect
        return f"{self.variant}:{what}"

    def to_json(self) -> dict:
        """As probes.json keeps it: ``key`` is ["pass"], ["fail", exception type] or [what happened instead]."""
        return {
            "key": [self.expect, self.exception] if self.expect == "fail" else [self.expect],
            "message": self.message,
        }

    @classmethod
    def from_json(cls, variant: str, data: dict) -> Behaviour:
        expect, *exception = data["key"]
        return cls(variant, expect, exception[0] if exception else None, data["message"])


@dataclass(frozen=True)
class Observation:
    """What one probe saw: every variant of the case, in the case's order."""

    behaviours: tuple[Behaviour, ...]

    def of(self, variant: str) -> Behaviour:
        return next(b for b in self.behaviours if b.variant == variant)

    def differs(self, other: Observation, variants: list[str]) -> bool:
        return any(self.of(v).differs(other.of(v)) for v in variants)


def differ_in(variants: list[str]) -> Callable[[Observation, Observation], bool]:
    """``differ`` for the search: any of ``variants`` behaves differently."""
    return lambda a, b: a.differs(b, variants)


def show(outcome: Observation | str, variants: list[str]) -> str:
    """A probe's answer on one line: ``bug:ValueError  fix:pass``, or that the release cannot be installed."""
    if not isinstance(outcome, Observation):
        return "cannot be installed"
    return "  ".join(str(b) for b in outcome.behaviours if b.variant in variants)
