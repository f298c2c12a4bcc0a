"""nnx.eval_shape of a Module holding a training-mode BatchNorm fails: TraceContextError (0.10.1-0.10.4: tracers leak).

Upstream: https://github.com/google/flax/issues/4734 ("Cannot `nnx.eval_shape` Modules with `BatchNorm`", open).

What goes wrong: ``nnx.eval_shape(f, *args)`` only splits and merges the NNX objects it receives as *arguments*.
When the Module itself is the function (``nnx.eval_shape(model, x)``), or is closed over
(``nnx.eval_shape(lambda x: model(x), x)``), its Variables stay outside the trace. A Linear reads them and works;
a BatchNorm in training mode (``use_running_average=False``, the default) *writes* its running ``mean``/``var``
from inside the abstract trace, and NNX refuses: ``TraceContextError: Cannot mutate BatchStat from a different
trace level``. Passing a concrete array instead of a ``jax.ShapeDtypeStruct`` to the same call fails the same way.
Flax 0.10.1-0.10.4 are worse: commit c12ba53e ("Avoid depending on JAX internals", 0.10.1) made the trace-level
check always pass, so the call returns the right shape but silently leaves the abstract trace's tracers in the
model's ``mean``/``var`` (the next real call fails); commit b75de891 ("fix trace-level detection", 0.10.5) restored
the check and with it the TraceContextError.
The issue's workaround is to run the model on a concrete array (paying for the computation). Two cheaper ones:
pass the Module as an argument, ``nnx.eval_shape(lambda m, x: m(x), model, x)`` (NNX then works on a copy and
discards its updates), or put the model in eval mode first (``model.eval()``: no statistics are written).

Versions named in the report: Flax 0.10.6 with jax 0.6.0. Measured: TraceContextError on 0.10.0 and 0.10.5-0.12.12,
leaked tracers (AssertionError here) on 0.10.1-0.10.4; decided by Flax, not JAX.

Variants:
  bug                   -- the issue's title: the Module as the function, ``nnx.eval_shape(model, x_spec)``.
  bug_closure           -- the Module closed over: ``nnx.eval_shape(lambda x: model(x), x_spec)``.
  fix_module_argument   -- the Module as an argument: ``nnx.eval_shape(lambda m, x: m(x), model, x_spec)``.
  fix_eval_mode         -- ``model.eval()``, then ``nnx.eval_shape(model, x_spec)``, then ``model.train()``.
  fix_concrete_input    -- the issue's workaround: an eager call on ``jnp.zeros`` of the input's shape and dtype,
                           made on ``nnx.clone(model)`` so that the model's own running statistics are not updated.
Every variant expects a ``(batch, features)`` float32 result and then checks that the model's state (every leaf,
BatchNorm statistics included) holds no tracer and still equals the arrays it held before, and that a training-mode
call afterwards matches a NumPy Linear + BatchNorm over the model's own parameters.

Run: python repro/eval_shape_batchnorm.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "batch": [1, 8],
    "in_features": [1, 3],
    "features": [1, 4],
}


class _Model(nnx.Module):
    """A model component with a BatchNorm (training mode)."""

    def __init__(self, in_features, features, rngs):
        self.linear = nnx.Linear(in_features, features, rngs=rngs)
        self.bn = nnx.BatchNorm(features, rngs=rngs)

    def __call__(self, x):
        return self.bn(self.linear(x))


def _state_arrays(model):
    return [np.asarray(leaf).copy() for leaf in jax.tree.leaves(nnx.state(model))]


def _check_shape(out, batch, features):
    shape, dtype = tuple(out.shape), np.dtype(out.dtype)
    assert shape == (batch, features) and dtype == np.float32, f"eval_shape gave {shape} {dtype}"


def _check_model_intact(model, before, batch, in_features):
    leaves = jax.tree.leaves(nnx.state(model))
    leaked = any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)
    assert not leaked, "shape inference leaked tracers into the model's state (BatchNorm statistics)"
    assert len(leaves) == len(before), "the model's state changed structure"
    for i, (leaf, old) in enumerate(zip(leaves, before)):
        np.testing.assert_array_equal(np.asarray(leaf), old, err_msg=f"state leaf {i} changed during shape inference")
    x = np.linspace(-1.0, 2.0, batch * in_features, dtype=np.float32).reshape(batch, in_features) ** 2
    y = model(jnp.asarray(x))
    h = x.astype(np.float64) @ np.asarray(model.linear.kernel[...]) + np.asarray(model.linear.bias[...])
    want = (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + model.bn.epsilon)
    want = want * np.asarray(model.bn.scale[...]) + np.asarray(model.bn.bias[...])
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-5, err_msg="forward pass != NumPy")


def bug(*, batch=8, in_features=3, features=4):
    """nnx.eval_shape with the Module as the function."""
    model = _Model(in_features, features, nnx.Rngs(0))
    before = _state_arrays(model)
    x_spec = jax.ShapeDtypeStruct((batch, in_features), jnp.float32)
    out = nnx.eval_shape(model, x_spec)  # TraceContextError: Cannot mutate BatchStat from a different trace level
    _check_shape(out, batch, features)
    _check_model_intact(model, before, batch, in_features)  # 0.10.1-0.10.4: tracers leaked into the model


def bug_closure(*, batch=8, in_features=3, features=4):
    """nnx.eval_shape of a closure over the Module."""
    model = _Model(in_features, features, nnx.Rngs(0))
    before = _state_arrays(model)
    x_spec = jax.ShapeDtypeStruct((batch, in_features), jnp.float32)
    out = nnx.eval_shape(lambda x: model(x), x_spec)
    _check_shape(out, batch, features)
    _check_model_intact(model, before, batch, in_features)


def fix_module_argument(*, batch=8, in_features=3, features=4):
    """Pass the Module through nnx.eval_shape's arguments."""
    model = _Model(in_features, features, nnx.Rngs(0))
    before = _state_arrays(model)
    x_spec = jax.ShapeDtypeStruct((batch, in_features), jnp.float32)
    out = nnx.eval_shape(lambda m, x: m(x), model, x_spec)
    _check_shape(out, batch, features)
    _check_model_intact(model, before, batch, in_features)


def fix_eval_mode(*, batch=8, in_features=3, features=4):
    """Eval mode: BatchNorm uses its running statistics and writes nothing."""
    model = _Model(in_features, features, nnx.Rngs(0))
    before = _state_arrays(model)
    x_spec = jax.ShapeDtypeStruct((batch, in_features), jnp.float32)
    model.eval()
    out = nnx.eval_shape(model, x_spec)
    model.train()
    _check_shape(out, batch, features)
    _check_model_intact(model, before, batch, in_features)


def fix_concrete_input(*, batch=8, in_features=3, features=4):
    """The issue's workaround: run on a concrete dummy array (on a clone: the call updates running statistics)."""
    model = _Model(in_features, features, nnx.Rngs(0))
    before = _state_arrays(model)
    x_spec = jax.ShapeDtypeStruct((batch, in_features), jnp.float32)
    out = nnx.clone(model)(jnp.zeros(x_spec.shape, x_spec.dtype))
    _check_shape(out, batch, features)
    _check_model_intact(model, before, batch, in_features)


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
