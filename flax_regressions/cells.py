"""A cell is one Flax release on one backend: describe its environment, and the pytest run that fills it in."""

from __future__ import annotations

import shutil
import subprocess

from flax_regressions import envs, releases
from flax_regressions.matrix import Matrix
from flax_regressions.results import CELLS_DIR, RESULTS_DIR, cell_id


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


def pytest_command(python, requested: str, backend: str, extra: list[str]) -> list[str]:
    """The pytest run for one cell: its conformance tests, its results file and its JUnit XML."""
    cell = cell_id(requested, backend)
    return [
        str(python), "-m", "pytest", "tests/test_cases.py", "-p", "no:cacheprovider",
        f"--backend={backend}",
        f"--results-file={CELLS_DIR / f'{cell}.json'}",
        f"--junitxml={RESULTS_DIR / 'junit' / f'{cell}.xml'}",
        *extra,
    ]
