"""nnx.clone shares the underlying array buffers, so donating a state that holds both copies fails.

Upstream: https://github.com/google/flax/issues/5461 (``nnx.clone(..., arrays=True)`` added by
https://github.com/google/flax/pull/5475, commit b1b1c184, released in Flax 0.12.8).

What goes wrong: ``nnx.clone(module)`` creates new Variable objects but ``Variable.copy`` "copies" the value with
``jax.tree.map(lambda x: x, value)``, which reuses the same ``jax.Array``. A Module that keeps a clone of one of
its submodules therefore holds every buffer twice, and ``jax.jit(update, donate_argnums=(0,))(nnx.state(m))``
asks XLA to donate the same buffer twice: ``XlaRuntimeError`` (jaxlib >= 0.7: ``JaxRuntimeError``)
``INVALID_ARGUMENT: Attempt to donate the same buffer twice in Execute() (flattened argument 2, ...)``. This
happens on CPU too. PR #5475 keeps the sharing by default and adds ``nnx.clone(node, arrays=True)``, which copies
the buffers with ``jnp.copy``; the default call still fails on every release.

Versions named in the report: reported against Flax 0.12.x (2026-05); every release measured shares buffers.
``arrays=True`` exists from 0.12.8.

Variants:
  bug               -- the issue's repro: ``self.linear_copy = nnx.clone(self.linear)``, then a jitted
                       ``update`` with ``donate_argnums=(0,)`` on ``nnx.state(m)``.
  fix_clone_arrays  -- ``nnx.clone(self.linear, arrays=True)`` (0.12.8+).
  fix_copy_state    -- copy the state by hand: ``nnx.split`` the submodule, ``jnp.copy`` every array,
                       ``nnx.merge`` (works on every release).
Each fix checks that the clone's arrays equal the original's but live in different buffers
(``unsafe_buffer_pointer()``), that the donated update returns original + 0.01 for every leaf (NumPy, from
copies taken before the call), and that writing the result back gives both submodules the updated values and
an updated forward pass.

Run: python repro/clone_donate.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "in_features": [1, 4],
    "out_features": [1, 2],
}


def _update(state):
    """The issue's update."""
    return jax.tree.map(lambda x: x + 0.01, state)


def _arrays(module):
    return jax.tree.leaves(nnx.state(module))


def _check(m, in_features, out_features):
    """Distinct buffers, then a donated update checked against NumPy."""
    for a, b in zip(_arrays(m.linear), _arrays(m.linear_copy)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg="clone differs from the original")
        assert a.unsafe_buffer_pointer() != b.unsafe_buffer_pointer(), "clone still shares a buffer with the original"
    before = [np.asarray(a).copy() for a in _arrays(m)]
    update_donate = jax.jit(_update, donate_argnums=(0,))
    new_state = update_donate(nnx.state(m))
    after = jax.tree.leaves(new_state)
    assert len(after) == len(before) == 4, f"expected 4 arrays (2 per Linear), got {len(after)}"
    for i, (got, old) in enumerate(zip(after, before)):
        np.testing.assert_allclose(
            np.asarray(got),
            old + 0.01,
            rtol=1e-6,
            atol=1e-7,
            err_msg=f"leaf {i}: donated update != NumPy original + 0.01",
        )
    nnx.update(m, new_state)
    x = np.linspace(-1.0, 1.0, 2 * in_features, dtype=np.float32).reshape(2, in_features)
    for name in ("linear", "linear_copy"):
        sub = getattr(m, name)
        w, b = np.asarray(sub.kernel[...]), np.asarray(sub.bias[...])
        assert w.shape == (in_features, out_features)
        np.testing.assert_allclose(
            np.asarray(sub(jnp.asarray(x))),
            x @ w + b,
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"{name} forward pass after the update != NumPy",
        )


def bug(*, in_features=4, out_features=2):
    """The issue's repro."""

    class TestModule(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(in_features=in_features, out_features=out_features, rngs=rngs)
            self.linear_copy = nnx.clone(self.linear)

    m = TestModule(nnx.Rngs(0))
    update_donate = jax.jit(_update, donate_argnums=(0,))
    update_donate(nnx.state(m))  # every release: "Attempt to donate the same buffer twice"


def fix_clone_arrays(*, in_features=4, out_features=2):
    """nnx.clone(..., arrays=True) copies the buffers (0.12.8+)."""

    class TestModule(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(in_features=in_features, out_features=out_features, rngs=rngs)
            self.linear_copy = nnx.clone(self.linear, arrays=True)

    _check(TestModule(nnx.Rngs(0)), in_features, out_features)


def fix_copy_state(*, in_features=4, out_features=2):
    """Copy the state by hand: split, jnp.copy every array, merge."""

    class TestModule(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(in_features=in_features, out_features=out_features, rngs=rngs)
            graphdef, state = nnx.split(self.linear)
            self.linear_copy = nnx.merge(graphdef, jax.tree.map(jnp.copy, state))

    _check(TestModule(nnx.Rngs(0)), in_features, out_features)


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
