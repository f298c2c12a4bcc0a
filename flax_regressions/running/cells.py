"""A cell is one Flax release on one backend: its environment, and the one pytest command that fills in its results."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from dataclasses import replace
from pathlib import Path

from flax_regressions.core.paths import BYTECODE_DIR, CELLS_DIR, ENVS_DIR, HARNESS_DIR, INSTALLED, PACKAGE_DIR
from flax_regressions.core.results import CellId, CellOutcome, CellResult, ResultsError, cell_file
from flax_regressions.running import envs
from flax_regressions.running.runners import Runner, subprocess_runner
from flax_regressions.running.locks import Lock, LockError
from flax_regressions.spec import releases
from flax_regressions.spec.model import Matrix

PLUGIN = "flax_regressions.incell.plugin"
IN_CELL_TESTS = ("flax_regressions/incell/test_cases.py", "flax_regressions/incell/test_properties.py")


def spec_for(the_matrix: Matrix, requested: str, backend: str, jax: str | None = None,
             lock: Lock | None = None) -> envs.EnvSpec:
    """The environment for ``requested`` (a release or ``latest``): its JAX pin comes from matrix.yaml when
    the default matrix lists that release, otherwise from the resolution cut-off alone.

    ``jax`` pins another JAX release instead (bisect holds Flax fixed and varies JAX); the cut-off then
    moves to that JAX's release day when it is later, so the rest resolves as it stood for that JAX.
    ``lock`` (a team's own) gives every other pin, its JAX included unless ``jax`` replaces it.
    """
    flax = releases.resolve(requested, the_matrix.python)
    cutoff = releases.cutoff(flax)
    if jax is not None:
        if jax not in releases.published("jax"):
            raise releases.RegistryError(f"jax {jax} is not a release on the registry")
        cutoff = max(cutoff, releases.cutoff(jax, "jax"))
    return _spec(the_matrix, requested, flax, backend, jax, cutoff, lock)


def built_spec(the_matrix: Matrix, requested: str, backend: str, jax: str | None, envs_dir: Path,
               lock: Lock | None = None) -> envs.EnvSpec | None:
    """The spec of a release whose environment was built before, read with no network (None: never built).

    Everything in a spec but the cut-off comes from matrix.yaml and pyproject.toml, and a release's cut-off (its
    publication day) never changes, so the one recorded at build time stands; envs.ensure then reuses the
    environment when its pins still hold. ``latest`` asks the registry.
    """
    if requested == "latest":
        return None
    recorded = envs.recorded_cutoff(envs_dir / str(CellId(requested, backend)))
    return None if recorded is None else _spec(the_matrix, requested, requested, backend, jax, recorded, lock)


def _spec(the_matrix: Matrix, requested: str, flax: str, backend: str, jax: str | None, cutoff,
          lock: Lock | None) -> envs.EnvSpec:
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


def envs_dir_for(jax: str | None, lock: Lock | None) -> Path:
    """Where a cell's environment lives: a JAX chosen by hand and a team's lock each get their own directory
    (``.envs/lock-<digest of its pins>/``), so neither ever reuses an environment of matrix.yaml's."""
    base = ENVS_DIR / f"lock-{lock.digest}" if lock else ENVS_DIR
    return base / f"jax-{jax}" if jax else base


def missing_backend(the_matrix: Matrix, backend: str) -> str | None:
    """Why ``backend`` cannot run on this machine, or None when it can."""
    if the_matrix.backends[backend].get("needs") != "nvidia-gpu":
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None or subprocess.run([smi, "-L"], capture_output=True).returncode != 0:
        return "no NVIDIA GPU on this machine (nvidia-smi not found or failing)"
    return None


def pytest_command(python: str | Path, cell: CellId, extra: list[str], cells_dir: Path = CELLS_DIR,
                   run_id: str | None = None) -> list[str]:
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
        *([f"--run-id={run_id}"] if run_id else []),
        *extra,
    ]


def harness() -> Path:
    """Where a cell's pytest runs: a directory from which ``flax_regressions`` imports (a cell's environment does
    not install it) and the in-cell tests' relative paths resolve. A checkout's root is one. An installed
    package's site-packages is not (its other packages would shadow the cell's), so there it is .envs/harness/
    in the work directory: a link to the package, and a pytest.ini that keeps the configuration of the
    directories above (the user's own pytest settings) out of the cell."""
    if not INSTALLED:
        return HARNESS_DIR
    HARNESS_DIR.mkdir(parents=True, exist_ok=True)
    link = HARNESS_DIR / "flax_regressions"
    if not (link.is_symlink() and link.resolve() == PACKAGE_DIR):
        fresh = HARNESS_DIR / f".flax_regressions-{os.getpid()}-{threading.get_ident()}"
        fresh.symlink_to(PACKAGE_DIR, target_is_directory=True)
        os.replace(fresh, link)  # atomic: a cell starting beside this one sees the old link or the new one
    ini = HARNESS_DIR / "pytest.ini"
    if not ini.exists():
        ini.write_text("[pytest]\naddopts = -ra\n")
    return HARNESS_DIR


def cases_args(the_matrix: Matrix) -> list[str]:
    """What makes a cell's pytest read the same matrix: the --cases directories it was read with (none: the built-in)."""
    return [arg for directory in the_matrix.case_dirs for arg in ("--flax-cases", str(directory))]


def cell_environment(backend: str) -> dict[str, str]:
    """What a cell's pytest runs with besides the caller's environment: its backend, and the bytecode it compiles.

    Python compiles each module it imports from source when it finds no bytecode, and where
    PYTHONDONTWRITEBYTECODE is set (this machine, CI) it never keeps any: every cell compiled JAX and Flax again
    (measured: ``import jax, flax.nnx`` 5.3 s without bytecode, 1.7 s with). Cells keep it under .envs/bytecode/
    (PYTHONPYCACHEPREFIX), never beside a source file: an environment's, the harness's or a team's repro modules.
    """
    return {"JAX_PLATFORMS": backend} | keep_bytecode()


def keep_bytecode() -> dict[str, str]:
    """The environment in which a Python keeps the bytecode it compiles under .envs/bytecode/, whatever
    PYTHONDONTWRITEBYTECODE says: pytest keeps the modules it rewrites there too."""
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(BYTECODE_DIR)}


PYTEST_EXIT = {2: "it was interrupted", 3: "internal error", 4: "usage error", 5: "no test was collected"}


def run_pytest(the_matrix: Matrix, python: str | Path, cell: CellId, extra: list[str], cells_dir: Path,
               runner: Runner, backend: str) -> CellResult:
    """Run a cell's pytest and return what it recorded; a run that recorded nothing (a mistyped option, ``-k`` that
    selects nothing, pytest failing to start) never stands for one that did: the earlier results file is kept as
    it was, marked "not run now" with pytest's exit status (so every report of it says so), and the result says why.
    Whether the file is this run's own is told by the run id the cell writes into it (incell.recorder)."""
    path = cell_file(cells_dir, cell)
    run_id = uuid.uuid4().hex
    command = pytest_command(python, cell, cases_args(the_matrix) + list(extra), cells_dir, run_id)
    status = runner(command, cell_environment(backend), harness())
    try:
        result = CellResult.load(path)
    except ResultsError:
        result = None
    if result is not None and result.run_id == run_id:
        return result
    why = PYTEST_EXIT.get(status, "it failed" if status else "it ran no variant of the cell")
    return _not_rerun(path, cell, f"pytest exited with status {status} ({why}) and recorded nothing; see its output")


def run_cell(the_matrix: Matrix, requested: str, backend: str, extra: list[str] = (), *,
             cells_dir: Path = CELLS_DIR, log=print, runner: Runner = subprocess_runner, jax: str | None = None,
             lock: Lock | None = None) -> CellResult:
    """Run one cell (any Flax release on the registry, or ``latest``) and return what it recorded.

    A cell that cannot run on this machine (its backend is absent) is "skipped" with why, and its results file, one a
    machine with that backend may have written, is left alone. One whose environment cannot be built gets a results
    file: "error" with uv's one-line reason, or, when the registry cannot be reached (that says nothing about the
    release), its last good result marked "not run now". With a team's ``lock`` that cannot be installed with the
    release, it is the lock's problem: LockError, and nothing is written. ``runner(command, env, cwd)`` runs pytest and
    returns its exit status. ``jax`` pins another JAX than the release's own (see spec_for): the cell and its
    environment (under .envs/jax-<jax>/) say so. ``lock`` builds the environment from a team's own pins (under
    .envs/lock-<digest>/), and the cell's name says so too.
    """
    cell = CellId(requested, backend, jax, lock.digest if lock else None)
    path = cell_file(cells_dir, cell)
    reason = missing_backend(the_matrix, backend)
    if reason:
        return CellResult.not_run(cell, CellOutcome.SKIPPED, reason)
    envs_dir = envs_dir_for(jax, lock)
    try:
        spec = (built_spec(the_matrix, requested, backend, jax, envs_dir, lock)
                or spec_for(the_matrix, requested, backend, jax, lock))
        python = envs.ensure(spec, envs_dir, log=log)
    except releases.RegistryUnreachable as exc:
        return _not_rerun(path, cell, _install_reason(cell, exc))
    except envs.EnvError as exc:
        if lock is not None:
            raise LockError(f"{_install_reason(cell, exc)} (from --lock {lock.source})") from None
        return _not_run(path, cell, CellOutcome.ERROR, _install_reason(cell, exc))
    except releases.RegistryError as exc:
        return _not_run(path, cell, CellOutcome.ERROR, _install_reason(cell, exc))
    return run_pytest(the_matrix, python, cell, extra, cells_dir, runner, backend)


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
