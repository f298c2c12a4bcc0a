"""What the end-to-end tests share with the checkout they run in: its environments (their bytecode with them) and
its compilation cache.

Each of those tests runs the tool in a work directory of its own, a team's repository copied to a temporary
directory. Alone, that directory would build its environments, compile JAX and Flax's bytecode and XLA's programs
again on every run; shared, a second run builds nothing, as a team's CI that restores its caches. An environment
is built under a lock (running.envs) and JAX's cache key covers the jaxlib release and the backend
(running.compile_cache), so tests running side by side share them safely, on one condition: an environment is
named by its release and backend and rebuilt when its pins differ, so a test that shares them gives a release
the pins matrix.yaml gives it, or a lock (whose environments have a directory of their own). What a test checks
about where the tool writes, it checks with its own directories (no SHARED).
"""

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

from flax_regressions.core.workspace import ENVDIR_ENV, Workspace
from flax_regressions.running import uv

ROOT = Path(__file__).resolve().parents[1]  # the checkout the tests run in
WORKSPACE = Workspace.at(ROOT)
SHARED = {ENVDIR_ENV: str(WORKSPACE.envs), "JAX_COMPILATION_CACHE_DIR": str(WORKSPACE.compile_cache)}
UV = uv.uv()


def kept_venv(name: str, requirements: list[str], key: str) -> Path:
    """A virtual environment under the checkout's .envs/ with ``requirements`` installed (bytecode compiled), built
    once and kept while ``key`` stays the same: the xdist workers wait for one another, the next run reuses it."""
    env = WORKSPACE.envs / name
    WORKSPACE.envs.mkdir(parents=True, exist_ok=True)
    with open(WORKSPACE.envs / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = env / "built-for"
        if stamp.is_file() and stamp.read_text() == key:
            return env
        shutil.rmtree(env, ignore_errors=True)
        subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(env)], check=True, capture_output=True)
        subprocess.run(
            [
                UV,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                str(env / "bin" / "python"),
                *requirements,
            ],
            check=True,
            capture_output=True,
        )
        stamp.write_text(key)
    return env
