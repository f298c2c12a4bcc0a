"""The cell a pytest run is for: its matrix, the versions installed, its backend, its id, and every expectation.

The plugin, the property tests, the recorder and the crash reporter all read this one frozen value, so they
agree on the cell. It is read once, on first use rather than at configuration: finding the backend may
import JAX, which a run that collects no variant (the harness's own tests) should not pay for.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import pytest

from flax_regressions.catalogue.model import Matrix
from flax_regressions.catalogue.rules import Rule
from flax_regressions.core.errors import Error
from flax_regressions.core.results import CellId, Versions
from flax_regressions.incell import cache_use
from flax_regressions.incell.repros import installed_versions, run_variant
from flax_regressions.running import compile_cache


@dataclass(frozen=True)
class CellContext:
    matrix: Matrix
    versions: Versions
    backend: str
    cell: CellId
    expectations: tuple[tuple[str, str, Rule | None], ...]  # every (case, variant) with its rule here (None: unknown)

    @property
    def where(self) -> str:
        """The versions and backend, as the test reports name them."""
        return f"flax {self.versions.flax}, jax {self.versions.jax} ({self.backend})"

    def rule(self, case: str, variant: str) -> Rule | None:
        return next((rule for c, v, rule in self.expectations if (c, v) == (case, variant)), None)

    def run(self, case: str, variant: str, kwargs: dict[str, Any] | None = None) -> tuple[Exception | None, float]:
        """Call one variant as this cell does (incell.repros.run_variant): its module from the repro/ of the matrix
        that declares the case, the warnings its rules name watched, the compilation cache bypassed where it
        served this case wrong on this JAX. Returns (exception or None, seconds)."""
        cache = cache_use.bypassed() if compile_cache.served_wrong(case, self.versions.jax) else nullcontext()
        with cache:
            return run_variant(
                self.matrix.repro_dir(case), case, variant, kwargs, self.matrix.watched_warnings(case, variant)
            )


_SOURCE = pytest.StashKey[tuple[Matrix, CellId | None]]()
_CONTEXT = pytest.StashKey[CellContext]()


def configure_cell(config: pytest.Config, the_matrix: Matrix, cell: CellId | None) -> None:
    """Keep what the command line gave (the validated matrix; the cell id, None when not given) for cell_context."""
    config.stash[_SOURCE] = (the_matrix, cell)


def cell_context(config: pytest.Config) -> CellContext:
    """The run's cell, read once; a run whose cell cannot be known (no --backend, and no JAX to name one) ends with
    one line and exit status 2, wherever it is first asked for."""
    if _CONTEXT not in config.stash:
        the_matrix, cell = config.stash[_SOURCE]
        try:
            versions, backend = installed_versions(), backend_of(config)
        except Error as exc:
            pytest.exit(f"error: {exc}", returncode=2)
        flax, jax = versions.flax or "not installed", versions.jax or "not installed"
        expectations = tuple(
            (case, variant, the_matrix.expectation(case, variant, flax, jax, backend))
            for case, variant in the_matrix.variants()
        )
        config.stash[_CONTEXT] = CellContext(the_matrix, versions, backend, cell or CellId(flax, backend), expectations)
    return config.stash[_CONTEXT]


def backend_of(config: pytest.Config) -> str:
    return chosen_backend(config.getoption("--backend"))


def chosen_backend(chosen: str | None = None) -> str:
    """``chosen`` (--backend), else the first of $JAX_PLATFORMS, else JAX's own default (gpu read as cuda)."""
    chosen = chosen or os.environ.get("JAX_PLATFORMS", "").split(",")[0]
    if chosen:
        return chosen
    try:
        import jax
    except ImportError as exc:
        raise Error(f"no --backend given, and JAX, which would name it, cannot be imported ({exc})") from None
    return {"gpu": "cuda"}.get(jax.default_backend(), jax.default_backend())
