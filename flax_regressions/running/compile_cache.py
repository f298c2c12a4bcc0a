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

But a working cache can be wrong. Every variant of every case was run with each release's own JAX, once
without the cache and twice with a fresh one: JAX 0.5.1, 0.5.3 and 0.6.0 gave other results from the cache
(vmap_while_loop's variants disagree with their unrolled reference once served from the cache), while 0.4.35
and every JAX from 0.6.2 to 0.12.0.1 gave the same results all three times. Releases before 0.6.2 other than
0.4.35 were either wrong or not measured, so the cache stays off for them (``UNTRUSTED``). The cell decides it
itself, from its installed JAX, before JAX is imported (incell.plugin).
"""

from __future__ import annotations

import os
from pathlib import Path

from packaging.specifiers import SpecifierSet

from flax_regressions.core.paths import COMPILE_CACHE_DIR

SWITCH = "FLAX_REGRESSIONS_COMPILE_CACHE"
UNTRUSTED = SpecifierSet("<0.6.2,!=0.4.35")  # JAX releases whose cache changed results, or that were not measured


def is_on(environ=os.environ) -> bool:
    return environ.get(SWITCH, "on").strip().lower() not in ("off", "0", "false", "no")


def trusted(jax: str | None) -> bool:
    """Whether the cache gives the same results as no cache with this JAX release (see the module docstring)."""
    return jax is not None and jax not in UNTRUSTED


def settings(directory: Path = COMPILE_CACHE_DIR, environ=os.environ) -> dict[str, str]:
    """The environment variables that turn the cache on for a cell (none when it is off)."""
    if not is_on(environ):
        return {}
    return {
        "JAX_COMPILATION_CACHE_DIR": str(directory),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",  # the default 1 s would skip nearly every program here
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


VARIABLES = tuple(settings(environ={}))  # what turning the cache on sets, so what turning it off removes
