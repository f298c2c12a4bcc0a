"""The upgrade gate: run every case on two Flax releases and say what moving from one to the other changes.

A JAX upgrade is an upgrade too: either side can pin a JAX release of its own, and with Flax held the gate
compares two JAX releases. When a Flax upgrade also moves JAX (each release brings its contemporary JAX) and
something breaks, the older Flax is run once more with the newer side's JAX, as bisect tells them apart: a
change that this run already shows (the same failure) is JAX's (``cause: jax``), one that still works there is
Flax's, and one that fails another way there is not told (``cause: None``; see ``attribute``).

It compares what actually happens on each side, the outcome and the failure of every variant, not whether
either side matches matrix.yaml: a gate is run before matrix.yaml knows the new release. The changes that
matter to a team upgrading are a fix that stops working and a bug that starts reproducing; a bug that goes
away (its workarounds can be dropped), a fix that starts working and an error that changes are worth
knowing, not breaking. A variant that crashes the interpreter or hangs past its timeout did not work.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from flax_regressions.core.errors import Error
from flax_regressions.core import status
from flax_regressions.core.paths import RESULTS_DIR, shown_path
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import CellId, CellOutcome, CellResult, cell_file
from flax_regressions.core.variant import is_bug, kind
from flax_regressions.running import cells
from flax_regressions.running.runners import LoggedRunner
from flax_regressions.running.locks import Lock
from flax_regressions.spec import releases
from flax_regressions.spec.model import Matrix

GATE_DIR = RESULTS_DIR / "gate"
NOT_WORKING = (Outcome.FAILED, Outcome.ERROR)

# Every kind of change, in the order the verdict lists them: (heading, whether it breaks the upgrade, one variant's phrase).
CHANGES = {
    "fix_breaks": ("❌ Fixes that stop working", True, "the fix stops working"),
    "bug_appears": ("❌ Bugs that start reproducing", True, "the bug starts reproducing"),
    "bug_gone": ("✅ Bugs that go away", False, "the bug goes away"),
    "fix_works": ("✅ Fixes that start working", False, "the fix starts working"),
    "error_changes": ("ℹ️ Errors that change", False, "the error changes"),
}


class GateError(Error):
    """A usage or environment problem: the gate cannot give a verdict. Its message is one line."""


def classify(variant: str, before: VariantRecord, after: VariantRecord) -> str | None:
    """The kind of change between two records of one variant (see CHANGES), or None when nothing changed."""
    was, now = before.outcome, after.outcome
    if was is Outcome.PASSED and now in NOT_WORKING:
        return "bug_appears" if is_bug(variant) else "fix_breaks"
    if was in NOT_WORKING and now is Outcome.PASSED:
        return "bug_gone" if is_bug(variant) else "fix_works"
    if was is not Outcome.PASSED and now is not Outcome.PASSED and (
            was is not now or not before.failure.same_as(after.failure)):
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


def side(result: CellResult, requested: str) -> dict:
    return {"requested": requested, "cell": str(result.cell), "flax": result.versions.flax, "jax": result.versions.jax,
            "jaxlib": result.versions.jaxlib, "python": result.python, "platform": result.platform}


def _shown(record: VariantRecord) -> dict:
    return {"outcome": record.outcome.value, "exception": record.exception, "message": record.message}


def compare(before: CellResult, after: CellResult) -> dict:
    """The verdict on two cells: every change, and the exit status (gate.json's layout)."""
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
        changes.append({"case": case, "variant": variant, "kind": kind(variant), "change": change,
                        "breaking": CHANGES[change][1], "before": _shown(a), "after": _shown(b)})
    for change in changes:
        if change["change"] == "bug_gone":
            change["droppable"] = _droppable(change["case"], new)
    breaking = [c for c in changes if c["breaking"]]
    return {"exit_code": status.NOT_AS_EXPECTED if breaking else status.OK, "verdict": "breaks" if breaking else "ok",
            "reason": None, "breaking": len(breaking), "changes": changes, "unchanged": unchanged,
            "not_compared": not_compared}


def _droppable(case: str, after: dict[tuple[str, str], VariantRecord]) -> list[str]:
    """The workarounds of ``case`` that are no longer needed: none while any bug variant still fails."""
    variants = {v: r for (c, v), r in after.items() if c == case}
    if any(is_bug(v) and r.outcome is not Outcome.PASSED for v, r in variants.items()):
        return []
    return sorted(v for v in variants if not is_bug(v))


def run_side(the_matrix: Matrix, version: str, backend: str, extra: list[str], jax: str | None = None,
             lock: Lock | None = None) -> CellResult:
    """Run the cell of one release (with its own JAX, or ``jax``; from a team's ``lock`` when given) under
    results/gate/cells and return its results, checked.

    Its pytest output goes to results/gate/logs/<cell>.log, not to the terminal: the two cells run at once.
    """
    cell = CellId(version, backend, jax, lock.digest if lock else None)
    runner = LoggedRunner(GATE_DIR / "logs" / f"{cell}.log")
    cell_file(GATE_DIR / "cells", cell).unlink(missing_ok=True)  # never compare a stale file left by an earlier run
    result = cells.run_cell(the_matrix, version, backend, extra, cells_dir=GATE_DIR / "cells", runner=runner,
                            log=lambda line: print(f"gate: {line}", file=sys.stderr), jax=jax, lock=lock)
    log = runner.path
    if log.exists():
        last = (log.read_text().strip().splitlines() or ["(empty)"])[-1].strip(" =")
        print(f"gate: {cell}: {last} (log: {shown_path(log)})", file=sys.stderr)
    try:
        check_cell(result, version, backend)
    except GateError as exc:
        raise GateError(f"{exc} (log: {shown_path(log)})" if log.exists() else str(exc)) from None
    return result


def gate(the_matrix: Matrix, before: str, after: str, backend: str, keyword: str | None,
         jax_before: str | None = None, jax_after: str | None = None, lock: Lock | None = None) -> dict:
    """Run both cells and compare them; raise GateError (or RegistryError) when that cannot be done.

    ``jax_before``/``jax_after`` pin a JAX release on that side (None: the release's contemporary JAX, or the
    lock's). With ``lock``, both sides are built from a team's own pins, Flax replaced by each side's release.
    """
    if backend not in the_matrix.backends:
        raise GateError(f"unknown backend {backend!r} (matrix.yaml has: {', '.join(the_matrix.backends)})")
    requested = {"before": the_matrix.current if before == "current" else before,
                 "after": the_matrix.current if after == "current" else after}
    resolved = {k: releases.resolve(v, the_matrix.python) for k, v in requested.items()}  # both named before any build
    pinned = {"before": jax_before, "after": jax_after}
    reason = cells.missing_backend(the_matrix, backend)
    if reason:
        raise GateError(f"backend {backend}: {reason}")
    if resolved["before"] == resolved["after"]:
        jaxes = [pinned[k] or _known_jax(the_matrix, resolved[k], lock) for k in ("before", "after")]
        if None not in jaxes and jaxes[0] == jaxes[1]:
            raise GateError(f"--from and --to are the same build (flax {resolved['before']} with jax {jaxes[0]}): "
                            "nothing to compare")
    # The conformance tests only: the property tests hold variants to matrix.yaml, the gate compares what happens.
    extra = ["-m", "conformance"] + (["-k", keyword] if keyword else [])
    with ThreadPoolExecutor(max_workers=2) as pool:  # both cells at once: the gate's time is the slower cell's
        sides = [pool.submit(run_side, the_matrix, resolved[k], backend, extra, pinned[k], lock)
                 for k in ("before", "after")]
        old, new = (s.result() for s in sides)
    if old.versions == new.versions:
        raise GateError(f"both sides installed flax {old.versions.flax} with jax {old.versions.jax}: the same build, "
                        "nothing to compare")
    verdict = compare(old, new)
    verdict.update({"from": side(old, before), "to": side(new, after)})
    attribute(verdict, the_matrix, old, new, backend, extra, lock)
    return verdict


def _known_jax(the_matrix: Matrix, flax: str, lock: Lock | None) -> str | None:
    """The JAX a release's cell gets without a JAX chosen by hand, where that is known before building: the lock's,
    or matrix.yaml's pin for a default release (None: the resolver chooses; the built sides are compared then)."""
    if lock is not None:
        return lock.version("jax")
    return next((v.jax for v in the_matrix.flax if v.version == flax), None)


def attribute(verdict: dict, the_matrix: Matrix, old: CellResult, new: CellResult, backend: str,
              extra: list[str], lock: Lock | None = None) -> None:
    """Give every breaking change its ``cause`` (see the module docstring): "jax" when the older Flax with the newer
    JAX already fails the same way, "flax" when it still works there, None when it fails otherwise or cannot run
    (the older Flax may not even import with that JAX); each change keeps what that run did (``with_newer_jax``)."""
    breaking = [c for c in verdict["changes"] if c["breaking"]]
    flax_moved, jax_moved = old.versions.flax != new.versions.flax, old.versions.jax != new.versions.jax
    if not (flax_moved and jax_moved):
        for change in breaking:
            change["cause"] = "flax" if flax_moved else "jax"
        return
    if not breaking:
        return
    try:
        mixed = run_side(the_matrix, old.versions.flax, backend, extra, new.versions.jax, lock)
    except GateError as exc:
        verdict["cause_note"] = f"flax {old.versions.flax} with jax {new.versions.jax} did not run, so the cause is not told: {exc}"
        for change in breaking:
            change["cause"] = None
        return
    records = {(r.case, r.variant): r for r in mixed.records}
    news = {(r.case, r.variant): r for r in new.records}
    for change in breaking:
        key = (change["case"], change["variant"])
        there, after = records.get(key), news[key]
        if there is None:
            change["cause"] = None
            continue
        change["with_newer_jax"] = _shown(there)
        if there.outcome is Outcome.PASSED:
            change["cause"] = "flax"
        elif there.outcome is after.outcome and there.failure.same_as(after.failure):
            change["cause"] = "jax"
        else:
            change["cause"] = None
    verdict["mixed"] = side(mixed, old.versions.flax)
