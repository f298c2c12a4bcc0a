"""A cell is one Flax release on one backend: describe its environment, and the pytest run that fills it in."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from flax_regressions import envs, releases
from flax_regressions.matrix import Matrix
from flax_regressions.matrix import ROOT
from flax_regressions.results import CELLS_DIR, cell_id, write_cell_error


def spec_for(the_matrix: Matrix, requested: str, backend: str, jax: str | None = None) -> envs.EnvSpec:
    """The environment for ``requested`` (a release or ``latest``): its JAX pin comes from matrix.yaml when
    the default matrix lists that release, otherwise from the resolution cut-off alone.

    ``jax`` pins another JAX release instead (bisect holds Flax fixed and varies JAX); the cut-off then
    moves to that JAX's release day when it is later, so the rest resolves as it stood for that JAX.
    """
    flax = releases.resolve(requested, the_matrix.python)
    pinned = {v.version: v.jax for v in the_matrix.flax}
    cutoff = releases.cutoff(flax)
    if jax is not None:
        if jax not in releases.published("jax"):
            raise releases.RegistryError(f"jax {jax} is not a release on the registry")
        cutoff = max(cutoff, releases.cutoff(jax, "jax"))
    return envs.EnvSpec(
        flax=flax,
        jax=jax or pinned.get(flax) or pinned.get(requested),
        backend=backend,
        jax_extra=the_matrix.backends[backend].get("jax_extra"),
        python=the_matrix.python,
        cutoff=cutoff,
        tools=envs.cell_tools(),
    )


def missing_backend(the_matrix: Matrix, backend: str) -> str | None:
    """Why ``backend`` cannot run on this machine, or None when it can."""
    if the_matrix.backends[backend].get("needs") != "nvidia-gpu":
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None or subprocess.run([smi, "-L"], capture_output=True).returncode != 0:
        return "no NVIDIA GPU on this machine (nvidia-smi not found or failing)"
    return None


def pytest_command(python, requested: str, backend: str, extra: list[str], cells_dir: Path = CELLS_DIR,
                   jax: str | None = None) -> list[str]:
    """The pytest run for one cell: its conformance and property tests, its results file and its JUnit XML."""
    cell = cell_id(requested, backend, jax)
    return [
        str(python), "-m", "pytest", "tests/test_cases.py", "tests/test_properties.py", "-p", "no:cacheprovider",
        "-n", "1",  # one xdist worker: a variant that crashes or hangs takes only itself down (see faults)
        f"--backend={backend}",
        f"--results-file={cells_dir / f'{cell}.json'}",
        f"--junitxml={cells_dir.parent / 'junit' / f'{cell}.xml'}",
        *extra,
    ]


def _subprocess_runner(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=os.environ | env, cwd=ROOT)


def run_cell(the_matrix: Matrix, requested: str, backend: str, extra: list[str] = (), *,
             cells_dir: Path = CELLS_DIR, log=print, runner=_subprocess_runner, jax: str | None = None) -> Path:
    """Run one cell (any Flax release on the registry, or ``latest``) and return its results file.

    A cell that cannot run still gets a file: "skipped" with why when its backend is absent, "error" with
    uv's one-line reason when its environment cannot be built. ``runner(command, env)`` runs pytest; the
    nox session passes its own so the run shows in nox's log and fails the session. ``jax`` pins another
    JAX than the release's own (see spec_for): the cell and its environment (under .envs/jax-<jax>/) say so.
    """
    cell = cell_id(requested, backend, jax)
    path = cells_dir / f"{cell}.json"
    reason = missing_backend(the_matrix, backend)
    if reason:
        write_cell_error(cells_dir, cell, backend, "skipped", reason)
        return path
    try:
        envs_dir = envs.ENVS_DIR / f"jax-{jax}" if jax else envs.ENVS_DIR
        python = envs.ensure(spec_for(the_matrix, requested, backend, jax), envs_dir, log=log)
    except envs.EnvError as exc:
        write_cell_error(cells_dir, cell, backend, "error", str(exc))  # already "could not install ...: why"
        return path
    except releases.RegistryError as exc:
        write_cell_error(cells_dir, cell, backend, "error", f"could not install {cell}: {exc}")
        return path
    runner(pytest_command(python, requested, backend, list(extra), cells_dir, jax), {"JAX_PLATFORMS": backend})
    return path
