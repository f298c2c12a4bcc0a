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


def spec_for(the_matrix: Matrix, requested: str, backend: str) -> envs.EnvSpec:
    """The environment for ``requested`` (a release or ``latest``): its JAX pin comes from matrix.yaml when
    the default matrix lists that release, otherwise from the resolution cut-off alone."""
    flax = releases.resolve(requested, the_matrix.python)
    pinned = {v.version: v.jax for v in the_matrix.flax}
    return envs.EnvSpec(
        flax=flax,
        jax=pinned.get(flax) or pinned.get(requested),
        backend=backend,
        jax_extra=the_matrix.backends[backend].get("jax_extra"),
        python=the_matrix.python,
        cutoff=releases.cutoff(flax),
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


def pytest_command(python, requested: str, backend: str, extra: list[str], cells_dir: Path = CELLS_DIR) -> list[str]:
    """The pytest run for one cell: its conformance tests, its results file and its JUnit XML."""
    cell = cell_id(requested, backend)
    return [
        str(python), "-m", "pytest", "tests/test_cases.py", "-p", "no:cacheprovider",
        f"--backend={backend}",
        f"--results-file={cells_dir / f'{cell}.json'}",
        f"--junitxml={cells_dir.parent / 'junit' / f'{cell}.xml'}",
        *extra,
    ]


def _subprocess_runner(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=os.environ | env, cwd=ROOT)


def run_cell(the_matrix: Matrix, requested: str, backend: str, extra: list[str] = (), *,
             cells_dir: Path = CELLS_DIR, log=print, runner=_subprocess_runner) -> Path:
    """Run one cell (any Flax release on the registry, or ``latest``) and return its results file.

    A cell that cannot run still gets a file: "skipped" with why when its backend is absent, "error" with
    uv's one-line reason when its environment cannot be built. ``runner(command, env)`` runs pytest; the
    nox session passes its own so the run shows in nox's log and fails the session.
    """
    cell = cell_id(requested, backend)
    path = cells_dir / f"{cell}.json"
    reason = missing_backend(the_matrix, backend)
    if reason:
        write_cell_error(cells_dir, cell, backend, "skipped", reason)
        return path
    try:
        python = envs.ensure(spec_for(the_matrix, requested, backend), log=log)
    except (envs.EnvError, releases.RegistryError) as exc:
        write_cell_error(cells_dir, cell, backend, "error", str(exc))
        return path
    runner(pytest_command(python, requested, backend, list(extra), cells_dir), {"JAX_PLATFORMS": backend})
    return path
