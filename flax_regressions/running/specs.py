"""The environment a cell gets: its ``EnvSpec`` (one Flax release with its JAX, or a team's lock) and where it lives.

An environment is described by an ``EnvSpec``: the exact Flax release, the JAX it shipped with (pinned where
matrix.yaml records it), the backend's JAX extra, the Python, the resolution cut-off (registry.cutoff) and the
harness's own tools (this package's metadata). Its key names the environment's build (running.envs).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.cells import CellId
from flax_regressions.core.workspace import Workspace
from flax_regressions.running import registry
from flax_regressions.running.locks import Lock
from flax_regressions.running.uv import EnvError

DISTRIBUTION = "flax-regressions"

CELL_TOOLS = ("pytest", "pytest-xdist", "hypothesis", "pyyaml", "packaging")  # what the in-cell plugin imports


def cell_tools() -> tuple[str, ...]:
    """What every cell installs besides Flax and JAX: the in-cell plugin's own dependencies, each as this package's
    metadata requires it (pyproject's ``[project].dependencies``, one owner for the versions)."""
    try:
        required = {canonicalize_name(Requirement(r).name): r for r in metadata.requires(DISTRIBUTION) or ()}
    except metadata.PackageNotFoundError:
        raise EnvError(
            f"{DISTRIBUTION} is not installed, so what its cells install is not known: run it with `uv run`"
            " in a checkout, or install it"
        ) from None
    return tuple(required[canonicalize_name(name)] for name in CELL_TOOLS)


@dataclass(frozen=True)
class EnvSpec:
    flax: str
    jax: str | None
    backend: str
    jax_extra: str | None
    python: str
    cutoff: date
    tools: tuple[str, ...]
    pins: tuple[str, ...] = ()  # a team's lock (running.locks), but its Flax and its JAX
    lock_jax: tuple[str, ...] = ()  # the lock's JAX pins (jax, jaxlib, plugins); none when JAX is chosen by hand

    @property
    def name(self) -> str:
        return str(CellId(self.flax, self.backend))

    @property
    def locked(self) -> bool:
        return bool(self.pins or self.lock_jax)

    def requirements(self) -> list[str]:
        jax = f"jax[{self.jax_extra}]" if self.jax_extra else "jax"
        pins = [f"flax=={self.flax}", f"{jax}=={self.jax}" if self.jax else jax]
        if self.jax:
            pins.append(f"jaxlib=={self.jax}")
        return pins + list(self.lock_jax) + list(self.pins) + list(self.tools)

    def key(self) -> str:
        described = asdict(self)
        if not self.locked:  # an environment of matrix.yaml keeps the key it had before locks: no rebuild
            del described["pins"], described["lock_jax"]
        return hashlib.sha256(json.dumps(described, default=str, sort_keys=True).encode()).hexdigest()[:16]

    def resolution_limits(self) -> list[str]:
        """uv's cut-off: the whole resolution's, or for a lock only JAX's, and only where the lock does not pin it."""
        day = f"{self.cutoff.isoformat()}T00:00:00Z"
        if not self.locked:
            return ["--exclude-newer", day]
        if self.jax or self.lock_jax:
            return []
        return [arg for name in ("jax", "jaxlib") for arg in ("--exclude-newer-package", f"{name}={day}")]

    def described(self) -> str:
        if not self.locked:
            return f"{' '.join(self.requirements()[:3])} as of {self.cutoff}"
        jax = f"jax=={self.jax}" if self.jax else " ".join(self.lock_jax) or "jax"
        return f"flax=={self.flax} {jax} and {len(self.pins)} more pins of the lock"


def spec_for(
    the_matrix: Matrix, requested: str, backend: str, jax: str | None = None, lock: Lock | None = None
) -> EnvSpec:
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
    return spec_of(the_matrix, requested, flax, backend, jax, cutoff, lock)


def spec_of(
    the_matrix: Matrix, requested: str, flax: str, backend: str, jax: str | None, cutoff: date, lock: Lock | None
) -> EnvSpec:
    pinned = {} if lock else {v.version: v.jax for v in the_matrix.flax}  # a lock's JAX comes before matrix.yaml's
    return EnvSpec(
        flax=flax,
        jax=jax or pinned.get(flax) or pinned.get(requested),
        backend=backend,
        jax_extra=the_matrix.backends[backend].get("jax_extra"),
        python=the_matrix.python,
        cutoff=cutoff,
        tools=cell_tools(),
        pins=lock.requirements() if lock else (),
        lock_jax=lock.jax_pins() if lock and not jax else (),
    )


def envs_dir_for(workspace: Workspace, jax: str | None, lock: Lock | None) -> Path:
    """Where a cell's environment lives: a JAX chosen by hand and a team's lock each get their own directory
    (``.envs/lock-<digest of its pins>/``), so neither ever reuses an environment of matrix.yaml's."""
    base = workspace.envs / f"lock-{lock.digest}" if lock else workspace.envs
    return base / f"jax-{jax}" if jax else base
