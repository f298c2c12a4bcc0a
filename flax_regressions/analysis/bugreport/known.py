"""What the suite has recorded of a case on every Flax/JAX pair: the report's versions table and workarounds.

Any run counts, whoever made it (the matrix's cells, the gate's, bisect's, sweep's, the bug report's own),
so the table is as wide as what this checkout has seen; the newest record of a variant on a pair wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.merged import load_merged
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import CellOutcome, ResultsError, load_cells
from flax_regressions.core.variant import is_bug
from flax_regressions.core.workspace import Workspace
from flax_regressions.running import cells, registry

Pair = tuple[str | None, str | None]  # (flax, jax) as installed


@dataclass(frozen=True)
class Recorded:
    """The case on one Flax/JAX pair: each variant's newest record, and where the records came from."""

    jaxlib: str | None
    variants: dict[str, VariantRecord] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)  # a cells directory ("results/cells/") or results/matrix.json


def known_outcomes(workspace: Workspace, case: str, backend: str) -> dict[Pair, Recorded]:
    """Every recorded run of the case on ``backend`` that passed or failed, by the versions it had installed.

    Cell results in every ``cells`` directory under results/ (newest ``updated`` first), then
    results/matrix.json's rows for what no cell file covers. Cells that did not run and unreadable files
    say nothing about a release and are left out.
    """
    results_dir = workspace.results
    runs = []
    for cells_dir in sorted(path for path in results_dir.rglob("cells") if path.is_dir()):
        for result in load_cells(cells_dir)[0].values():
            if result.outcome is CellOutcome.RAN and result.cell.backend == backend:
                runs.append((result.updated or "", workspace.shown(cells_dir) + "/", result.versions, result.records))
    runs.sort(key=lambda run: run[0], reverse=True)
    merged = results_dir / "matrix.json"
    try:
        rows = load_merged(merged)
    except ResultsError:
        rows = []
    runs += [("", workspace.shown(merged), row.versions, (row.record,)) for row in rows if row.cell.backend == backend]

    found: dict[Pair, Recorded] = {}
    for _, source, versions, records in runs:  # newest first: a variant's first record wins
        for record in records:
            if record.case != case or record.outcome not in (Outcome.PASSED, Outcome.FAILED):
                continue
            entry = found.setdefault((versions.flax, versions.jax), Recorded(versions.jaxlib))
            if record.variant not in entry.variants:
                entry.variants[record.variant] = record
                entry.sources.add(source)
    return found


def ensure_outcomes(
    workspace: Workspace, the_matrix: Matrix, case: str, flax: str, backend: str, log: Callable[[str], None]
) -> dict[Pair, Recorded]:
    """Known outcomes, with the requested release's cell (and, when nothing else is known, the matrix's) run now,
    into results/bugreport/cells/."""
    outcomes = known_outcomes(workspace, case, backend)
    wanted = [] if any(pair[0] == flax for pair in outcomes) else [flax]
    if not any(pair[0] != flax for pair in outcomes):
        wanted += [registry.resolve(v.version, the_matrix.python) for v in the_matrix.flax]
    for version in dict.fromkeys(wanted):
        log(f"no recorded results for {case} on flax {version} ({backend}): running its cell")
        cells.run_cell(
            workspace,
            the_matrix,
            version,
            backend,
            ["-m", "conformance", "-k", case],
            cells_dir=workspace.results / "bugreport" / "cells",
            log=log,
        )
    return known_outcomes(workspace, case, backend) if wanted else outcomes


def flax_where(outcomes: dict[Pair, Recorded], variant: str, outcome: Outcome) -> list[str]:
    """The Flax releases where ``variant`` recorded ``outcome``, oldest first."""
    found = {
        pair[0]
        for pair, entry in outcomes.items()
        if pair[0] and (record := entry.variants.get(variant)) is not None and record.outcome is outcome
    }
    return sorted(found, key=lambda flax: version_key((flax, "")))


def workarounds(outcomes: dict[Pair, Recorded], flax: str, jax: str) -> list[str]:
    """The fix variants that passed on this release: on exactly this JAX when recorded, else on any."""
    mine = outcomes.get((flax, jax)) or next((e for pair, e in outcomes.items() if pair[0] == flax), Recorded(None))
    return sorted(v for v, record in mine.variants.items() if not is_bug(v) and record.outcome is Outcome.PASSED)


def version_key(pair: Pair) -> tuple[Version, Version]:
    """Sorts (flax, jax) pairs by release; a version that is not one sorts first."""

    def version(text: str | None) -> Version:
        try:
            return Version(text or "0")
        except InvalidVersion:
            return Version("0")

    return version(pair[0]), version(pair[1])
