"""nnx.jit lost its `abstracted_axes` argument in Flax 0.12.2, and Flax <= 0.12.1 nnx.jit breaks on JAX >= 0.8.2.

Upstream: https://github.com/google/flax/issues/5148 ("`nnx.jit` doesn't work with Jax 0.8.2"); the JAX change is
https://github.com/jax-ml/jax/pull/33565 (``abstracted_axes`` removed from ``jax.jit``, released in JAX 0.8.2);
Flax commit b3e9b449 "remove abstracted_axes from nnx.jit" (2025-12-09), released in Flax 0.12.2.

What goes wrong: two sides of one removal. (1) Flax 0.10.0-0.12.1 always forward ``abstracted_axes=...`` to
``jax.jit``, even when the user never passes it. JAX 0.8.2 removed that parameter, so with Flax <= 0.12.1 and JAX
>= 0.8.2 every ``nnx.jit(f)`` raises at decoration time: ``TypeError: jit() got an unexpected keyword argument
'abstracted_axes'`` (issue #5148: ``nnx.jit(lambda x: x * 2)``). This is decided by the installed JAX, not by the
Flax release: each Flax release's contemporary JAX works. (2) Flax 0.12.2 removed ``abstracted_axes`` from
``nnx.jit``'s signature, so code that passes it, as JAX-compatible wrappers do (``abstracted_axes=None``), raises
``TypeError: jit() got an unexpected keyword argument 'abstracted_axes'`` from ``nnx.jit`` itself. Flax 0.12.2
also removed ``fingerprint`` (commit b8aa99d4), but that was never an ``nnx.jit`` argument: it is the internal
``flax.nnx.graph.fingerprint``/``check_fingerprint`` pair (not exercised here).

Versions named in the report: issue #5148 with Flax 0.12.1 and JAX 0.8.2 ("If downgrade to jax==0.8.1, it works
again"); Flax 0.12.2 (2025-12) removed the argument.

Variants:
  bug             -- ``nnx.jit(forward, abstracted_axes=None)`` over a Linear's forward pass (Flax 0.12.2+: TypeError).
  bug_new_jax     -- issue #5148's repro, ``nnx.jit(lambda x: x * 2)``: passes with each release's contemporary JAX;
                     TypeError with Flax <= 0.12.1 and JAX >= 0.8.2 (JAX-decided).
  fix_drop_kwarg  -- ``nnx.jit(forward)`` without the argument (fails like bug_new_jax on Flax <= 0.12.1 with
                     JAX >= 0.8.2).
  fix_jax_jit     -- ``jax.jit`` over ``nnx.split``/``nnx.merge``: works with any Flax/JAX pair.
Every variant that runs checks its output against NumPy (x @ kernel + bias from the layer's own arrays, or 2 * x).

Run: python repro/jit_removed_kwargs.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "in_features": [1, 3],
    "out_features": [1, 2],
    "batch": [1, 2],
}


def _setup(in_features, out_features, batch):
    model = nnx.Linear(in_features, out_features, rngs=nnx.Rngs(0))
    x = np.linspace(-1.0, 1.0, batch * in_features, dtype=np.float32).reshape(batch, in_features)
    return model, x


def _check(y, model, x):
    want = x @ np.asarray(model.kernel[...]) + np.asarray(model.bias[...])
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-6, err_msg="jitted forward != NumPy")


def _forward(model, x):
    return model(x)


def bug(*, in_features=3, out_features=2, batch=2):
    """Passing ``abstracted_axes`` to nnx.jit (0.12.2+: TypeError)."""
    model, x = _setup(in_features, out_features, batch)
    forward = nnx.jit(_forward, abstracted_axes=None)  # Flax 0.12.2+: unexpected keyword argument
    _check(forward(model, jnp.asarray(x)), model, x)


def bug_new_jax(*, in_features=3, out_features=2, batch=2):
    """Issue #5148: any nnx.jit on Flax <= 0.12.1 with JAX >= 0.8.2."""
    _, x = _setup(in_features, out_features, batch)
    double = nnx.jit(lambda x: x * 2)  # Flax <= 0.12.1 + JAX >= 0.8.2: TypeError from jax.jit
    np.testing.assert_allclose(np.asarray(double(jnp.asarray(x))), 2 * x, err_msg="nnx.jit(lambda x: x * 2) != 2x")


def fix_drop_kwarg(*, in_features=3, out_features=2, batch=2):
    """nnx.jit without the removed argument."""
    model, x = _setup(in_features, out_features, batch)
    forward = nnx.jit(_forward)
    _check(forward(model, jnp.asarray(x)), model, x)


def fix_jax_jit(*, in_features=3, out_features=2, batch=2):
    """jax.jit over split/merge: no nnx.jit at all."""
    model, x = _setup(in_features, out_features, batch)
    graphdef, state = nnx.split(model)

    @jax.jit
    def forward(state, x):
        return nnx.merge(graphdef, state)(x)

    _check(forward(state, jnp.asarray(x)), model, x)


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
