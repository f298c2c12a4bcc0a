"""The environment a cell gets: its ``EnvSpec`` (one Flax release with its JAX, or a team's lock) and where it lives."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.cells import CellId
from flax_regressions.core.workspace import Workspace
from flax_regressions.running import envs, registry
from flax_regressions.running.locks import Lock


def spec_for(
    the_matrix: Matrix, requested: str, backend: str, jax: str | None = None, lock: Lock | None = None
) -> envs.EnvSpec:
    """The environment for ``requested`` (a release or ``latest``): its JAX pin comes from matrix.yaml when
    the default matrix lists that release, otherwise from the resolution cut-off alone.

    ``jax`` pins another JAX release instead (bisect holds Flax fixed and varies JAX); the cut-off then
    moves to that JAX's release day when it is later, so the rest resolves as it stood for that JAX.
    ``lock`` (a team's own) gives every other pin, its JAX included unless ``jax`` replaces it.
    """
    flax = registry.resolve(requested, the_matrix.python)
    cutoff = registry.cutoff(flax)
    if jax is not None:
        if jax not in registry.published("jax"):
            raise registry.RegistryError(f"jax {jax} is not a release on the registry")
        cutoff = max(cutoff, registry.cutoff(jax, "jax"))
    return _spec(the_matrix, requested, flax, backend, jax, cutoff, lock)


def built_spec(
    the_matrix: Matrix, requested: str, backend: str, jax: str | None, envs_dir: Path, lock: Lock | None = None
) -> envs.EnvSpec | None:
    """The spec of a release whose environment was built before, read with no network (None: never built).

    Everything in a spec but the cut-off comes from matrix.yaml and the package's metadata, and a release's cut-off
    (its publication day) never changes, so the one recorded at build time stands; envs.ensure then reuses the
    environment when its pins still hold. ``latest`` asks the registry.
    """
    if requested == "latest":
        return None
    recorded = envs.recorded_cutoff(envs_dir / str(CellId(requested, backend)))
    return None if recorded is None else _spec(the_matrix, requested, requested, backend, jax, recorded, lock)


def _spec(
    the_matrix: Matrix, requested: str, flax: str, backend: str, jax: str | None, cutoff: date, lock: Lock | None
) -> envs.EnvSpec:
    pinned = {} if lock else {v.version: v.jax for v in the_matrix.flax}  # a lock's JAX comes before matrix.yaml's
    return envs.EnvSpec(
        flax=flax,
        jax=jax or pinned.get(flax) or pinned.get(requested),
        backend=backend,
        jax_extra=the_matrix.backends[backend].get("jax_extra"),
        python=the_matrix.python,
        cutoff=cutoff,
        tools=envs.cell_tools(),
        pins=lock.requirements() if lock else (),
        lock_jax=lock.jax_pins() if lock and not jax else (),
    )


def envs_dir_for(workspace: Workspace, jax: str | None, lock: Lock | None) -> Path:
    """Where a cell's environment lives: a JAX chosen by hand and a team's lock each get their own directory
    (``.envs/lock-<digest of its pins>/``), so neither ever reuses an environment of matrix.yaml's."""
    base = workspace.envs / f"lock-{lock.digest}" if lock else workspace.envs
    return base / f"jax-{jax}" if jax else base
