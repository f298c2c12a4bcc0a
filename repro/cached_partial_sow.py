"""nnx.cached_partial breaks the Module.sow -> nnx.pop pattern that its docstring allows.

Upstream: https://github.com/google/flax/issues/5130 (and https://github.com/google/flax/issues/5146, "nnx.pop
leaves module with new static attribute", the cause); fixed by https://github.com/google/flax/pull/5133 (commit
a90909c9 "Make popping after sowing actually remove the key"), released in Flax 0.12.3.

What goes wrong: ``nnx.cached_partial``'s docstring says "Temporary mutations are allowed (e.g. the use of
Module.sow) as long as they are cleaned up before the function returns (e.g. via nnx.pop)". But ``sow`` registers
the new attribute in the Module's ``_pytree__nodes`` table and ``nnx.pop`` removes the Variable without removing
that entry, so the Module's GraphDef after the step differs from the cached one and calling the cached
``train_step`` fails. The reporter saw it on Flax 0.11.2, 0.12.0 and 0.12.1 but not on 0.10.7. ``nnx.capture``
(Flax 0.12.6+) collects sown values without adding attributes to the Module.

Versions named in the report: fails on 0.11.2, 0.12.0, 0.12.1; works on 0.10.7 (2025-12-09). Measured: fails on
0.11.0-0.12.2, fixed in 0.12.3.

Variants:
  bug                   -- the issue's ``@nnx.jit train_step`` (``model(x)`` sows ``y.mean()``, then
                           ``nnx.pop(model, nnx.Intermediate)``), called ``steps`` times through
                           ``nnx.cached_partial(train_step, model)``.
  fix_no_cached_partial -- the same ``train_step`` called as ``train_step(model, x)``.
  fix_capture           -- ``nnx.capture(model, nnx.Intermediate)(x)`` inside the step instead of sow -> pop, still
                           through ``nnx.cached_partial`` (0.12.6+).
Each variant checks every step's output (``2 * linear(x)``) and the sown summary (``mean(linear(x))``) against
NumPy, and that the Module holds no Intermediate after the steps.

Run: python repro/cached_partial_sow.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "steps": [1, 3],
    "features": [1, 4],
}


def _mod(features):
    class Mod(nnx.Module):
        """The issue's module."""

        def __init__(self, rngs: nnx.Rngs):
            self.linear = nnx.Linear(features, features, rngs=rngs)

        def __call__(self, x):
            y = self.linear(x)
            self.sow(nnx.Intermediate, "my_summary", y.mean())
            return y * 2

    return Mod(nnx.Rngs(0))


def _x(features):
    return jnp.asarray(np.linspace(-1.0, 1.0, 2 * features, dtype=np.float32).reshape(2, features))


@nnx.jit
def _train_step(model, x):
    """The issue's train_step, without its debug prints."""
    out = model(x)
    intermediates = nnx.pop(model, nnx.Intermediate)
    return out, intermediates


def _check(model, outs, summaries, x):
    w, b = np.asarray(model.linear.kernel[...], np.float64), np.asarray(model.linear.bias[...], np.float64)
    y = np.asarray(x, np.float64) @ w + b
    for out, summary in zip(outs, summaries):
        np.testing.assert_allclose(np.asarray(out), 2 * y, rtol=1e-5, atol=1e-6, err_msg="step output != NumPy")
        leaves = jax.tree.leaves(summary)
        assert len(leaves) == 1, f"expected one sown value, got {len(leaves)}"
        np.testing.assert_allclose(
            float(leaves[0]), y.mean(), rtol=1e-5, atol=1e-6, err_msg="sown summary != NumPy mean"
        )
    assert not jax.tree.leaves(nnx.state(model, nnx.Intermediate)), "the Module still holds an Intermediate"


def bug(*, steps=3, features=4):
    """The issue's train_step through nnx.cached_partial."""
    model = _mod(features)
    x = _x(features)
    cached_train_step = nnx.cached_partial(_train_step, model)
    outs, summaries = [], []
    for _ in range(steps):
        out, intermediates = cached_train_step(x)
        outs.append(out)
        summaries.append(intermediates)
    _check(model, outs, summaries, x)


def fix_no_cached_partial(*, steps=3, features=4):
    """The same train_step, called with the model as an argument."""
    model = _mod(features)
    x = _x(features)
    outs, summaries = [], []
    for _ in range(steps):
        out, intermediates = _train_step(model, x)
        outs.append(out)
        summaries.append(intermediates)
    _check(model, outs, summaries, x)


def fix_capture(*, steps=3, features=4):
    """nnx.capture collects the sown value; nothing is added to the Module, so cached_partial's cache holds."""

    @nnx.jit
    def train_step(model, x):
        return nnx.capture(model, nnx.Intermediate)(x)

    model = _mod(features)
    x = _x(features)
    cached_train_step = nnx.cached_partial(train_step, model)
    outs, summaries = [], []
    for _ in range(steps):
        out, intermediates = cached_train_step(x)
        outs.append(out)
        summaries.append(intermediates)
    _check(model, outs, summaries, x)


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
