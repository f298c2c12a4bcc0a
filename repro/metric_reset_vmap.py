"""Metric.reset() on metrics built under nnx.vmap replaces their (N,) state with scalars; the next vmapped update fails.

Upstream: https://github.com/google/flax/issues/5483 (regression test added by
https://github.com/google/flax/pull/5491, which found it no longer reproduces on main).

What goes wrong: the reporter builds one model, optimizer and ``nnx.MultiMetric`` per seed with ``nnx.vmap``, so
every metric Variable (``total``, ``count``) carries a leading axis of shape ``(N,)``. ``Average.reset()`` re-zeroes
its state with ``self.total.value = jnp.array(0, ...)``, which replaces the whole array: after ``metrics.reset()``
the state has shape ``()``, and the next vmapped ``update`` fails with ``ValueError: vmap was requested to map its
argument along axis 0, which implies that its rank should be at least 1, but is only 0 (its shape is ())``. Flax
0.12.1 changed ``reset`` to ``self.total[...] = ...`` (the move from ``.value`` to ``[...]``), which writes the
scalar into the existing array, broadcasting it, and keeps the shape.

Versions named in the report: Flax 0.12.0 with JAX 0.7.2 (PR #5491 confirms it there and says it is gone on main
"independent of any single commit"). Measured: every release from 0.10.0 to 0.12.0; gone from 0.12.1 (commit
33fbbe6b "Variable refactor" rewrote ``reset``).

Variants:
  bug                  -- PR #5491's reproducer: ``nnx.vmap`` builds a ``MultiMetric(loss=Average('loss'))`` per seed,
                          a vmapped update, ``metrics.reset()`` outside the vmap, then a vmapped update again.
  bug_average          -- the same with a bare ``nnx.metrics.Average`` and no MultiMetric.
  fix_recreate         -- build the metrics again with the vmapped constructor instead of calling ``reset()``.
  fix_reset_in_vmap    -- call ``reset()`` inside ``nnx.vmap`` (each example sees its own scalar state).
Every variant checks the state still has shape ``(seeds,)`` after the reset and that ``compute()`` after the second
round of updates equals the NumPy mean of the values fed in after the reset, per seed.

Run: python repro/metric_reset_vmap.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "seeds": [1, 3],
    "updates": [1, 2],
}


@nnx.vmap(in_axes=0, out_axes=0)
def _init_multimetric(seed):
    del seed  # only gives the metrics a batch axis
    return nnx.MultiMetric(loss=nnx.metrics.Average("loss"))


@nnx.vmap(in_axes=0, out_axes=0)
def _init_average(seed):
    del seed
    return nnx.metrics.Average("loss")


@nnx.vmap(in_axes=(0, 0))
def _update(metrics, loss):
    metrics.update(loss=loss)


@nnx.vmap(in_axes=0)
def _reset(metrics):
    metrics.reset()


def _losses(seeds, updates, offset):
    return [np.linspace(0.1, 1.0, seeds, dtype=np.float32) * (k + 1) + offset for k in range(updates)]


def _run(metrics, reset, seeds, updates):
    """Vmapped updates, reset, vmapped updates again; returns the per-seed average after the reset."""
    for loss in _losses(seeds, updates, offset=0.0):
        _update(metrics, jnp.asarray(loss))
    metrics = reset(metrics)
    after = _losses(seeds, updates, offset=5.0)
    for loss in after:
        _update(metrics, jnp.asarray(loss))  # 0.12.0: ValueError, the state has rank 0
    shapes = {np.shape(leaf) for leaf in jax.tree.leaves(nnx.state(metrics))}
    assert shapes == {(seeds,)}, "the vmapped metric state lost its (seeds,) shape"
    return metrics, np.mean(np.stack(after), axis=0)


def _check(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, err_msg="average after reset != NumPy mean")


def _plain_reset(metrics):
    metrics.reset()
    return metrics


def bug(*, seeds=3, updates=2):
    """PR #5491's reproducer: metrics built under nnx.vmap, reset() outside it."""
    metrics, want = _run(_init_multimetric(jnp.arange(seeds)), _plain_reset, seeds, updates)
    _check(metrics.compute()["loss"], want)


def bug_average(*, seeds=3, updates=2):
    """A bare Average built under nnx.vmap, reset() outside it."""
    metrics, want = _run(_init_average(jnp.arange(seeds)), _plain_reset, seeds, updates)
    _check(metrics.compute(), want)


def fix_recreate(*, seeds=3, updates=2):
    """Build the metrics again instead of resetting them."""
    metrics, want = _run(
        _init_multimetric(jnp.arange(seeds)), lambda m: _init_multimetric(jnp.arange(seeds)), seeds, updates
    )
    _check(metrics.compute()["loss"], want)


def fix_reset_in_vmap(*, seeds=3, updates=2):
    """Reset inside nnx.vmap, where each example's state is a scalar."""

    def reset(metrics):
        _reset(metrics)
        return metrics

    metrics, want = _run(_init_multimetric(jnp.arange(seeds)), reset, seeds, updates)
    _check(metrics.compute()["loss"], want)


def main():
    """Run every variant and print PASS or the exception's type and first line, then the versions."""
    from importlib.metadata import version

    for name, variant in list(globals().items()):
        if callable(variant) and (name in ("bug", "fix") or name.startswith(("bug_", "fix_"))):
            try:
                variant()
                print(f"{name}: PASS")
            except Exception as exc:  # report every failure the same way
                first_line = (str(exc).strip().splitlines() or [""])[0]
                print(f"{name}: {type(exc).__name__}: {first_line}")
    print(f"flax {version('flax')}  jax {version('jax')}  jaxlib {version('jaxlib')}  backend {jax.default_backend()}")


if __name__ == "__main__":
    main()
