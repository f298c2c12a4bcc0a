"""JAX's persistent compilation cache for every cell: most of a warm cell's time is XLA compiling the same
programs again, and the cache serves them from disk instead.

One directory (``.jax-cache/``, git-ignored) is shared by every cell, gate side, bisect probe and sweep
cell. That is safe because JAX's own cache key covers what makes a compiled program differ: the jaxlib
version, the backend's platform and its version, the XLA flags, the compile options and the program itself
(jax/_src/cache_key.py, the same from JAX 0.4.35 to 0.12), and our environments pin jax and jaxlib to one
release. Two releases never read each other's entries; they only share the directory.

JAX reads and writes the cache with its errors turned into warnings (``jax_raise_persistent_cache_errors``
is off by default): a corrupted entry is compiled again, an unwritable directory is not written. The
harness's tests hold both (tests/test_compile_cache.py). ``FLAX_REGRESSIONS_COMPILE_CACHE=off`` turns it off.

But a working cache can be wrong. Each release's own JAX was checked: every variant of every case run once
without the cache and twice with a fresh one. With JAX 0.5.1, 0.5.3 and 0.6.0 the cache served
vmap_while_loop's programs wrong (its variants disagree with their unrolled reference once a program comes
from the cache); every other case, and every case with JAX 0.4.34, 0.4.35 and 0.5.0, gave the same results
all three times. So those releases use the cache but for that case's variants (``SERVED_WRONG``;
cache_use.bypassed). Every JAX from 0.6.2 to 0.12.0.1 was checked with the five seeded cases, and has run
every case with the cache since (bisect, sweep) as matrix.yaml expects. Any other release before 0.6.2 was not
checked, and its cells run without the cache (``trusted``). The cell decides it itself, from its installed
JAX, before JAX is imported (incell.plugin).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from packaging.version import Version

SWITCH = "FLAX_REGRESSIONS_COMPILE_CACHE"
CHECKED_BEFORE_0_6_2 = frozenset({"0.4.34", "0.4.35", "0.5.0", "0.5.1", "0.5.3", "0.6.0"})
# case: the JAX releases that did. while_loop_multi_modules: found by the sweep of 2026-12-04 on JAX 0.5.1 (a fix
# "broken" with a counter of 0, right with the cache off, twice each way); 0.5.3 and 0.6.0 were right, twice each.
SERVED_WRONG = {
    "vmap_while_loop": frozenset({"0.5.1", "0.5.3", "0.6.0"}),
    "while_loop_multi_modules": frozenset({"0.5.1"}),
}


def is_on(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(SWITCH, "on").strip().lower() not in ("off", "0", "false", "no")


def trusted(jax: str | None) -> bool:
    """Whether a cell with this JAX release uses the cache: checked against no cache (see the module docstring)."""
    return jax is not None and (jax in CHECKED_BEFORE_0_6_2 or Version(jax) >= Version("0.6.2"))


def served_wrong(case: str, jax: str | None) -> bool:
    """Whether the cache served this case's programs wrong with this JAX: its variants run with the cache bypassed."""
    return jax in SERVED_WRONG.get(case, ())


def settings(directory: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment variables that turn the cache on for a cell (none when it is off)."""
    if not is_on(environ):
        return {}
    return {
        "JAX_COMPILATION_CACHE_DIR": str(directory),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",  # the default 1 s would skip nearly every program here
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


VARIABLES = tuple(settings(Path(), environ={}))  # what turning the cache on sets, so what turning it off removes
