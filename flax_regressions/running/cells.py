"""A cell is one Flax release on one backend: its environment, and the one pytest command that fills in its results."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from flax_regressions.core.paths import CELLS_DIR, ENVS_DIR, ROOT
from flax_regressions.core.results import CellId, CellOutcome, CellResult, ResultsError, cell_file
from flax_regressions.running import envs
from flax_regressions.spec import releases
from flax_regressions.spec.model import Matrix

PLUGIN = "flax_regressions.incell.plugin"
IN_CELL_TESTS = ("flax_regressions/incell/test_cases.py", "flax_regressions/incell/test_properties.py")


def spec_for(the_matrix: Matrix, requested: str, backend: str, jax: str | None = None) -> envs.EnvSpec:
    """The environment for ``requested`` (a release or ``latest``): its JAX pin comes from matrix.yaml when
    the default matrix lists that release, otherwise from the resolution cut-off alone.

    ``jax`` pins another JAX release instead (bisect holds Flax fixed and varies JAX); the cut-off then
    moves to that JAX's release day when it is later, so the rest resolves as it stood for that JAX.
    """
    flax = releases.resolve(requested, the_matrix.python)
    cutoff = releases.cutoff(flax)
    if jax is not None:
        if jax not in releases.published("jax"):
            raise releases.RegistryError(f"jax {jax} is not a release on the registry")
        cutoff = max(cutoff, releases.cutoff(jax, "jax"))
    return _spec(the_matrix, requested, flax, backend, jax, cutoff)


def built_spec(the_matrix: Matrix, requested: str, backend: str, jax: str | None, envs_dir: Path) -> envs.EnvSpec | None:
    """The spec of a release whose environment was built before, read with no network (None: never built).

    Everything in a spec but the cut-off comes from matrix.yaml and pyproject.toml, and a release's cut-off (its
    publication day) never changes, so the one recorded at build time stands; envs.ensure then reuses the
    environment when its pins still hold. ``latest`` asks the registry.
    """
    if requested == "latest":
        return None
    recorded = envs.recorded_cutoff(envs_dir / str(CellId(requested, backend)))
    return None if recorded is None else _spec(the_matrix, requested, requested, backend, jax, recorded)


def _spec(the_matrix: Matrix, requested: str, flax: str, backend: str, jax: str | None, cutoff) -> envs.EnvSpec:
    pinned = {v.version: v.jax for v in the_matrix.flax}
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


def pytest_command(python, cell: CellId, extra: list[str], cells_dir: Path = CELLS_DIR) -> list[str]:
    """The pytest run for one cell: its conformance and property tests, its results file and its JUnit XML.

    Every caller (the nox session, the gate, bisect, sweep, the bug report) narrows it with ``extra`` only.
    """
    return [
        str(python), "-m", "pytest", *IN_CELL_TESTS, "-p", PLUGIN, "-p", "no:cacheprovider",
        "-n", "1",  # one xdist worker: a variant that crashes or hangs takes only itself down (see incell.faults)
        f"--backend={cell.backend}",
        f"--cell={cell}",
        f"--results-file={cell_file(cells_dir, cell)}",
        f"--junitxml={cells_dir.parent / 'junit' / f'{cell}.xml'}",
        *extra,
    ]


def _subprocess_runner(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=os.environ | env, cwd=ROOT)


def run_cell(the_matrix: Matrix, requested: str, backend: str, extra: list[str] = (), *,
             cells_dir: Path = CELLS_DIR, log=print, runner=_subprocess_runner, jax: str | None = None) -> CellResult:
    """Run one cell (any Flax release on the registry, or ``latest``) and return what it recorded.

    A cell that cannot run still gets a results file: "skipped" with why when its backend is absent,
    "error" with uv's one-line reason when its environment cannot be built, "not run" when the registry
    cannot be reached (that says nothing about the release). ``runner(command, env)`` runs pytest; the nox
    session passes its own so the run shows in nox's log. ``jax`` pins another JAX than the release's own
    (see spec_for): the cell and its environment (under .envs/jax-<jax>/) say so.
    """
    cell = CellId(requested, backend, jax)
    path = cell_file(cells_dir, cell)
    reason = missing_backend(the_matrix, backend)
    if reason:
        return _not_run(path, cell, CellOutcome.SKIPPED, reason)
    envs_dir = ENVS_DIR / f"jax-{jax}" if jax else ENVS_DIR
    try:
        spec = built_spec(the_matrix, requested, backend, jax, envs_dir) or spec_for(the_matrix, requested, backend, jax)
        python = envs.ensure(spec, envs_dir, log=log)
    except releases.RegistryUnreachable as exc:
        return _not_rerun(path, cell, _install_reason(cell, exc))
    except (envs.EnvError, releases.RegistryError) as exc:
        return _not_run(path, cell, CellOutcome.ERROR, _install_reason(cell, exc))
    runner(pytest_command(python, cell, list(extra), cells_dir), {"JAX_PLATFORMS": backend})
    try:
        return CellResult.load(path)
    except ResultsError as exc:
        reason = "pytest wrote no results file" if not path.exists() else str(exc)
        return CellResult.not_run(cell, CellOutcome.NOT_RUN, f"{reason} (see its output)")


def _install_reason(cell: CellId, exc: Exception) -> str:
    text = str(exc)
    return text if text.startswith("could not install") else f"could not install {cell}: {text}"


def _not_rerun(path: Path, cell: CellId, reason: str) -> CellResult:
    """A cell the harness could not run now: the last good result stays, saying so; else a "not run" file."""
    try:
        earlier = CellResult.load(path)
    except ResultsError:
        earlier = None
    if earlier is None or earlier.outcome is not CellOutcome.RAN:
        return _not_run(path, cell, CellOutcome.NOT_RUN, reason)
    result = replace(earlier, rerun_failed=reason)
    result.write(path)
    return result


def _not_run(path: Path, cell: CellId, outcome: CellOutcome, reason: str) -> CellResult:
    result = CellResult.not_run(cell, outcome, reason)
    result.write(path)
    return result
