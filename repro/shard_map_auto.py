"""Flax 0.12.0's nnx.shard_map passes `auto=` to jax.experimental.shard_map, which JAX 0.8.0 removed: TypeError.

Upstream: https://github.com/google/flax/issues/5058 (fixed by commits 5bf9b35f "Use jax.shard_map in flax" and
fd118b12 "use jax.shard_map", released in Flax 0.12.1).

What goes wrong: up to Flax 0.12.0, ``nnx.shard_map`` takes ``check_rep`` and ``auto`` and forwards both to
``jax.experimental.shard_map.shard_map``. JAX 0.8.0 reduced that function to a deprecated shim,
``shard_map(f, mesh, in_specs, out_specs, check_rep=True)`` ("The auto= parameter of
jax.experimental.shard_map.shard_map has been removed"), so with Flax 0.12.0 and JAX >= 0.8.0 every
``nnx.shard_map(...)`` call, even one that never mentions ``auto``, raises ``TypeError: shard_map() got an
unexpected keyword argument 'auto'`` when the transform is built. Flax 0.12.0 with its own JAX (0.7.2) works:
this is decided by JAX, with Flax held fixed. Flax 0.12.1 calls ``jax.shard_map`` instead and renamed the
arguments to ``axis_names`` and ``check_vma``, so code that passes ``check_rep=`` (or ``auto=``) to
``nnx.shard_map`` now fails the other way round: ``TypeError: shard_map() got an unexpected keyword argument
'check_rep'`` on 0.12.1+.

Versions named in the report: Flax 0.12.0 with jax/jaxlib 0.8.0 (Python 3.13); the JAX 0.8.0 changelog. Fixed in
Flax 0.12.1. Measured: Flax 0.11.1, 0.11.2 and 0.12.0 fail with JAX 0.8.0-0.8.2 and work with JAX 0.7.2 (no JAX
release lies between 0.7.2 and 0.8.0); Flax 0.11.0 with JAX 0.8.0 and 0.12.0 with JAX 0.9.0 do not import at all.
``nnx.shard_map`` itself exists from Flax 0.10.4, ``jax.shard_map`` from JAX 0.6.2 (not in 0.6.0).

Needs several devices to mean anything: this module sets ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
before JAX is imported (unless XLA_FLAGS already sets a device count). If JAX was imported before this module,
the flag has no effect: run it as its own process.

Variants:
  bug                         -- the issue's pattern: ``nnx.jit(nnx.shard_map(f, mesh=mesh, in_specs=...,
                                 out_specs=...))`` where ``f`` returns the shard's sum and its ``psum`` over "data"
                                 (here ``f`` also takes a replicated nnx.Linear, the reason to use nnx.shard_map).
  bug_check_rep               -- the same call with ``check_rep=False``, the pre-0.12.1 keyword.
  fix_jax_shard_map           -- ``jax.shard_map`` over ``nnx.split`` state, ``nnx.merge`` inside, in ``jax.jit``.
  fix_experimental_shard_map  -- ``jax.experimental.shard_map.shard_map`` (no ``auto``), the same way; deprecated
                                 from JAX 0.8.0 (DeprecationWarning on access).
Every variant that returns checks the per-shard sums and the total against NumPy (x split into one block of rows
per device, the Linear applied with its NumPy kernel and bias).

Run: python repro/shard_map_auto.py
"""

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import PartitionSpec as P

# rows_per_device: rows of x per device (x has rows_per_device * device_count rows); features: columns of x.
PROPERTY_SIZES = {
    "rows_per_device": [1, 3],
    "features": [1, 4],
}

OUT_FEATURES = 2


def _setup(rows_per_device, features):
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
    model = nnx.Linear(features, OUT_FEATURES, rngs=nnx.Rngs(0))
    rows = rows_per_device * jax.device_count()
    x = jnp.asarray(np.linspace(-1.0, 1.0, rows * features, dtype=np.float32).reshape(rows, features))
    return mesh, model, x


def _f(model, x):
    """The issue's body: this shard's sum and the sum over all shards."""
    cur_sum = model(x).sum()
    total_sum = jax.lax.psum(cur_sum, axis_name="data")
    return cur_sum.reshape((1,)), total_sum


def _check(model, x, cur_sums, total_sum):
    w, b = np.asarray(model.kernel[...], np.float64), np.asarray(model.bias[...], np.float64)
    blocks = np.split(np.asarray(x, np.float64), jax.device_count())
    want = np.array([(block @ w + b).sum() for block in blocks])
    np.testing.assert_allclose(
        np.asarray(cur_sums), want, rtol=1e-5, atol=1e-5, err_msg="per-shard sums != NumPy sums of each block of rows"
    )
    np.testing.assert_allclose(float(total_sum), want.sum(), rtol=1e-5, atol=1e-5, err_msg="psum total != NumPy sum")


def bug(*, rows_per_device=3, features=4):
    """The issue's call: nnx.jit(nnx.shard_map(...)) with a psum over "data"."""
    mesh, model, x = _setup(rows_per_device, features)
    func = nnx.jit(
        nnx.shard_map(_f, mesh=mesh, in_specs=(P(), P("data")), out_specs=(P("data"), P()))
    )  # flax 0.12.0 with jax >= 0.8.0: TypeError, unexpected keyword argument 'auto'
    cur_sums, total_sum = func(model, x)
    _check(model, x, cur_sums, total_sum)


def bug_check_rep(*, rows_per_device=3, features=4):
    """The same call with ``check_rep=False`` (the keyword up to 0.12.0; 0.12.1 renamed it to check_vma)."""
    mesh, model, x = _setup(rows_per_device, features)
    func = nnx.jit(
        nnx.shard_map(_f, mesh=mesh, in_specs=(P(), P("data")), out_specs=(P("data"), P()), check_rep=False)
    )  # 0.12.1+: TypeError, unexpected keyword argument 'check_rep'
    cur_sums, total_sum = func(model, x)
    _check(model, x, cur_sums, total_sum)


def _split_merge(shard_map, mesh, model):
    """A jax.jit function that shard_maps _f over the model's state (split outside, merged inside)."""
    graphdef, state = nnx.split(model)

    def body(state, x):
        return _f(nnx.merge(graphdef, state), x)

    @jax.jit
    def func(state, x):
        return shard_map(body, mesh=mesh, in_specs=(P(), P("data")), out_specs=(P("data"), P()))(state, x)

    return lambda x: func(state, x)


def fix_jax_shard_map(*, rows_per_device=3, features=4):
    """``jax.shard_map`` with nnx.split / nnx.merge."""
    mesh, model, x = _setup(rows_per_device, features)
    cur_sums, total_sum = _split_merge(jax.shard_map, mesh, model)(x)
    _check(model, x, cur_sums, total_sum)


def fix_experimental_shard_map(*, rows_per_device=3, features=4):
    """``jax.experimental.shard_map.shard_map`` (without ``auto``) with nnx.split / nnx.merge."""
    import jax.experimental.shard_map

    mesh, model, x = _setup(rows_per_device, features)
    cur_sums, total_sum = _split_merge(jax.experimental.shard_map.shard_map, mesh, model)(x)
    _check(model, x, cur_sums, total_sum)


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
