"""nnx.while_loop under nnx.vmap with per-example loop counts: broadcast model params come out batched.

Upstream: https://github.com/google/flax/issues/4700

What goes wrong: `foo(model, x, n)` carries the model through `nnx.while_loop(cond, body, (0, x, model))`
with `cond` comparing the counter to the per-example count `n`, and `foo` is vmapped with
`nnx.vmap(foo, in_axes=(None, 0, 0))`. The loop predicate is batched, so JAX's while-loop batching rule
batches every carried value, the model's Variables included; on the way out of the vmap the parameters
(declared broadcast, `in_axes=None`) are batched and vmap refuses them: `ValueError: at vmap out_axes[0][0]...
['linear']['bias'].value, got axis spec None but output was batched on axis 0`. JAX 0.6.0 turns carries the
body forwards unchanged into loop constants, which are not batched, so the pattern runs from JAX 0.6.0 on.

Reported on flax 0.10.5 (jax/jaxlib 0.5.3); the nested follow-up was posted in the same thread (2025-04-11).

Variants:
  bug               - the issue's example verbatim (Model(4, 4), batch 3, counts arange(3), inputs ones).
  bug_nested        - the thread's follow-up: the loop body runs an inner nnx.while_loop over the model before
                      applying it once more; where it runs, its result is checked against the unrolled loop.
  fix_restore_state - snapshot `nnx.state(model)` before the loop and `nnx.update(model, backup)` after it,
                      so the model leaves foo with its unbatched values; result checked against the loop
                      unrolled eagerly per example, and the model's params checked unchanged.
  fix_closure       - do not carry the model: close over it and carry only `(cnt, x)`; checked the same way.

Run: python repro/vmap_while_loop.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

# The sizes the property tests draw each keyword argument from (flax_regressions/incell/test_properties.py);
# the first value of each set is the one example the ci profile runs. A batch and its per-example loop counts
# are drawn together (batch = len(counts)): counts 0, 1 and 3, unequal (the pattern's case) and equal.
PROPERTY_SIZES = {
    ("batch", "counts"): [
        (4, (0, 1, 3, 0)),
        (1, (0,)),
        (1, (1,)),
        (1, (3,)),
        (3, (0, 1, 3)),
        (3, (3, 1, 0)),
        (3, (1, 1, 1)),
        (3, (3, 3, 3)),
        (4, (1, 3, 0, 1)),
        (4, (3, 0, 1, 3)),
        (4, (0, 0, 0, 0)),
        (4, (3, 3, 1, 1)),
    ],
    "features": [1, 4],
}


class Model(nnx.Module):
    def __init__(self, din, dout, rngs: nnx.Rngs):
        self.linear = nnx.Linear(din, dout, rngs=rngs)

    def __call__(self, x):
        return self.linear(x)


def _counts(batch, counts):
    """Per-example loop counts; the issue uses `jnp.arange(batch_size)` (0, 1, 2, ...)."""
    counts = tuple(range(batch)) if counts is None else tuple(int(c) for c in counts)
    if len(counts) != batch:
        raise ValueError(f"counts has {len(counts)} entries but batch is {batch}")
    if any(c < 0 for c in counts):
        raise ValueError(f"loop counts must be >= 0, got {counts}")
    return counts


def _unrolled_reference(model, xs, counts, applications=lambda n: n):
    """Apply the model `applications(n_i)` times to x_i, eagerly, example by example (no loop, no vmap)."""
    rows = []
    for x, n in zip(xs, counts):
        y = x
        for _ in range(applications(n)):
            y = model(y)
        rows.append(np.asarray(y))
    return np.stack(rows)


def _inputs(batch, features):
    """Distinct, non-trivial per-example inputs (so a mix-up between examples is caught)."""
    return jax.random.normal(jax.random.key(1), (batch, features))


def bug(*, batch=3, features=4, counts=None):
    """The issue's example: the model is carried through the while loop and vmapped with in_axes=None.

    `counts` defaults to the issue's `jnp.arange(batch_size)`; on JAX < 0.6.0 this raises the vmap
    out_axes error for the model's params.
    """
    counts = _counts(batch, counts)

    def foo(model, x, while_cnt):
        def while_cond(val):
            cnt, x, model = val
            return cnt < while_cnt

        def while_body(val):
            cnt, x, model = val
            return cnt + 1, model(x), model

        _, x, _ = nnx.while_loop(while_cond, while_body, (0, x, model))
        return x

    model = Model(features, features, rngs=nnx.Rngs(0))
    xs = jnp.ones((batch, features))
    while_cnts = jnp.asarray(counts)
    y = nnx.vmap(foo, in_axes=(None, 0, 0))(model, xs, while_cnts)
    jax.block_until_ready(y)


def bug_nested(*, batch=3, features=4, counts=None):
    """The thread's follow-up (posted after the first example ran on a fixed JAX): the outer loop's body
    runs an inner nnx.while_loop over the same model, then applies the model once more.

    Where it runs, the result is checked against the unrolled loop (n_i * (n_i + 1) applications), so a
    silently wrong answer also fails this variant.
    """
    counts = _counts(batch, counts)

    def foo(model, x, while_cnt):
        def nested_while_cond(val):
            cnt, x, model = val
            return cnt < while_cnt

        def nested_while_body(val):
            cnt, x, model = val
            return cnt + 1, model(x), model

        def while_cond(val):
            cnt, x, model = val
            return cnt < while_cnt

        def while_body(val):
            cnt, x, model = val
            _, x, _ = nnx.while_loop(nested_while_cond, nested_while_body, (0, x, model))
            return cnt + 1, model(x), model

        _, x, _ = nnx.while_loop(while_cond, while_body, (0, x, model))
        return x

    model = Model(features, features, rngs=nnx.Rngs(0))
    xs = jnp.ones((batch, features))
    while_cnts = jnp.asarray(counts)
    y = nnx.vmap(foo, in_axes=(None, 0, 0))(model, xs, while_cnts)
    expected = _unrolled_reference(Model(features, features, rngs=nnx.Rngs(0)), xs, counts, lambda n: n * (n + 1))
    np.testing.assert_allclose(
        np.asarray(y),
        expected,
        rtol=1e-5,
        atol=1e-6,
        err_msg="nested while loop under vmap disagrees with the loop unrolled per example",
    )


def fix_restore_state(*, batch=3, features=4, counts=None):
    """Workaround 1: back up the model state before the loop and restore it after, inside the vmapped function."""
    counts = _counts(batch, counts)

    def foo(model, x, while_cnt):
        backup = nnx.state(model)

        def while_cond(val):
            cnt, x, model = val
            return cnt < while_cnt

        def while_body(val):
            cnt, x, model = val
            return cnt + 1, model(x), model

        _, x, _ = nnx.while_loop(while_cond, while_body, (0, x, model))
        nnx.update(model, backup)
        return x

    model = Model(features, features, rngs=nnx.Rngs(0))
    kernel_before = np.asarray(model.linear.kernel[...])
    bias_before = np.asarray(model.linear.bias[...])
    xs = _inputs(batch, features)
    y = nnx.vmap(foo, in_axes=(None, 0, 0))(model, xs, jnp.asarray(counts))

    expected = _unrolled_reference(Model(features, features, rngs=nnx.Rngs(0)), xs, counts)
    np.testing.assert_allclose(
        np.asarray(y),
        expected,
        rtol=1e-5,
        atol=1e-6,
        err_msg="vmapped while loop (restore-state workaround) disagrees with the loop unrolled per example",
    )
    kernel_after, bias_after = np.asarray(model.linear.kernel[...]), np.asarray(model.linear.bias[...])
    assert kernel_after.shape == kernel_before.shape and np.array_equal(kernel_after, kernel_before), (
        f"model kernel changed by the vmapped call: shape {kernel_before.shape} -> {kernel_after.shape}"
    )
    assert bias_after.shape == bias_before.shape and np.array_equal(bias_after, bias_before), (
        f"model bias changed by the vmapped call: shape {bias_before.shape} -> {bias_after.shape}"
    )


def fix_closure(*, batch=3, features=4, counts=None):
    """Workaround 2: close over the model instead of carrying it; the loop carries only (cnt, x)."""
    counts = _counts(batch, counts)

    def foo(model, x, while_cnt):
        def while_cond(val):
            cnt, x = val
            return cnt < while_cnt

        def while_body(val):
            cnt, x = val
            return cnt + 1, model(x)

        _, x = nnx.while_loop(while_cond, while_body, (0, x))
        return x

    model = Model(features, features, rngs=nnx.Rngs(0))
    kernel_before = np.asarray(model.linear.kernel[...])
    xs = _inputs(batch, features)
    y = nnx.vmap(foo, in_axes=(None, 0, 0))(model, xs, jnp.asarray(counts))

    expected = _unrolled_reference(Model(features, features, rngs=nnx.Rngs(0)), xs, counts)
    np.testing.assert_allclose(
        np.asarray(y),
        expected,
        rtol=1e-5,
        atol=1e-6,
        err_msg="vmapped while loop (closure workaround) disagrees with the loop unrolled per example",
    )
    kernel_after = np.asarray(model.linear.kernel[...])
    assert kernel_after.shape == kernel_before.shape and np.array_equal(kernel_after, kernel_before), (
        f"model kernel changed by the vmapped call: shape {kernel_before.shape} -> {kernel_after.shape}"
    )


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
