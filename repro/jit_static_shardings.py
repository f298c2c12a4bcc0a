"""nnx.jit with static_argnums and in_shardings fails: the static argument shifts the in_shardings tuple.

Upstream: https://github.com/google/flax/issues/4989 (fixed by https://github.com/google/flax/pull/4996,
commit 963f9ba9, released in Flax 0.12.1).

What goes wrong: ``jax.jit`` takes ``in_shardings`` for the non-static positional arguments only. ``nnx.jit``
before 0.12.1 passed the user's ``in_shardings`` straight on while its own wrapper still received every
argument, static ones included, so ``nnx.jit(_my_func, in_shardings=(x_sharding, None), static_argnums=(2,))``
called with three arguments fails (the issue: ``ValueError: Tuple arity mismatch: 3 != 2 ...``). Adding an
entry for the static argument, ``in_shardings=(x_sharding, None, None)``, fails too (the issue: "pjit
in_shardings specification must be a tree prefix ..."). PR #4996 re-inserts ``None`` for every static
position before calling jax.jit.

Needs several devices to mean anything: this module sets ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
before JAX is imported (unless XLA_FLAGS already sets a device count). The bug does not depend on the device
count; with one device the sharding is trivial. If JAX was imported before this module (e.g. by a test
harness), the flag has no effect: run it as its own process.

Versions named in the report: Flax 0.12.0 with jax 0.7.2 (MacOS, CPU). Fixed in 0.12.1.

Variants:
  bug                        -- the issue's code: ``in_shardings=(x_sharding, scale_sharding)``,
                                ``static_argnums=(2,)``, called as ``f(x, scale, True)`` and ``f(x, scale, False)``.
  bug_static_sharding_entry  -- the issue's second attempt: an in_shardings entry for the static argument too.
  bug_static_kwarg           -- the static argument by keyword (``static_argnames='use_relu'``): a natural
                                attempt that fails on every release (JAX rejects kwargs with in_shardings).
  fix_jax_jit                -- plain ``jax.jit`` with the same arguments (the function takes no NNX objects).
  fix_partial                -- the static argument bound with functools.partial before nnx.jit.
Every fix checks both results against NumPy (``sum(relu(x * scale))`` and ``sum(x * scale)``) and that the two
differ (x has negative entries, so relu matters). main() prints the device count next to the versions.

Run: python repro/jit_static_shardings.py
"""

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

# rows_per_device: rows of x per device (x has rows_per_device * device_count rows); cols: columns of x.
PROPERTY_SIZES = {
    "rows_per_device": [1, 2],
    "cols": [1, 4],
}


def _my_func(x, scale: float, use_relu: bool):
    """The issue's function."""
    y = x * scale
    if use_relu:
        y = jnp.maximum(y, 0)
    return y.sum()


def _setup(rows_per_device, cols):
    devices = mesh_utils.create_device_mesh((jax.device_count(),))
    mesh = Mesh(devices, axis_names=("data",))
    x_sharding = NamedSharding(mesh, P("data"))
    rows = rows_per_device * jax.device_count()
    x = jnp.arange(float(rows * cols)).reshape(rows, cols) - rows * cols / 2  # negatives, so relu matters
    return x_sharding, x, 0.5


def _check(call, x_sharding, x, scale):
    """call(use_relu) must give the NumPy results for both static values, and they must differ."""
    xn = np.asarray(x, np.float64)
    want = {True: np.maximum(xn * scale, 0).sum(), False: (xn * scale).sum()}
    got = {flag: float(call(flag)) for flag in (True, False)}
    for flag in (True, False):
        np.testing.assert_allclose(got[flag], want[flag], rtol=1e-6, err_msg=f"use_relu={flag}: result != NumPy")
    assert got[True] != got[False], "the static argument did not change the result"


def bug(*, rows_per_device=2, cols=4):
    """The issue's call: in_shardings for the two array arguments, static_argnums for the third."""
    x_sharding, x, scale = _setup(rows_per_device, cols)
    scale_sharding = None
    my_func_jit = nnx.jit(_my_func, in_shardings=(x_sharding, scale_sharding), static_argnums=(2,))
    my_func_jit(x, scale, True)  # 0.12.0: ValueError (Tuple arity mismatch)
    my_func_jit(x, scale, False)


def bug_static_sharding_entry(*, rows_per_device=2, cols=4):
    """The issue's second attempt: a (None) sharding entry for the static argument as well."""
    x_sharding, x, scale = _setup(rows_per_device, cols)
    my_func_jit = nnx.jit(_my_func, in_shardings=(x_sharding, None, None), static_argnums=(2,))
    my_func_jit(x, scale, True)
    my_func_jit(x, scale, False)


def bug_static_kwarg(*, rows_per_device=2, cols=4):
    """The static argument by keyword (``static_argnames``), in_shardings for the two positional arrays.

    Not a workaround: JAX itself refuses keyword arguments when in_shardings is given (before 0.12.1: "pjit does
    not support kwargs when in_shardings is specified"), and from 0.12.1 nnx.jit inserts a None for the
    static-by-name position, so the error becomes a tuple-length mismatch.
    """
    x_sharding, x, scale = _setup(rows_per_device, cols)
    my_func_jit = nnx.jit(_my_func, in_shardings=(x_sharding, None), static_argnames="use_relu")
    my_func_jit(x, scale, use_relu=True)
    my_func_jit(x, scale, use_relu=False)


def fix_jax_jit(*, rows_per_device=2, cols=4):
    """For a function that takes no NNX objects, plain jax.jit accepts the same arguments."""
    x_sharding, x, scale = _setup(rows_per_device, cols)
    my_func_jit = jax.jit(_my_func, in_shardings=(x_sharding, None), static_argnums=(2,))
    _check(lambda flag: my_func_jit(x, scale, flag), x_sharding, x, scale)


def fix_partial(*, rows_per_device=2, cols=4):
    """Bind the static argument with functools.partial; one nnx.jit per static value."""
    x_sharding, x, scale = _setup(rows_per_device, cols)
    jitted = {
        flag: nnx.jit(functools.partial(_my_func, use_relu=flag), in_shardings=(x_sharding, None))
        for flag in (True, False)
    }
    _check(lambda flag: jitted[flag](x, scale), x_sharding, x, scale)


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
    print(
        f"flax {version('flax')}  jax {version('jax')}  jaxlib {version('jaxlib')}  backend {jax.default_backend()}"
        f"  devices {jax.device_count()}"
    )


if __name__ == "__main__":
    main()
