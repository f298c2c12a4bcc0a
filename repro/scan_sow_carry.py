"""nnx.scan with Module.sow breaks when the explicit nnx.Carry is an nnx.Pytree instead of a plain JAX pytree.

Upstream: https://github.com/google/flax/issues/5051 (fixed by https://github.com/google/flax/pull/5073,
commit a611581b, released in Flax 0.12.1).

What goes wrong: a Module method that sows an ``nnx.Intermediate`` on every step is scanned with
``nnx.scan(..., in_axes=(nnx.StateAxes({nnx.Intermediate: 0, ...: nnx.Carry}), nnx.Carry), out_axes=nnx.Carry,
length=num_steps)``. With a ``flax.struct.dataclass`` carry the sowed values come out stacked. With an
``nnx.Pytree`` (0.10: ``nnx.Object``) carry, nnx.scan treats the carry as a graph node whose split state does
not match between input and output: ``TypeError: scan body function carry input and carry output must have the
same pytree structure, but they differ: ...`` (measured on 0.10.x-0.12.0; the issue describes a ValueError,
"length/shape mismatch" -- its full snippet was not available, so the code here is reconstructed from the
issue's description and PR #5073's regression test ``test_carry_pytree_sow``). PR #5073 splits the carry's
graphdef out before the scan and rebuilds the carry after it.
Unrelated to the bug, ``Module.sow()`` itself emits ``DeprecationWarning: Using 'Module.sow()' outside of
'nnx.capture()' is deprecated`` from Flax 0.12.6; it does not change these outcomes.

Versions named in the report: reported 2025-10-24 (Flax 0.12.0 was current); fixed in 0.12.1. ``nnx.Pytree``
exists from 0.11.1, so ``bug`` raises AttributeError before that; ``bug_object_carry`` shows the same TypeError
from 0.10.5 (0.10.2-0.10.4 refuse a raw array attribute on an nnx.Object: "Arrays leaves are not supported").

Variants:
  bug                  -- the carry is an ``nnx.Pytree`` holding the state array.
  bug_object_carry     -- the same carry built on ``nnx.Object`` (the 0.10 name of the graph-node base class).
  fix_dataclass_carry  -- the issue's working case and workaround: a ``flax.struct.dataclass`` carry.
The step is ``data = tanh(data @ W + b)`` with an nnx.Linear held by the Module (carried by the StateAxes), and
it sows ``data``. Every variant that gets past the scan (the bugs too, on releases where they are fixed) checks
the final carry and the stacked intermediates (popped with ``nnx.pop``) against a NumPy loop using the Linear's
weights.

Run: python repro/scan_sow_carry.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

PROPERTY_SIZES = {
    "features": [1, 3],
    "num_steps": [1, 5],
}


class _Model(nnx.Module):
    """Scans its own `_step` for `num_steps` steps, sowing every new state."""

    def __init__(self, features, num_steps):
        self.fc = nnx.Linear(features, features, rngs=nnx.Rngs(0))
        self.num_steps = num_steps

    def _step(self, state):
        new_data = jnp.tanh(self.fc(state.data))
        self.sow(nnx.Intermediate, "data", new_data)
        return state.with_data(new_data)

    @nnx.jit
    def __call__(self, state):
        state_axes = nnx.StateAxes({nnx.Intermediate: 0, ...: nnx.Carry})
        return nnx.scan(
            _Model._step,
            in_axes=(state_axes, nnx.Carry),
            out_axes=nnx.Carry,
            length=self.num_steps,
        )(self, state)


def _initial(features):
    return jnp.linspace(-1.0, 1.0, features)


def _numpy_reference(model, features, num_steps):
    w = np.asarray(model.fc.kernel[...], np.float64)
    b = np.asarray(model.fc.bias[...], np.float64)
    data = np.asarray(_initial(features), np.float64)
    sown = []
    for _ in range(num_steps):
        data = np.tanh(data @ w + b)
        sown.append(data)
    return data, np.stack(sown)


def _check(model, final, features, num_steps):
    """Final carry and popped, stacked intermediates vs the NumPy loop."""
    intermediates = nnx.pop(model, nnx.Intermediate)
    want_final, want_sown = _numpy_reference(model, features, num_steps)
    np.testing.assert_allclose(
        np.asarray(final.data), want_final, rtol=1e-5, atol=1e-6, err_msg="final carry != NumPy loop"
    )
    leaves = jax.tree.leaves(intermediates)
    assert len(leaves) == 1, f"expected one sowed array, got {len(leaves)}"
    assert np.asarray(leaves[0]).shape[0] == num_steps, "intermediates are not stacked along the scan axis"
    np.testing.assert_allclose(
        np.asarray(leaves[0]).reshape(num_steps, features),
        want_sown,
        rtol=1e-5,
        atol=1e-6,
        err_msg="stacked intermediates != NumPy loop",
    )
    assert not jax.tree.leaves(nnx.state(model, nnx.Intermediate)), "nnx.pop left intermediates in the model"


def bug(*, features=3, num_steps=5):
    """The carry is an nnx.Pytree."""

    class StateAsPytree(nnx.Pytree):
        def __init__(self, data: jax.Array):
            self.data = data

        def with_data(self, data):
            self.data = data
            return self

    model = _Model(features, num_steps)
    final = model(StateAsPytree(_initial(features)))  # <= 0.12.0: TypeError (carry structure differs)
    _check(model, final, features, num_steps)  # where it runs, the result must be right


def bug_object_carry(*, features=3, num_steps=5):
    """The carry is an nnx.Object (exists on every release; the base class of graph nodes in 0.10)."""

    class StateAsObject(nnx.Object):
        def __init__(self, data: jax.Array):
            self.data = data

        def with_data(self, data):
            self.data = data
            return self

    model = _Model(features, num_steps)
    final = model(StateAsObject(_initial(features)))
    _check(model, final, features, num_steps)


def fix_dataclass_carry(*, features=3, num_steps=5):
    """A flax.struct.dataclass carry: a plain JAX pytree, so the StateAxes only stacks the Intermediate."""

    @struct.dataclass
    class StateAsDataclass:
        data: jax.Array

        def with_data(self, data):
            return self.replace(data=data)

    model = _Model(features, num_steps)
    final = model(StateAsDataclass(_initial(features)))
    _check(model, final, features, num_steps)


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
