"""Find every point where an outcome changes along an ordered list of releases, probing as few as possible.

The search assumes outcomes are piecewise constant along the list: it probes both ends (and any seeds),
and splits every interval whose two probed ends differ, until each change lies between two neighbours.
One change among N releases costs about log2(N) probes; k changes about k*log2(N). A behaviour that
changes and changes back between two probes with the same outcome stays invisible, which is what the
seeds are for (probe the releases you already know something about).

It knows nothing about Flax: ``probe(item)`` returns a hashable outcome, or ``UNINSTALLABLE`` for an item
that cannot be set up (the search then probes a neighbour instead). Each item is probed once; the two
sides of every change are probed a second time (``confirm``), and an item whose two results differ is
reported as flaky and searched around like an uninstallable one, so a one-off result cannot invent or
hide a change point.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

UNINSTALLABLE = "uninstallable"
FLAKY = "flaky"

ItemT = TypeVar("ItemT")  # an item: a release
OutcomeT = TypeVar("OutcomeT")  # what probing it says


@dataclass
class Search(Generic[ItemT, OutcomeT]):
    """What a search learned: outcomes of the probed items, the items it had to skip, and the change points."""

    items: list[ItemT]
    outcomes: dict[int, OutcomeT] = field(default_factory=dict)  # index -> outcome (its first probe)
    skipped: dict[int, str] = field(default_factory=dict)  # index -> UNINSTALLABLE or FLAKY
    flaky: dict[int, tuple[OutcomeT, OutcomeT | str]] = field(
        default_factory=dict
    )  # index -> the two outcomes that disagreed
    probes: int = 0  # probe() calls, re-runs included
    changes: list[tuple[int, int]] = field(default_factory=list)  # (last index before, first index after)

    @property
    def probed(self) -> list[int]:
        """Indices with a trusted outcome, in order."""
        return sorted(self.outcomes)


def search(
    items: Sequence[ItemT],
    probe: Callable[[ItemT], OutcomeT | str],
    *,
    seeds: Sequence[ItemT] = (),
    differ: Callable[[OutcomeT, OutcomeT], bool] = operator.ne,
    confirm: bool = True,
) -> Search[ItemT, OutcomeT]:
    """Probe ``items`` (ordered) until every change of outcome lies between two adjacent probed items.

    ``seeds`` are items to probe up front besides the two ends. ``differ(a, b)`` says whether two outcomes
    count as different (default ``!=``). With ``confirm``, both sides of each change are probed again.
    """
    found: Search[ItemT, OutcomeT] = Search(list(items))
    n = len(found.items)
    confirmed: set[int] = set()

    def look(i: int) -> None:
        found.probes += 1
        outcome = probe(found.items[i])
        if outcome == UNINSTALLABLE:
            found.skipped[i] = UNINSTALLABLE
        else:
            found.outcomes[i] = cast(OutcomeT, outcome)

    def unknown(i: int) -> bool:
        return i not in found.outcomes and i not in found.skipped

    def ends() -> None:
        """The first and last installable, trusted items (probing inward past uninstallable ones)."""
        for order in (range(n), range(n - 1, -1, -1)):
            for i in order:
                if i in found.outcomes:
                    break
                if unknown(i):
                    look(i)
                    if i in found.outcomes:
                        break

    def split_once() -> bool:
        """Probe one item inside the first interval whose ends differ; False when nothing is left to split."""
        probed = found.probed
        for a, b in zip(probed, probed[1:]):
            if not differ(found.outcomes[a], found.outcomes[b]):
                continue
            middle = (a + b) / 2
            candidates = sorted((i for i in range(a + 1, b) if unknown(i)), key=lambda i: (abs(i - middle), i))
            if candidates:
                look(candidates[0])
                return True
        return False

    ends()
    index = {item: i for i, item in enumerate(found.items)}
    for seed in seeds:
        if seed in index and unknown(index[seed]):
            look(index[seed])
    while True:
        ends()
        while split_once():
            pass
        found.changes = _changes(found, differ)
        if not confirm:
            break
        doubtful = [i for change in found.changes for i in change if i not in confirmed]
        if not doubtful:
            break
        for i in dict.fromkeys(doubtful):
            confirmed.add(i)
            found.probes += 1
            again = probe(found.items[i])
            if again == UNINSTALLABLE or differ(found.outcomes[i], cast(OutcomeT, again)):
                found.flaky[i] = (found.outcomes.pop(i), again)
                found.skipped[i] = FLAKY
    return found


def _changes(found: Search[ItemT, OutcomeT], differ: Callable[[OutcomeT, OutcomeT], bool]) -> list[tuple[int, int]]:
    probed = found.probed
    return [(a, b) for a, b in zip(probed, probed[1:]) if differ(found.outcomes[a], found.outcomes[b])]


@dataclass
class Run:
    """A stretch of probed items over which one projection of the outcome stays the same."""

    first: int  # index of its first probed item
    last: int  # index of its last probed item
    probed: list[int]


def runs(found: Search[Any, Any], same: Callable[[list[int], int], bool]) -> list[Run]:
    """Group the probed items into runs: ``same(run_so_far, i)`` says whether item ``i`` continues the run.

    The caller projects the outcome (one variant of a case, say): items between two runs are skipped ones.
    """
    out: list[Run] = []
    for i in found.probed:
        if out and same(out[-1].probed, i):
            out[-1].probed.append(i)
            out[-1].last = i
        else:
            out.append(Run(i, i, [i]))
    return out
