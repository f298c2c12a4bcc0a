"""nnx.fori_loop inside an nnx.cond branch fails under nnx.vmap when the predicate is batched.

Upstream: https://github.com/google/flax/issues/4709 (fixed in JAX: "We rolled forward the fix so this should all
be working at HEAD", with the test jax-ml/jax tests/lax_control_flow_test.py at commit c3cad1d9, 2025-04-29).

What goes wrong: a function runs ``nnx.fori_loop`` over ``(x, model)`` inside one branch of ``nnx.cond`` and is
mapped with ``nnx.vmap(foo, in_axes=(None, 0, 0))`` over the inputs and the flags that decide the branch. Under
vmap a batched predicate turns ``cond`` into a select that runs both branches, and the loop carrying the Module's
state inside the branch then fails in JAX's batching of the loop: ``ValueError: at vmap
out_axes[0][0].states[0]['linear']['bias'].value, got axis spec None but output was batched on axis 0``.
Replacing ``nnx.fori_loop`` with ``nnx.while_loop`` works (the reporter needs ``fori_loop`` to differentiate through
it). Like #4700 (``vmap_while_loop``), the failure is decided by the JAX release, not by Flax; the while_loop
workaround itself needs JAX 0.6.0 (the #4700 fix).

Versions named in the report: Flax 0.10.5 with jax/jaxlib 0.6.0 (Windows, CPU). The fix went into JAX after
0.6.0; measured with Flax 0.10.5 and 0.10.6 held fixed, it fails with JAX 0.6.0 and passes from JAX 0.6.1.

Variants:
  bug             -- the issue's code: ``nnx.fori_loop(0, steps, for_body, (x, model))`` inside
                     ``nnx.cond(flag < 2, bar, lambda *_: jnp.zeros((dim,)), model, x)``, under
                     ``nnx.vmap(foo, in_axes=(None, 0, 0))``.
  fix_while_loop  -- the issue's workaround: the same loop written with ``nnx.while_loop`` and a counter.
  fix_where       -- the reporter's later workaround: run the ``nnx.fori_loop`` unconditionally, then choose
                     with ``jnp.where(flag < 2, looped, zeros)``.
Each variant compares the vmapped result with NumPy: ``steps`` applications of the Linear layer where
``flag < 2``, zeros elsewhere.

Run: python repro/fori_loop_cond_vmap.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "dim": [1, 4],
    "batch_size": [1, 5],
    "steps": [1, 3],
}


class Model(nnx.Module):
    """The issue's model."""

    def __init__(self, din, dout, rngs: nnx.Rngs):
        self.linear = nnx.Linear(din, dout, rngs=rngs)

    def __call__(self, x):
        return self.linear(x)


def _setup(dim, batch_size):
    model = Model(dim, dim, rngs=nnx.Rngs(0))
    xs = jnp.asarray(np.linspace(-1.0, 1.0, batch_size * dim, dtype=np.float32).reshape(batch_size, dim))
    flags = jnp.arange(batch_size)
    return model, xs, flags


def _check(y, model, xs, flags, steps):
    w, b = np.asarray(model.linear.kernel[...], np.float64), np.asarray(model.linear.bias[...], np.float64)
    want = np.zeros(xs.shape)
    for i, (x, flag) in enumerate(zip(np.asarray(xs, np.float64), np.asarray(flags))):
        if flag < 2:
            for _ in range(steps):
                x = x @ w + b
            want[i] = x
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5, err_msg="vmapped result != NumPy loop")


def bug(*, dim=4, batch_size=5, steps=3):
    """The issue's code: fori_loop inside a cond branch, vmapped over the flags."""
    model, xs, flags = _setup(dim, batch_size)

    def foo(model, x, flag):
        def bar(model, x):
            def for_body(i, val):
                x, model = val
                return model(x), model

            x, _ = nnx.fori_loop(0, steps, for_body, (x, model))
            return x

        x = nnx.cond(flag < 2, bar, lambda *_: jnp.zeros((dim,)), model, x)
        return x

    y = nnx.vmap(foo, in_axes=(None, 0, 0))(model, xs, flags)
    _check(y, model, xs, flags, steps)


def fix_while_loop(*, dim=4, batch_size=5, steps=3):
    """The same loop with nnx.while_loop (the issue: "If I replace fori_loop with while_loop, then it works")."""
    model, xs, flags = _setup(dim, batch_size)

    def foo(model, x, flag):
        def bar(model, x):
            def cond_fn(val):
                i, x, model = val
                return i < steps

            def body_fn(val):
                i, x, model = val
                return i + 1, model(x), model

            _, x, _ = nnx.while_loop(cond_fn, body_fn, (0, x, model))
            return x

        x = nnx.cond(flag < 2, bar, lambda *_: jnp.zeros((dim,)), model, x)
        return x

    y = nnx.vmap(foo, in_axes=(None, 0, 0))(model, xs, flags)
    _check(y, model, xs, flags, steps)


def fix_where(*, dim=4, batch_size=5, steps=3):
    """Run the fori_loop for every example, then select with jnp.where (no cond around the loop)."""
    model, xs, flags = _setup(dim, batch_size)

    def foo(model, x, flag):
        def for_body(i, val):
            x, model = val
            return model(x), model

        looped, _ = nnx.fori_loop(0, steps, for_body, (x, model))
        return jnp.where(flag < 2, looped, jnp.zeros((dim,)))

    y = nnx.vmap(foo, in_axes=(None, 0, 0))(model, xs, flags)
    _check(y, model, xs, flags, steps)


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
