"""Where a cell's pytest runs, and with what: the harness directory, the one pytest command, its environment.

A cell's environment installs Flax, JAX and the cell tools, not this package, so its pytest runs in a directory
from which ``flax_regressions`` imports: a copy of the package's modules under ``.envs/harness/<digest>/``, named by
their content. It is the same in a checkout and in an installed wheel (whose site-packages could not serve: its
other packages would shadow the cell's), a running cell never sees the package change under it, and a copy is made
once per version of the package (a few milliseconds). A ``pytest.ini`` beside it keeps the configuration of the
directories above (a team's own pytest settings) out of the cell.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
import time
from pathlib import Path

from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.cells import CellId
from flax_regressions.core.paths import PACKAGE_DIR, builtin_matrix
from flax_regressions.core.results import cell_file
from flax_regressions.core.workspace import Workspace
from flax_regressions.running import compile_cache

PLUGIN = "flax_regressions.incell.plugin"
IN_CELL_TESTS = ("flax_regressions/incell/conformance_tests.py", "flax_regressions/incell/property_tests.py")
STALE_AFTER_S = 86400.0  # a copy for an older version of the package, unused for a day, is removed


def harness(workspace: Workspace) -> Path:
    """The harness directory for this version of the package (see the module docstring)."""
    return _harness(workspace.envs)


@functools.cache
def _harness(envs: Path) -> Path:
    sources = sorted(p for p in PACKAGE_DIR.rglob("*.py") if "builtin" not in p.relative_to(PACKAGE_DIR).parts)
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    home = envs / "harness" / digest.hexdigest()[:12]
    if not (home / "pytest.ini").exists():
        fresh = home.with_name(f".{home.name}-{os.getpid()}-{threading.get_ident()}")
        for path in sources:
            target = fresh / "flax_regressions" / path.relative_to(PACKAGE_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        (fresh / "pytest.ini").write_text("[pytest]\naddopts = -ra\n")  # written last: it marks a whole copy
        try:
            fresh.rename(home)
        except OSError:  # another process made the same copy first
            shutil.rmtree(fresh, ignore_errors=True)
    for other in home.parent.iterdir():
        if other != home and time.time() - other.stat().st_mtime > STALE_AFTER_S:
            shutil.rmtree(other, ignore_errors=True)
    os.utime(home)
    return home


def pytest_command(
    python: str | Path, cell: CellId, extra: list[str], workspace: Workspace, cells_dir: Path, run_id: str | None = None
) -> list[str]:
    """The pytest run for one cell: its conformance and property tests, its results file and its JUnit XML.

    Every caller (the nox session, the gate, bisect, sweep, the bug report) narrows it with ``extra`` only.
    """
    home = harness(workspace)
    return [
        str(python),
        "-m",
        "pytest",
        *(str(home / test) for test in IN_CELL_TESTS),
        "-p",
        PLUGIN,
        "-p",
        "no:cacheprovider",
        # the harness's own configuration, whatever the paths among the arguments (a team's cases directory in a
        # repository with its own pytest settings) would make pytest find
        f"--config-file={home / 'pytest.ini'}",
        f"--rootdir={home}",
        "-n",
        "1",  # one xdist worker: a variant that crashes or hangs takes only itself down (see incell.faults)
        f"--backend={cell.backend}",
        f"--cell={cell}",
        f"--matrix={builtin_matrix()}",
        f"--results-file={cell_file(cells_dir, cell)}",
        f"--junitxml={cells_dir.parent / 'junit' / f'{cell}.xml'}",
        *([f"--run-id={run_id}"] if run_id else []),
        *extra,
    ]


def cases_args(the_matrix: Matrix) -> list[str]:
    """What makes a cell's pytest read the same matrix: the --cases directories it was read with (none: built-in)."""
    return [f"--flax-cases={directory}" for directory in the_matrix.case_dirs]


def cell_environment(workspace: Workspace, backend: str, environ: dict[str, str]) -> dict[str, str]:
    """What a cell's pytest runs with besides the caller's environment (``environ``): its backend, the bytecode it
    compiles, and JAX's compilation cache (the work directory's, unless the caller's environment names one or turns
    it off; the cell itself turns it off where its JAX cannot be trusted with it, incell.plugin).

    Python compiles each module it imports from source when it finds no bytecode, and where
    PYTHONDONTWRITEBYTECODE is set (this machine, CI) it never keeps any: every cell compiled JAX and Flax again
    (measured: ``import jax, flax.nnx`` 5.3 s without bytecode, 1.7 s with). Cells keep it under .envs/bytecode/
    (PYTHONPYCACHEPREFIX), never beside a source file: an environment's, the harness's or a team's repro modules.
    """
    cache = compile_cache.settings(Path(environ.get("JAX_COMPILATION_CACHE_DIR") or workspace.compile_cache), environ)
    return {"JAX_PLATFORMS": backend} | keep_bytecode(workspace) | cache


def keep_bytecode(workspace: Workspace) -> dict[str, str]:
    """The environment in which a Python keeps the bytecode it compiles under .envs/bytecode/, whatever
    PYTHONDONTWRITEBYTECODE says: pytest keeps the modules it rewrites there too."""
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(workspace.bytecode)}
