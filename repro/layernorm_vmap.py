"""nnx.vmap applied directly to an nnx.LayerNorm instance raises TypeError.

Upstream: https://github.com/google/flax/issues/4570

What goes wrong: inside ``@nnx.jit``, ``nnx.vmap(op)(x)`` with ``op`` an
``nnx.LayerNorm`` fails with ``TypeError: keyword arguments could not be
resolved to positions``. Before tracing, ``nnx.vmap`` binds the call to the
signature of the wrapped callable and applies its defaults; ``LayerNorm.__call__``
is ``(self, x, *, mask=None)``, so the keyword-only ``mask`` default lands in the
bound keyword arguments and ``resolve_kwargs`` refuses the call. ``@nnx.jit`` and
``op.train()`` play no part: the same call raises outside jit.

Reported with flax 0.10.3, jax/jaxlib 0.5.1; the call still raises the same way
on every release from 0.10.0 through 0.12.12 (the issue is closed, the bug is not).

Variants:
  bug -- the reported call: ``op.train(); return nnx.vmap(op)(x)`` inside
         ``@nnx.jit`` with ``op = nnx.LayerNorm(10, rngs=nnx.Rngs(10))`` and
         ``x`` of shape (15, 10).
  fix -- the documented workaround: vmap a plain function that takes the module
         as an unmapped argument, ``@nnx.vmap(in_axes=(None, 0), out_axes=0)
         def vmap_fn(op, x): return op(x)``, and call ``vmap_fn(op, x)`` inside
         the jitted function. Its output is checked against the same LayerNorm
         applied row by row (a Python loop over ``x[i:i+1]``) and against the
         LayerNorm formula in numpy, with non-trivial scale and bias.

Run: python repro/layernorm_vmap.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

# The sizes the property tests draw each keyword argument from (flax_regressions/incell/test_properties.py);
# the first value of each set is the one example the ci profile runs.
PROPERTY_SIZES = {"features": [1, 10, 16], "batch": [1, 15]}


def _input(batch, features):
    return jax.random.uniform(jax.random.key(10), (batch, features))


def bug(*, features=10, batch=15):
    """The reported failing call, exactly as in the issue."""

    @nnx.jit
    def jit_fwd(op, x):
        op.train()
        return nnx.vmap(op)(x)

    op = nnx.LayerNorm(features, rngs=nnx.Rngs(10))
    x = _input(batch, features)
    jit_fwd(op, x)


def fix(*, features=10, batch=15):
    """Documented workaround: vmap a function taking the module with in_axes=(None, 0)."""

    @nnx.jit
    def jit_fwd(op, x):
        op.train()

        @nnx.vmap(in_axes=(None, 0), out_axes=0)
        def vmap_fn(op, x):
            return op(x)

        return vmap_fn(op, x)

    # Non-trivial scale and bias (the defaults are ones and zeros), so a wrong
    # broadcast or a dropped affine transform would be caught.
    params = np.random.default_rng(0)
    scale = params.uniform(0.5, 2.0, (features,)).astype(np.float32)
    bias = params.normal(0.0, 1.0, (features,)).astype(np.float32)
    op = nnx.LayerNorm(
        features,
        scale_init=lambda key, shape, dtype: jnp.asarray(scale, dtype),
        bias_init=lambda key, shape, dtype: jnp.asarray(bias, dtype),
        rngs=nnx.Rngs(10),
    )
    x = _input(batch, features)

    y = np.asarray(jit_fwd(op, x))
    assert y.shape == (batch, features), f"output shape {y.shape} != {(batch, features)}"

    # Reference 1: the same module applied to one row at a time, no transforms.
    rows = np.concatenate([np.asarray(op(x[i : i + 1])) for i in range(batch)], axis=0)
    np.testing.assert_allclose(y, rows, rtol=1e-5, atol=1e-6, err_msg="vmap_fn(op, x) != op applied row by row")

    # Reference 2: the LayerNorm formula in numpy (float64) with the same params.
    xn = np.asarray(x, dtype=np.float64)
    mean = xn.mean(axis=-1, keepdims=True)
    var = xn.var(axis=-1, keepdims=True)
    expected = (xn - mean) / np.sqrt(var + op.epsilon) * scale + bias
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5, err_msg="vmap_fn(op, x) != numpy LayerNorm formula")


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
