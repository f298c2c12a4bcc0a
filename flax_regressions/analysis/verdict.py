"""The gate's verdict: what moving from one build to another changes, as a frozen value that owns its JSON.

It compares what actually happens on each side, the outcome and the failure of every variant, not whether either
side matches matrix.yaml: a gate is run before matrix.yaml knows the new release. The changes that matter to a team
upgrading are a fix that stops working and a bug that starts reproducing (``BREAKING``); a bug that goes away (its
workarounds can be dropped), a fix that starts working and an error that changes are worth knowing, not breaking. A
variant that crashes the interpreter or hangs past its timeout did not work. ``render.gate`` words it for people;
``Verdict.to_json`` is gate.json, the one place its layout is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import CellOutcome, CellResult
from flax_regressions.core.variant import is_bug, kind

KINDS = ("fix_breaks", "bug_appears", "bug_gone", "fix_works", "error_changes")  # in the order a verdict lists them
BREAKING = frozenset({"fix_breaks", "bug_appears"})
NOT_WORKING = (Outcome.FAILED, Outcome.ERROR)


class GateError(Error):
    """A usage or environment problem: the gate cannot give a verdict. Its message is one line."""


@dataclass(frozen=True)
class Seen:
    """What one variant did on one side."""

    outcome: str
    exception: str | None = None
    message: str | None = None

    @classmethod
    def of(cls, record: VariantRecord) -> Seen:
        return cls(record.outcome.value, record.exception, record.message)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "exception": self.exception, "message": self.message}


@dataclass(frozen=True)
class Change:
    """One variant that behaves differently on the two sides."""

    case: str
    variant: str
    change: str  # one of KINDS
    before: Seen
    after: Seen
    droppable: tuple[str, ...] = ()  # for a bug that goes away: the workarounds no longer needed
    cause: str | None = None  # for a breaking change: "flax", "jax", or None when it cannot be told
    with_newer_jax: Seen | None = None  # what the older Flax did with the newer JAX, when that was run

    @property
    def breaking(self) -> bool:
        return self.change in BREAKING

    def to_json(self) -> dict[str, Any]:
        out = {
            "case": self.case,
            "variant": self.variant,
            "kind": kind(self.variant),
            "change": self.change,
            "breaking": self.breaking,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
        }
        if self.change == "bug_gone":
            out["droppable"] = list(self.droppable)
        if self.breaking:
            out["cause"] = self.cause
        if self.with_newer_jax is not None:
            out["with_newer_jax"] = self.with_newer_jax.to_json()
        return out


@dataclass(frozen=True)
class Side:
    """One side of the gate: what was asked for, and what its cell had installed."""

    requested: str | None
    cell: str | None = None
    flax: str | None = None
    jax: str | None = None
    jaxlib: str | None = None
    python: str | None = None
    platform: str | None = None

    @classmethod
    def of(cls, result: CellResult, requested: str | None) -> Side:
        v = result.versions
        return cls(requested, str(result.cell), v.flax, v.jax, v.jaxlib, result.python, result.platform)

    @property
    def pinned_jax(self) -> bool:
        """Whether this side's JAX was chosen by hand (its cell is named so)."""
        return "-jax-" in (self.cell or "")

    def to_json(self) -> dict[str, Any]:
        if self.cell is None:
            return {"requested": self.requested}
        return {
            "requested": self.requested,
            "cell": self.cell,
            "flax": self.flax,
            "jax": self.jax,
            "jaxlib": self.jaxlib,
            "python": self.python,
            "platform": self.platform,
        }


@dataclass(frozen=True)
class Verdict:
    """Every change from one side to the other, and the exit status they give (core.status)."""

    before: Side
    after: Side
    backend: str
    changes: tuple[Change, ...] = ()
    unchanged: tuple[str, ...] = ()
    not_compared: tuple[str, ...] = ()  # skipped on a side
    reason: str | None = None  # why there is no verdict
    mixed: Side | None = None  # the older Flax run with the newer JAX, to tell the cause of a break
    cause_note: str | None = None  # why the cause could not be told
    when: str | None = None
    lock: str | None = None

    @classmethod
    def error(
        cls,
        reason: str,
        before: str | None,
        after: str | None,
        backend: str,
        when: str | None = None,
        lock: str | None = None,
    ) -> Verdict:
        return cls(Side(before), Side(after), backend, reason=reason, when=when, lock=lock)

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.breaking)

    @property
    def exit_code(self) -> int:
        if self.reason is not None:
            return status.USAGE_ERROR
        return status.NOT_AS_EXPECTED if self.breaking else status.OK

    @property
    def word(self) -> str:
        return "error" if self.reason is not None else "breaks" if self.breaking else "ok"

    @property
    def jax_gate(self) -> bool:
        """Flax held, JAX moved: the gate compares two JAX releases."""
        return bool(self.before.flax) and self.before.flax == self.after.flax and self.before.jax != self.after.jax

    def to_json(self) -> dict[str, Any]:
        out = {
            "exit_code": self.exit_code,
            "verdict": self.word,
            "reason": self.reason,
            "breaking": len(self.breaking),
            "changes": [c.to_json() for c in self.changes],
            "unchanged": list(self.unchanged),
            "not_compared": list(self.not_compared),
            "from": self.before.to_json(),
            "to": self.after.to_json(),
            "backend": self.backend,
            "when": self.when,
            "lock": self.lock,
        }
        if self.mixed is not None:
            out["mixed"] = self.mixed.to_json()
        if self.cause_note is not None:
            out["cause_note"] = self.cause_note
        return out


def classify(variant: str, before: VariantRecord, after: VariantRecord) -> str | None:
    """The kind of change between two records of one variant (one of KINDS), or None when nothing changed."""
    was, now = before.outcome, after.outcome
    if was is Outcome.PASSED and now in NOT_WORKING:
        return "bug_appears" if is_bug(variant) else "fix_breaks"
    if was in NOT_WORKING and now is Outcome.PASSED:
        return "bug_gone" if is_bug(variant) else "fix_works"
    if (
        was is not Outcome.PASSED
        and now is not Outcome.PASSED
        and (was is not now or not before.failure.same_as(after.failure))
    ):
        return "error_changes"
    return None


def check_cell(result: CellResult, version: str, backend: str) -> None:
    """Refuse a cell whose results cannot be compared: it could not run, its run stopped before the end, or no
    variant ran. One variant's error is a result, not this."""
    where = f"flax {version} ({backend})"
    if result.outcome is not CellOutcome.RAN:
        raise GateError(f"{where}: {result.outcome.value}: {result.reason}")
    if result.rerun_failed:
        raise GateError(f"{where}: not run now: {result.rerun_failed}")
    if not result.complete:
        raise GateError(f"{where}: the cell's run stopped before it finished")
    if not result.records:
        raise GateError(f"{where}: no variant ran (check -k)")


def compare(before: CellResult, after: CellResult, backend: str = "cpu") -> Verdict:
    """The verdict on two cells: every change (sides as their cells name them; the caller adds what was asked)."""
    old = {(r.case, r.variant): r for r in before.records}
    new = {(r.case, r.variant): r for r in after.records}
    one_side = sorted(set(old) ^ set(new))
    if one_side:
        case, variant = one_side[0]
        raise GateError(f"{case}-{variant} ran on only one of the two cells: compare runs of the same variants")
    changes, unchanged, not_compared = [], [], []
    for case, variant in sorted(old):
        a, b = old[case, variant], new[case, variant]
        if Outcome.SKIPPED in (a.outcome, b.outcome):
            not_compared.append(f"{case}-{variant}")
            continue
        change = classify(variant, a, b)
        if change is None:
            unchanged.append(f"{case}-{variant}")
            continue
        droppable = _droppable(case, new) if change == "bug_gone" else ()
        changes.append(Change(case, variant, change, Seen.of(a), Seen.of(b), droppable))
    return Verdict(
        Side.of(before, None), Side.of(after, None), backend, tuple(changes), tuple(unchanged), tuple(not_compared)
    )


def _droppable(case: str, after: dict[tuple[str, str], VariantRecord]) -> tuple[str, ...]:
    """The workarounds of ``case`` that are no longer needed: none while any bug variant still fails."""
    variants = {v: r for (c, v), r in after.items() if c == case}
    if any(is_bug(v) and r.outcome is not Outcome.PASSED for v, r in variants.items()):
        return ()
    return tuple(sorted(v for v in variants if not is_bug(v)))
