"""Which cases bite at a pair of versions, and what changes between two, from the measured rules alone: no cell runs.

A case's state at a point (a Flax release, a JAX, a backend) is what its rules expect there, but only where a run
measured that very pair (catalogue.history: the catalogue's history and this work directory's own results): a rule
like ``>=0.11.0`` is open-ended, and a release newer than the last one measured, or a JAX other than the ones
measured with that release, is *not measured*: unknown, with the command that measures it. Where the run and the
rule disagree the state is unknown too (the rule needs measuring again). Between two points each case is
``worse`` (a bug appears, a workaround breaks), ``bites`` (a bug still reproduces), ``better`` (one goes away, a
workaround starts working), ``fine``, or ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

from flax_regressions.catalogue import history
from flax_regressions.catalogue.history import MeasuredCell
from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.results import CellResult, ResultsError
from flax_regressions.core.variant import is_bug
from flax_regressions.core.workspace import Workspace

KINDS = ("worse", "unknown", "bites", "better", "fine")  # most urgent first: the order reports sort cases in


@dataclass(frozen=True)
class Point:
    flax: str
    jax: str | None = None  # None: the JAX that release was measured with (its own, not one chosen by hand)
    backend: str = "cpu"

    def describe(self) -> str:
        return f"flax {self.flax}" + (f" + jax {self.jax}" if self.jax else "")


@dataclass(frozen=True)
class CaseAt:
    """One case at one point: its bugs that reproduce and its workarounds that work, or why that is unknown."""

    point: Point
    jax: str | None = None  # the JAX the answer was measured with
    unknown: str | None = None  # why the answer is not known, and how to measure it
    reproduces: tuple[str, ...] = ()
    works: tuple[str, ...] = ()
    broken: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseVerdict:
    case: str
    kind: str  # one of KINDS
    before: CaseAt
    after: CaseAt | None = None
    appears: tuple[str, ...] = ()
    goes_away: tuple[str, ...] = ()
    breaks: tuple[str, ...] = ()
    starts_working: tuple[str, ...] = ()
    workarounds: tuple[str, ...] = ()  # the fixes that work on both sides

    @property
    def unknown(self) -> str | None:
        return self.before.unknown or (self.after.unknown if self.after else None)


def evidence(the_matrix: Matrix, workspace: Workspace) -> list[MeasuredCell]:
    """Every measured cell: the history beside each matrix.yaml read, then this work directory's own runs."""
    cells: list[MeasuredCell] = []
    for directory in dict.fromkeys(path.parent for path in the_matrix.declared_in.values()):
        cells = history.merge(cells, history.read(directory / history.FILE))
    own = []
    for path in sorted(workspace.results.glob("**/cells/*.json")) if workspace.results.is_dir() else []:
        try:
            measured = history.of_result(CellResult.load(path))
        except ResultsError:
            continue  # a damaged file measures nothing; the command that wrote it said so
        if measured is not None:
            own.append(measured)
    return history.merge(cells, own)


def newest_measured(cells: list[MeasuredCell], backend: str = "cpu") -> str | None:
    releases = [Version(c.flax) for c in cells if c.backend == backend and not c.jax_chosen]
    return str(max(releases)) if releases else None


def state(the_matrix: Matrix, case: str, point: Point, cells: list[MeasuredCell]) -> CaseAt:
    """The case at ``point``, or why it is unknown there."""
    found = _cell(case, point, cells)
    if isinstance(found, str):
        return CaseAt(point, unknown=found)
    reproduces: list[str] = []
    works: list[str] = []
    broken: list[str] = []
    for variant, _ in the_matrix.cases[case].items():
        rule = the_matrix.expectation(case, variant, point.flax, found.jax, point.backend)
        seen = found.results[case].get(variant)
        where = f"flax {point.flax} + jax {found.jax}"
        if rule is None:
            return CaseAt(point, found.jax, f"{case}-{variant} has no rule for {where} (bisect {case} --write)")
        if seen is None:
            return CaseAt(point, found.jax, f"{case}-{variant} did not run on {where} ({_measure(case, point)})")
        if not history.agrees(rule, seen):
            why = f"{case}-{variant} on {where}: the rule says {rule.describe()}, the run {seen}: measure it again"
            return CaseAt(point, found.jax, why)
        if is_bug(variant):
            reproduces += [variant] if rule.fails else []
        else:
            (broken if rule.fails else works).append(variant)
    return CaseAt(point, found.jax, None, tuple(reproduces), tuple(works), tuple(broken))


def verdict(case: str, before: CaseAt, after: CaseAt | None = None) -> CaseVerdict:
    if before.unknown or (after and after.unknown):
        return CaseVerdict(case, "unknown", before, after)
    if after is None:
        return CaseVerdict(case, "bites" if before.reproduces else "fine", before, workarounds=before.works)
    appears = tuple(v for v in after.reproduces if v not in before.reproduces)
    goes_away = tuple(v for v in before.reproduces if v not in after.reproduces)
    breaks = tuple(v for v in after.broken if v in before.works)
    starts = tuple(v for v in after.works if v in before.broken)
    kind = (
        "worse" if appears or breaks else "bites" if after.reproduces else "better" if goes_away or starts else "fine"
    )
    both = tuple(v for v in before.works if v in after.works)
    return CaseVerdict(case, kind, before, after, appears, goes_away, breaks, starts, both)


def audit(
    the_matrix: Matrix, before: Point, after: Point | None, cells: list[MeasuredCell], cases: list[str] | None = None
) -> list[CaseVerdict]:
    """Every case's verdict (``cases``: these only), most urgent first."""
    verdicts = [
        verdict(case, state(the_matrix, case, before, cells), state(the_matrix, case, after, cells) if after else None)
        for case in cases or list(the_matrix.cases)
    ]
    return sorted(verdicts, key=lambda v: KINDS.index(v.kind))


def _cell(case: str, point: Point, cells: list[MeasuredCell]) -> MeasuredCell | str:
    """The measured cell that answers for ``case`` at ``point``, or why there is none."""
    same = [c for c in cells if c.flax == point.flax and c.backend == point.backend]
    if not same:
        measured = sorted({Version(c.flax) for c in cells if c.backend == point.backend})
        span = f"{measured[0]} to {measured[-1]}" if measured else "none"
        newer = bool(measured) and Version(point.flax) > measured[-1]
        return (
            f"flax {point.flax} is {'newer than the last release' if newer else 'not a release'} measured "
            f"(measured: {span}; {_measure(case, point)})"
        )
    if point.jax:
        same = [c for c in same if c.jax == point.jax]
        if not same:
            jaxes = ", ".join(sorted({c.jax for c in cells if c.flax == point.flax}, key=Version))
            return f"flax {point.flax} was measured with jax {jaxes}, not {point.jax} ({_measure(case, point)})"
    else:
        same = [c for c in same if not c.jax_chosen] or same
    with_case = [c for c in same if case in c.results]
    if not with_case:
        return f"{case} is not measured on {point.describe()} ({_measure(case, point)})"
    return max(with_case, key=lambda c: c.date)


def _measure(case: str, point: Point) -> str:
    jax = f" --jax {point.jax}" if point.jax else ""
    return f"measure it: flax-regressions run --flax {point.flax}{jax} -- -k {case}"
