"""A cell is one Flax release on one backend: its environment built, its pytest run, what it recorded.

Every command that runs cells (the nox sessions, run, the gate, bisect, sweep, the bug report) runs them here, and
a cell that could not run, or ran nothing, is said as such: never as a result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.results import CellId, CellOutcome, CellResult, ResultsError, cell_file
from flax_regressions.core.workspace import Workspace
from flax_regressions.running import envs, harness, registry, specs
from flax_regressions.running.locks import Lock, LockError
from flax_regressions.running.runners import Runner, subprocess_runner

Log = Callable[[str], None]


def missing_backend(the_matrix: Matrix, backend: str) -> str | None:
    """Why ``backend`` cannot run on this machine, or None when it can."""
    if the_matrix.backends[backend].get("needs") != "nvidia-gpu":
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None or subprocess.run([smi, "-L"], capture_output=True).returncode != 0:
        return "no NVIDIA GPU on this machine (nvidia-smi not found or failing)"
    return None


PYTEST_EXIT = {2: "it was interrupted", 3: "internal error", 4: "usage error", 5: "no test was collected"}


def run_pytest(
    workspace: Workspace,
    the_matrix: Matrix,
    python: str | Path,
    cell: CellId,
    extra: list[str],
    cells_dir: Path,
    runner: Runner,
) -> CellResult:
    """Run a cell's pytest and return what it recorded; a run that recorded nothing (a mistyped option, ``-k`` that
    selects nothing, pytest failing to start) never stands for one that did: the earlier results file is kept as
    it was, marked "not run now" with pytest's exit status (so every report of it says so), and the result says why.
    Whether the file is this run's own is told by the run id the cell writes into it (incell.recorder)."""
    path = cell_file(cells_dir, cell)
    run_id = uuid.uuid4().hex
    command = harness.pytest_command(
        python, cell, harness.cases_args(the_matrix) + list(extra), workspace, cells_dir, run_id
    )
    status = runner(
        command, harness.cell_environment(workspace, cell.backend, dict(os.environ)), harness.harness(workspace)
    )
    try:
        result = CellResult.load(path)
    except ResultsError:
        result = None
    if result is not None and result.run_id == run_id:
        return result
    why = PYTEST_EXIT.get(status, "it failed" if status else "it ran no variant of the cell")
    return _not_rerun(path, cell, f"pytest exited with status {status} ({why}) and recorded nothing; see its output")


def run_cell(
    workspace: Workspace,
    the_matrix: Matrix,
    requested: str,
    backend: str,
    extra: Sequence[str] = (),
    *,
    cells_dir: Path | None = None,
    log: Log = print,
    runner: Runner = subprocess_runner,
    jax: str | None = None,
    lock: Lock | None = None,
) -> CellResult:
    """Run one cell (any Flax release on the registry, or ``latest``) and return what it recorded.

    A cell that cannot run on this machine (its backend is absent) is "skipped" with why, and its results file, one a
    machine with that backend may have written, is left alone. One whose environment cannot be built gets a results
    file: "error" with uv's one-line reason, or, when the registry cannot be reached (that says nothing about the
    release), its last good result marked "not run now". With a team's ``lock`` that cannot be installed with the
    release, it is the lock's problem: LockError, and nothing is written. ``runner(command, env, cwd)`` runs pytest and
    returns its exit status. ``jax`` pins another JAX than the release's own (see spec_for): the cell and its
    environment (under .envs/jax-<jax>/) say so. ``lock`` builds the environment from a team's own pins (under
    .envs/lock-<digest>/), and the cell's name says so too. Its results go to ``cells_dir`` (default: the work
    directory's results/cells/).
    """
    cells_dir = cells_dir or workspace.cells
    cell = CellId(requested, backend, jax, lock.digest if lock else None)
    path = cell_file(cells_dir, cell)
    reason = missing_backend(the_matrix, backend)
    if reason:
        return CellResult.not_run(cell, CellOutcome.SKIPPED, reason)
    envs_dir = specs.envs_dir_for(workspace, jax, lock)
    try:
        spec = envs.built_spec(the_matrix, requested, backend, jax, envs_dir, lock) or specs.spec_for(
            the_matrix, requested, backend, jax, lock
        )
        python = envs.ensure(spec, envs_dir, log=log)
    except registry.RegistryUnreachable as exc:
        return _not_rerun(path, cell, _install_reason(cell, exc))
    except envs.EnvError as exc:
        if lock is not None:
            raise LockError(f"{_install_reason(cell, exc)} (from --lock {lock.source})") from None
        return _not_run(path, cell, CellOutcome.ERROR, _install_reason(cell, exc))
    except registry.RegistryError as exc:
        return _not_run(path, cell, CellOutcome.ERROR, _install_reason(cell, exc))
    return run_pytest(workspace, the_matrix, python, cell, list(extra), cells_dir, runner)


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
