"""What JAX's persistent compilation cache did during one test (compilations that asked it, those it served), and
the cache bypassed for a case whose programs it served wrong on this JAX (running.compile_cache.served_wrong).

Counted from JAX's own monitoring events (``/jax/compilation_cache/compile_requests_use_cache`` and
``.../cache_hits``, recorded by jax/_src/compiler.py in every release the suite runs), in the process that
runs the variant. The listener is set up (which imports JAX) once the run knows it will run variants, before
the first one starts: never inside a variant's timeout (incell.faults), never in a run of other tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

REQUESTS = "/jax/compilation_cache/compile_requests_use_cache"
SERVED = "/jax/compilation_cache/cache_hits"

_seen: Counter = Counter()
_listening = False


def _count(event: str, *args: object, **kwargs: object) -> None:
    if event in (REQUESTS, SERVED):
        _seen[event] += 1


def listen() -> None:
    """Count JAX's cache events from now on in this process (nothing to count where JAX is not installed)."""
    global _listening
    if _listening:
        return
    try:
        from jax import monitoring
    except ImportError:
        return
    monitoring.register_event_listener(_count)
    _listening = True


@contextmanager
def counted() -> Iterator[dict[str, int]]:
    """Yield a dict that holds, once the block ends, the block's ``requests`` and ``served`` counts."""
    before, delta = Counter(_seen), dict[str, int]()
    try:
        yield delta
    finally:
        delta.update(requests=_seen[REQUESTS] - before[REQUESTS], served=_seen[SERVED] - before[SERVED])


@contextmanager
def bypassed() -> Iterator[None]:
    """Neither read nor write the persistent cache during the block; the rest of the cell keeps using it.

    JAX decides once per process whether to use the cache and keeps the answer; ``reset_cache`` (in
    jax/_src/compilation_cache.py of every JAX the suite runs) forgets it, so the next compilation asks
    ``jax_enable_compilation_cache`` again: on the way in and on the way out."""
    import jax
    from jax._src import compilation_cache

    enabled = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    compilation_cache.reset_cache()
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", enabled)
        compilation_cache.reset_cache()
