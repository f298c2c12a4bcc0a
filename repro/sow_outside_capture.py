"""From Flax 0.12.6 `Module.sow()` outside `nnx.capture()` emits a DeprecationWarning on every sow.

Upstream: Flax commit 0e926241 "Add nnx.capture", https://github.com/google/flax/commit/0e926241 (2026-03-17,
released in Flax 0.12.6), which added ``nnx.capture``, the "Extracting intermediate values" guide
(docs_nnx/guides/extracting_intermediates.md) and the warning in ``Module.sow`` and ``Module.perturb``
(flax/nnx/module.py).

What goes wrong: the documented way to collect intermediates up to Flax 0.12.5 is ``self.sow(nnx.Intermediate,
'i', x)`` inside a Module, a normal call, then reading ``model.i`` or ``nnx.pop(model, nnx.Intermediate)`` (the
``Module.sow`` and ``nnx.pop`` docstrings). From 0.12.6 every such sow still stores the value but warns
``DeprecationWarning: Using 'Module.sow()' outside of 'nnx.capture()' is deprecated; see
https://flax.readthedocs.io/en/stable/capturing_intermediates.html for more information.`` (0.12.7+ link to
``.../en/latest/guides/extracting_intermediates.html``). The warning has ``stacklevel=2``, so it is attributed to
the user's module: a script run as ``__main__`` prints it, a test suite with ``-W error`` fails. Inside ``nnx.jit``
it fires while tracing. The replacement, ``nnx.capture(model, nnx.Intermediate)(x)`` returning ``(y,
intermediates)``, exists only from 0.12.6; returning the intermediate from ``__call__`` works on every release.

Versions named in the report: the commit is dated 2026-03-17, two days before the version bump to 0.12.6; the
same release window added ``nnx.compat`` (0.12.6) and renamed ``nnx.pure`` -> ``nnx.as_pure`` (0.12.7) and
``nnx.vars_as`` -> ``nnx.with_vars`` (0.12.8), whose old names warn the same way.

Variants:
  bug             -- the ``Module.sow`` docstring model: sow ``'i'`` in ``__call__``, two calls, read ``model.i``, then
                     ``nnx.pop(model, nnx.Intermediate)``.
  bug_jit         -- the same sow inside an ``@nnx.jit`` step, intermediates popped after the step.
  fix_capture     -- ``nnx.capture(model, nnx.Intermediate)(x)`` (0.12.6+).
  fix_return      -- no sow: ``__call__`` returns the intermediate with the output (every release).
Every variant checks the intermediates (x @ W1 + b1 for each call, in call order) and the output
(intermediate @ W2 + b2) against NumPy from the layers' own weights, and that popping/capturing leaves no
intermediate behind on the model.

Run: python repro/sow_outside_capture.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "din": [1, 2],
    "dmid": [1, 3],
    "dout": [1, 4],
    "batch": [1, 2],
}


def _model_class(sow):
    class Model(nnx.Module):
        """The Module.sow docstring's model; with sow=False it returns the intermediate instead."""

        def __init__(self, din, dmid, dout, rngs):
            self.linear1 = nnx.Linear(din, dmid, rngs=rngs)
            self.linear2 = nnx.Linear(dmid, dout, rngs=rngs)

        def __call__(self, x, add=0):
            x = self.linear1(x)
            if sow:
                self.sow(nnx.Intermediate, "i", x + add)  # 0.12.6+: DeprecationWarning
                return self.linear2(x)
            return self.linear2(x), x + add

    return Model


def _setup(sow, din, dmid, dout, batch):
    model = _model_class(sow)(din, dmid, dout, rngs=nnx.Rngs(0))
    x = np.linspace(-1.0, 1.0, batch * din, dtype=np.float32).reshape(batch, din)
    return model, x


def _want(model, x):
    h = x @ np.asarray(model.linear1.kernel[...]) + np.asarray(model.linear1.bias[...])
    return h, h @ np.asarray(model.linear2.kernel[...]) + np.asarray(model.linear2.bias[...])


def _check(model, x, ys, intermediates):
    """ys: the outputs of calls with add=0, add=1; intermediates: the arrays recorded, in call order."""
    h, y = _want(model, x)
    assert len(ys) == len(intermediates) == 2, f"{len(intermediates)} intermediates for {len(ys)} calls"
    for add, (got_y, got_h) in enumerate(zip(ys, intermediates, strict=True)):
        np.testing.assert_allclose(np.asarray(got_y), y, rtol=1e-5, atol=1e-6, err_msg=f"output {add} != NumPy")
        np.testing.assert_allclose(
            np.asarray(got_h), h + add, rtol=1e-5, atol=1e-6, err_msg=f"intermediate {add} != NumPy"
        )
    assert not hasattr(model, "i"), "an intermediate is still stored on the model"


def bug(*, din=2, dmid=3, dout=4, batch=2):
    """The Module.sow docstring: sow in __call__, read model.i, then nnx.pop (0.12.6+ warns)."""
    model, x = _setup(True, din, dmid, dout, batch)
    ys = [model(jnp.asarray(x)), model(jnp.asarray(x), add=1)]
    assert len(model.i) == 2, f"model.i holds {len(model.i)} values after two calls"
    intermediates = nnx.pop(model, nnx.Intermediate)
    _check(model, x, ys, jax.tree.leaves(intermediates["i"]))


def bug_jit(*, din=2, dmid=3, dout=4, batch=2):
    """sow inside an nnx.jit step; the warning fires while tracing (0.12.6+)."""
    model, x = _setup(True, din, dmid, dout, batch)

    @nnx.jit
    def step(model, x, add):
        return model(x, add=add)

    ys = [step(model, jnp.asarray(x), 0), step(model, jnp.asarray(x), 1)]
    intermediates = nnx.pop(model, nnx.Intermediate)
    _check(model, x, ys, jax.tree.leaves(intermediates["i"]))


def fix_capture(*, din=2, dmid=3, dout=4, batch=2):
    """nnx.capture returns the output and the intermediates (0.12.6+)."""
    model, x = _setup(True, din, dmid, dout, batch)

    def two_calls(model, x):
        return model(x), model(x, add=1)

    ys, intermediates = nnx.capture(two_calls, nnx.Intermediate)(model, jnp.asarray(x))
    _check(model, x, list(ys), jax.tree.leaves(intermediates["i"]))


def fix_return(*, din=2, dmid=3, dout=4, batch=2):
    """No sow: __call__ returns the intermediate (every release)."""
    model, x = _setup(False, din, dmid, dout, batch)

    @nnx.jit
    def step(model, x, add):
        return model(x, add=add)

    (y0, h0), (y1, h1) = step(model, jnp.asarray(x), 0), step(model, jnp.asarray(x), 1)
    _check(model, x, [y0, y1], [h0, h1])


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
