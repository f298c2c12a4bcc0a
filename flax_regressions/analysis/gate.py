"""The upgrade gate: run every case on two builds and say what moving from one to the other changes.

A JAX upgrade is an upgrade too: either side can pin a JAX release of its own, and with Flax held the gate
compares two JAX releases. When a Flax upgrade also moves JAX (each release brings its contemporary JAX) and
something breaks, the older Flax is run once more with the newer side's JAX, as bisect tells them apart: a
change that this run already shows (the same failure) is JAX's (``cause: jax``), one that still works there is
Flax's, and one that fails another way there is not told (``cause: None``; see ``attribute``). What the changes
mean is analysis.verdict's; each gate keeps its cells, logs and verdict in a directory of its own
(``results/gate/<from>-to-<to>/``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from flax_regressions.analysis.verdict import Change, GateError, Seen, Side, Verdict, check_cell, compare
from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.records import NOT_MEASURED, Outcome
from flax_regressions.core.results import CellId, CellResult, cell_file
from flax_regressions.core.workspace import Workspace
from flax_regressions.running import cells, registry
from flax_regressions.running.locks import Lock
from flax_regressions.running.runners import LoggedRunner
from flax_regressions.running.side_by_side import each

Log = Callable[[str], None]


def report_name(before: str, after: str, jax_before: str | None, jax_after: str | None, lock: Lock | None) -> str:
    """The directory a gate's cells, logs and verdict go to, under results/gate/: ``0.10.5-to-0.12.12``,
    ``0.12.9-jax-0.11.1-to-0.12.9-jax-0.11.2``, with ``-lock-<digest>`` for a team's lock."""

    def one(flax: str, jax: str | None) -> str:
        return flax + (f"-jax-{jax}" if jax else "")

    return f"{one(before, jax_before)}-to-{one(after, jax_after)}" + (f"-lock-{lock.digest}" if lock else "")


def run_side(
    workspace: Workspace,
    directory_name: str,
    the_matrix: Matrix,
    version: str,
    backend: str,
    extra: list[str],
    jax: str | None,
    lock: Lock | None,
    log: Log,
) -> CellResult:
    """Run the cell of one release (with its own JAX, or ``jax``; from a team's ``lock`` when given) under the gate's
    directory and return its results, checked. Its pytest output goes to the directory's logs/<cell>.log."""
    directory = workspace.gate / directory_name
    cell = CellId(version, backend, jax, lock.digest if lock else None)
    runner = LoggedRunner(directory / "logs" / f"{cell}.log")
    cell_file(directory / "cells", cell).unlink(missing_ok=True)  # never compare a stale file left by an earlier run
    result = cells.run_cell(
        workspace,
        the_matrix,
        version,
        backend,
        extra,
        cells_dir=directory / "cells",
        runner=runner,
        log=log,
        jax=jax,
        lock=lock,
    )
    if runner.path.exists():
        last = (runner.path.read_text().strip().splitlines() or ["(empty)"])[-1].strip(" =")
        log(f"{cell}: {last} (log: {workspace.shown(runner.path)})")
    try:
        check_cell(result, version, backend)
    except GateError as exc:
        raise GateError(f"{exc} (log: {workspace.shown(runner.path)})" if runner.path.exists() else str(exc)) from None
    return result


def gate(
    workspace: Workspace,
    the_matrix: Matrix,
    before: str,
    after: str,
    backend: str,
    keyword: str | None,
    jax_before: str | None = None,
    jax_after: str | None = None,
    lock: Lock | None = None,
    log: Log = print,
) -> tuple[str, Verdict]:
    """Run both cells and compare them; return the gate's directory name and its verdict. Raises GateError (or
    RegistryError, LockError) when that cannot be done.

    ``jax_before``/``jax_after`` pin a JAX release on that side (None: the release's contemporary JAX, or the
    lock's). With ``lock``, both sides are built from a team's own pins, Flax replaced by each side's release.
    """
    if backend not in the_matrix.backends:
        raise GateError(f"unknown backend {backend!r} (matrix.yaml has: {', '.join(the_matrix.backends)})")
    requested = {
        "before": the_matrix.current if before == "current" else before,
        "after": the_matrix.current if after == "current" else after,
    }
    resolved = {k: registry.resolve(v, the_matrix.python) for k, v in requested.items()}  # both named before any build
    pinned = {"before": jax_before, "after": jax_after}
    reason = cells.missing_backend(the_matrix, backend)
    if reason:
        raise GateError(f"backend {backend}: {reason}")
    if resolved["before"] == resolved["after"]:
        jaxes = [pinned[k] or _known_jax(the_matrix, resolved[k], lock) for k in ("before", "after")]
        if None not in jaxes and jaxes[0] == jaxes[1]:
            raise GateError(
                f"--from and --to are the same build (flax {resolved['before']} with jax {jaxes[0]}): "
                "nothing to compare"
            )
    if keyword is None:
        refuse_unmeasured(the_matrix.unmeasured())  # before building anything; with -k, once the cells say what ran
    name = report_name(resolved["before"], resolved["after"], jax_before, jax_after, lock)
    # The conformance tests only: the property tests hold variants to matrix.yaml, the gate compares what happens.
    extra = ["-m", "conformance"] + (["-k", keyword] if keyword else [])
    old, new = each(
        [("before", resolved["before"]), ("after", resolved["after"])],
        lambda side: run_side(workspace, name, the_matrix, side[1], backend, extra, pinned[side[0]], lock, log),
        jobs=2,
    )
    refuse_unmeasured([(r.case, r.variant) for r in new.records if r.expected_detail == NOT_MEASURED])
    if old.versions == new.versions:
        raise GateError(
            f"both sides installed flax {old.versions.flax} with jax {old.versions.jax}: the same build, "
            "nothing to compare"
        )
    verdict = replace(
        compare(old, new, backend),
        before=Side.of(old, before),
        after=Side.of(new, after),
        lock=lock.source if lock else None,
    )
    return name, attribute(workspace, name, verdict, the_matrix, old, new, extra, lock, log)


def refuse_unmeasured(variants: list[tuple[str, str]]) -> None:
    """A variant not measured yet has no recorded behaviour to hold a change to: the gate cannot tell, so no
    verdict (exit 2) rather than a green one a team's CI would trust."""
    if variants:
        named = ", ".join(f"{c}-{v}" for c, v in variants)
        raise GateError(
            f"{named}: {NOT_MEASURED}, so the gate cannot tell what a change in it means (or leave it out with -k)"
        )


def _known_jax(the_matrix: Matrix, flax: str, lock: Lock | None) -> str | None:
    """The JAX a release's cell gets without a JAX chosen by hand, where that is known before building: the lock's,
    or matrix.yaml's pin for a default release (None: the resolver chooses; the built sides are compared then)."""
    if lock is not None:
        return lock.version("jax")
    return next((v.jax for v in the_matrix.flax if v.version == flax), None)


def attribute(
    workspace: Workspace,
    name: str,
    verdict: Verdict,
    the_matrix: Matrix,
    old: CellResult,
    new: CellResult,
    extra: list[str],
    lock: Lock | None,
    log: Log,
) -> Verdict:
    """Give every breaking change its ``cause`` (see the module docstring): "jax" when the older Flax with the newer
    JAX already fails the same way, "flax" when it still works there, None when it fails otherwise or cannot run
    (the older Flax may not even import with that JAX); each change keeps what that run did (``with_newer_jax``)."""
    flax_moved, jax_moved = old.versions.flax != new.versions.flax, old.versions.jax != new.versions.jax
    if not (flax_moved and jax_moved):
        return _with_causes(verdict, lambda change: ("flax" if flax_moved else "jax", None))
    if not verdict.breaking:
        return verdict
    try:
        mixed = run_side(
            workspace, name, the_matrix, str(old.versions.flax), verdict.backend, extra, new.versions.jax, lock, log
        )
    except GateError as exc:
        note = f"flax {old.versions.flax} with jax {new.versions.jax} did not run, so the cause is not told: {exc}"
        return replace(_with_causes(verdict, lambda change: (None, None)), cause_note=note)
    records = {(r.case, r.variant): r for r in mixed.records}
    news = {(r.case, r.variant): r for r in new.records}

    def cause(change: Change) -> tuple[str | None, Seen | None]:
        there, after = records.get((change.case, change.variant)), news[change.case, change.variant]
        if there is None:
            return None, None
        if there.outcome is Outcome.PASSED:
            return "flax", Seen.of(there)
        same = there.outcome is after.outcome and there.failure.same_as(after.failure)
        return ("jax" if same else None), Seen.of(there)

    return replace(_with_causes(verdict, cause), mixed=Side.of(mixed, old.versions.flax))


def _with_causes(verdict: Verdict, cause_of: Callable[[Change], tuple[str | None, Seen | None]]) -> Verdict:
    """The verdict with each breaking change given ``cause_of(change)``: (cause, what the mixed run saw)."""
    changes = []
    for change in verdict.changes:
        if change.breaking:
            cause, seen = cause_of(change)
            change = replace(change, cause=cause, with_newer_jax=seen)
        changes.append(change)
    return replace(verdict, changes=tuple(changes))
