"""Where a case's variants changed: the Flax releases (and the JAX releases, where JAX decides) of each change.

The search splits the releases wherever a variant's behaviour differs (analysis.bisect.observation); the
default matrix's releases are probed first, so a behaviour that comes and goes between two releases the
matrix samples is not missed. A Flax release brings its contemporary JAX, so a change between two Flax
releases may be JAX's: at every change whose two sides had different JAX, the older Flax is run with the
newer side's JAX, and if that alone brings the change, the JAX releases in between are bisected with Flax
held fixed and the change is put on JAX. Each variant's history is then cut into segments, the form
catalogue.edit turns into rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from packaging.version import Version

from flax_regressions.analysis.bisect.observation import Observation, differ_in, show
from flax_regressions.analysis.bisect.prober import Prober
from flax_regressions.analysis.bisect.search import Search, runs, search
from flax_regressions.catalogue.measured import Segment
from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.failure import one_failure
from flax_regressions.core.log import Log
from flax_regressions.running import registry


@dataclass(frozen=True)
class Change:
    """A change of one variant between two adjacent probed Flax releases, and whose it is."""

    before: str  # Flax release
    after: str
    jax_before: str
    jax_after: str
    cause: str = "Flax"  # "Flax", "JAX", or a sentence when neither alone explains it
    jax_change: tuple[str, str] | None = None  # the JAX releases on either side, when JAX decides
    held_flax: str | None = None  # along JAX: the Flax release held (``before`` and ``after`` are JAX releases)

    def describe(self) -> str:
        if self.held_flax:
            return f"jax {self.before} -> {self.after} with flax {self.held_flax}: JAX"
        where = f"flax {self.before} (jax {self.jax_before}) -> {self.after} (jax {self.jax_after})"
        if self.jax_change:
            first, last = self.jax_change
            return f"{where}: follows JAX: changes at jax {first} -> {last} with flax {self.before}"
        return f"{where}: {self.cause}"


FlaxSearch = Search[str, Observation]


@dataclass(frozen=True)
class History:
    """What the bisection found for one case: along the Flax releases, or along JAX with Flax held (``flax``)."""

    case: str
    variants: list[str]
    versions: list[str]  # the releases bisected: Flax's, or JAX's when ``flax`` is held
    found: FlaxSearch
    segments: dict[str, list[Segment]]
    ends: dict[str, list[str]]  # variant -> the last release of each segment
    changes: dict[str, list[Change]]  # variant -> the change into each later segment
    flax: str | None = None  # the Flax release held while JAX was bisected


def analyse(
    the_matrix: Matrix,
    case: str,
    variants: list[str],
    versions: list[str],
    prober: Prober,
    seeds: Sequence[str] = (),
    log: Log = print,
) -> History:
    """Bisect the Flax releases, put each change on Flax or JAX, and cut each variant's history into segments."""
    start = time.monotonic()
    log(
        f"{case}: {len(versions)} Flax releases {versions[0]} .. {versions[-1]}; "
        f"first the default matrix's: {', '.join(seeds)}"
    )
    found: FlaxSearch = search(versions, lambda flax: prober(flax), seeds=seeds, differ=differ_in(variants))
    log(
        f"{case}: Flax search: {found.probes} probes of {len(found.outcomes) + len(found.skipped)} releases, "
        f"{len(found.changes)} change point(s), {time.monotonic() - start:.0f}s"
    )
    causes: dict[tuple[int, int], dict[str, Change]] = {}
    for a, b in found.changes:
        step = time.monotonic()
        causes[a, b] = attribute(the_matrix, found, a, b, variants, prober, log)
        log(f"{case}: who changed {versions[a]} -> {versions[b]}: {time.monotonic() - step:.0f}s")
    segments, ends, changes = {}, {}, {}
    for v in variants:
        segments[v], ends[v], changes[v] = variant_history(found, v, causes, prober.jax_of)
    return History(case, variants, versions, found, segments, ends, changes)


def analyse_jax(
    case: str, variants: list[str], flax: str, versions: list[str], prober: Prober, log: Log = print
) -> History:
    """Bisect the JAX releases ``versions`` with Flax held at ``flax``, and cut each variant's history into segments
    along JAX (catalogue.measured.jax_rules_for turns them into rules for that Flax release)."""
    start = time.monotonic()
    log(f"{case}: {len(versions)} JAX releases {versions[0]} .. {versions[-1]} with flax {flax}")
    found: FlaxSearch = search(versions, lambda jax: prober(flax, jax), differ=differ_in(variants))
    log(
        f"{case}: JAX search: {found.probes} probes, {len(found.changes)} change point(s), "
        f"{time.monotonic() - start:.0f}s"
    )
    segments, ends, changes = {}, {}, {}
    for v in variants:
        segments[v], ends[v], changes[v] = variant_history(found, v, {}, lambda jax: jax, held_flax=flax)
    return History(case, variants, versions, found, segments, ends, changes, flax)


def variant_history(
    found: FlaxSearch,
    variant: str,
    causes: dict[tuple[int, int], dict[str, Change]],
    jax_of: Callable[[str], str],
    held_flax: str | None = None,
) -> tuple[list[Segment], list[str], list[Change]]:
    """One variant's segments, the last release of each, and the change into each later one."""
    versions = found.items
    stretches = runs(found, lambda run, i: continues(found, variant, run, i))
    segments, ends, changes = [], [], []
    for k, run in enumerate(stretches):
        first = found.outcomes[run.first].of(variant)
        change = None
        if k:
            a, b = stretches[k - 1].last, run.first
            change = causes.get((a, b), {}).get(variant) or Change(
                versions[a],
                versions[b],
                jax_of(versions[a]),
                jax_of(versions[b]),
                cause="JAX" if held_flax else "Flax",
                held_flax=held_flax,
            )
            changes.append(change)
        failed = first.expect == "fail"
        segments.append(
            Segment(
                first=versions[run.first],
                jax_seen=jax_of(versions[run.first]),
                expect=first.expect,
                exception=first.exception if failed else None,
                messages=list(dict.fromkeys(found.outcomes[i].of(variant).message for i in run.probed))
                if failed
                else [],
                by_jax=change.jax_change[1] if change and change.jax_change else None,
            )
        )
        nxt = stretches[k + 1].first if k + 1 < len(stretches) else len(versions)
        ends.append(versions[nxt - 1])
    return segments, ends, changes


def continues(found: FlaxSearch, variant: str, run: list[int], i: int) -> bool:
    """Whether probed item ``i`` behaves like the run before it: same outcome, one failure across all messages."""
    seen = [found.outcomes[j].of(variant) for j in run + [i]]
    if seen[0].differs(seen[-1]):
        return False
    return seen[0].expect != "fail" or one_failure([b.failure for b in seen])


def attribute(
    the_matrix: Matrix, found: FlaxSearch, a: int, b: int, variants: list[str], prober: Prober, log: Log
) -> dict[str, Change]:
    """Whose change is it? Run the older Flax with the newer side's JAX; bisect JAX where that alone brings it."""
    versions = found.items
    before, after = found.outcomes[a], found.outcomes[b]
    jax_a, jax_b = prober.jax_of(versions[a]), prober.jax_of(versions[b])
    changed = [v for v in variants if before.of(v).differs(after.of(v))]
    out = {v: Change(versions[a], versions[b], jax_a, jax_b) for v in changed}
    if jax_a == jax_b:
        return out
    pinned = prober(versions[a], jax_b)
    if not isinstance(pinned, Observation):
        cause = f"Flax (flax {versions[a]} cannot be installed with jax {jax_b})"
        return {v: replace(change, cause=cause) for v, change in out.items()}
    by_jax = []
    for v in changed:
        if not pinned.of(v).differs(after.of(v)):
            by_jax.append(v)
        elif pinned.of(v).differs(before.of(v)):
            out[v] = replace(out[v], cause=f"Flax and JAX (flax {versions[a]} with jax {jax_b}: {show(pinned, [v])})")
    if not by_jax:
        return out
    candidates = [
        j for j in registry.releases(the_matrix.python, "jax") if Version(jax_a) <= Version(j) <= Version(jax_b)
    ]
    known: dict[str, Observation | str] = {jax_a: before, jax_b: pinned}

    def probe(jax: str) -> Observation | str:
        if jax == jax_a:
            return before  # the Flax search ran it already, and confirmed it
        return known.pop(jax) if jax in known else prober(versions[a], jax)

    log(
        f"  JAX decides {', '.join(by_jax)} between flax {versions[a]} and {versions[b]}: bisecting "
        f"{len(candidates)} JAX releases {jax_a} .. {jax_b} with flax {versions[a]}"
    )
    jax_found: FlaxSearch = search(candidates, probe, differ=differ_in(by_jax))
    for v in by_jax:
        changes = [
            (i, j) for i, j in jax_found.changes if jax_found.outcomes[i].of(v).differs(jax_found.outcomes[j].of(v))
        ]
        if len(changes) == 1:
            out[v] = replace(out[v], cause="JAX", jax_change=(candidates[changes[0][0]], candidates[changes[0][1]]))
        else:
            out[v] = replace(
                out[v], cause=f"JAX ({len(changes)} changes among jax {jax_a} .. {jax_b} with flax {versions[a]})"
            )
    return out
