"""A probe is one cell run of one case's tests; bisect remembers every run in results/bisect/<case>/probes.json.

A bisection takes minutes per probe, and ``--write`` or a second look at the history should not pay them
again: the runs are kept (until repro/<case>.py changes) and answer later probes of the same cell. The
file is bisect's own memory, not a cell's results file; the cell's results are read through core.results.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flax_regressions.analysis.bisect.observation import Behaviour, Observation, show
from flax_regressions.analysis.bisect.search import UNINSTALLABLE
from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.errors import Error
from flax_regressions.core.files import write_json
from flax_regressions.core.results import CellId, CellOutcome, Versions, cell_file
from flax_regressions.core.workspace import Workspace
from flax_regressions.running import cells
from flax_regressions.running.runners import LoggedRunner

BACKEND = "cpu"


class BisectError(Error):
    """A usage or environment problem: no answer can be given. Its message is one line."""


@dataclass(frozen=True)
class ProbeRun:
    """One remembered cell run: what each variant did, or why the release could not be installed."""

    uninstallable: str | None  # uv's reason, when the environment could not be built
    versions: Versions
    behaviours: tuple[Behaviour, ...]
    built: bool  # whether the run had to build its environment
    seconds: float

    def observation(self, variants: list[str]) -> Observation | str:
        if self.uninstallable:
            return UNINSTALLABLE
        by_variant = {b.variant: b for b in self.behaviours}
        return Observation(tuple(by_variant[v] for v in variants))

    def to_json(self) -> dict:
        return {
            "uninstallable": self.uninstallable,
            "versions": {} if self.uninstallable else self.versions.to_json(),
            "results": {b.variant: b.to_json() for b in self.behaviours},
            "built": self.built,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict) -> ProbeRun:
        return cls(
            data["uninstallable"],
            Versions.from_json(data["versions"]),
            tuple(Behaviour.from_json(v, r) for v, r in data["results"].items()),
            data["built"],
            data["seconds"],
        )


class Prober:
    """Probes (Flax, JAX pin) for one case and remembers every run in probes.json.

    The n-th probe of a cell in this session is answered by its n-th remembered run when there is one;
    the search's second look at a cell (its confirmation) is therefore a second run, not the same answer.
    """

    def __init__(
        self,
        workspace: Workspace,
        the_matrix: Matrix,
        case: str,
        out_dir: Path,
        log: Callable[[str], None] = print,
        fresh: bool = False,
    ):
        self.workspace, self.matrix, self.case, self.dir, self.log = workspace, the_matrix, case, out_dir, log
        self.variants = list(the_matrix.cases[case])
        self.source = hashlib.sha256((the_matrix.repro_file(case)).read_bytes()).hexdigest()[:16]
        self.store_path = out_dir / "probes.json"
        stored = {} if fresh or not self.store_path.exists() else json.loads(self.store_path.read_text())
        runs = stored.get("runs", {}) if stored.get("source") == self.source else {}
        self.store = {cell: [ProbeRun.from_json(run) for run in cell_runs] for cell, cell_runs in runs.items()}
        self.calls: Counter = Counter()
        self.cost: dict[str, float] = {"runs": 0, "built": 0, "remembered": 0, "seconds": 0.0}

    def jax_of(self, flax: str, jax: str | None = None) -> str:
        """The JAX a probe of ``flax`` ran with: ``jax`` when pinned, else the one its environment resolved."""
        return jax or self.store[str(CellId(flax, BACKEND))][0].versions.jax or "?"

    def __call__(self, flax: str, jax: str | None = None) -> Observation | str:
        cell = CellId(flax, BACKEND, jax)
        n = self.calls[cell]
        self.calls[cell] += 1
        runs = self.store.setdefault(str(cell), [])
        label = f"flax {flax}" + (f" + jax {jax}" if jax else "")
        if n < len(runs):
            self.cost["remembered"] += 1
            how = "remembered"
        else:
            runs.append(self.run(flax, jax, cell, n + 1))
            write_json(
                self.store_path,
                {
                    "case": self.case,
                    "source": self.source,
                    "runs": {c: [run.to_json() for run in rs] for c, rs in self.store.items()},
                },
            )
            how = ("built env, " if runs[n].built else "") + f"{runs[n].seconds:.1f}s"
        result = runs[n].observation(self.variants)
        seen = runs[n].versions.jax
        self.log(
            f"  probe {label:<26} {'(jax ' + seen + ')' if seen and not jax else '':<15} {how:<20} "
            f"{show(result, self.variants)}"
        )
        return result

    def run(self, flax: str, jax: str | None, cell: CellId, attempt: int) -> ProbeRun:
        """One cell run of the case's tests; its pytest output goes to logs/<cell>-<attempt>.log."""
        start, lines = time.monotonic(), list[str]()
        cells_dir = self.dir / "cells"
        cell_file(cells_dir, cell).unlink(missing_ok=True)  # an earlier run's file must not answer for this one
        logfile = self.dir / "logs" / f"{cell}-{attempt}.log"
        result = cells.run_cell(
            self.workspace,
            self.matrix,
            flax,
            BACKEND,
            ["-k", self.case, "-q"],
            cells_dir=cells_dir,
            log=lines.append,
            runner=LoggedRunner(logfile),
            jax=jax,
        )
        seconds = time.monotonic() - start
        built = any(line.startswith("building ") for line in lines)
        for key, value in (("runs", 1), ("built", int(built)), ("seconds", seconds)):
            self.cost[key] += value
        if result.outcome is CellOutcome.NOT_RUN or result.rerun_failed:
            raise BisectError(
                result.rerun_failed or result.reason
            )  # the registry, or pytest: nothing said of the release
        if result.outcome is CellOutcome.ERROR:
            return ProbeRun(result.reason, Versions(), (), built, round(seconds, 1))
        missing = f"no result; see {self.workspace.shown(logfile)}"
        behaviours = tuple(Behaviour.of(v, result.record(self.case, v), missing) for v in self.variants)
        return ProbeRun(None, result.versions, behaviours, built, round(seconds, 1))
