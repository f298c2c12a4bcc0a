"""nnx.while_loop / nnx.fori_loop with a carry of several NNX objects raise a reference-structure ValueError.

Upstream: https://github.com/google/flax/issues/4522 (``nnx.while_loop``, two ``nnx.Object`` carries) and
https://github.com/google/flax/issues/4436 (``nnx.fori_loop``, two ``nnx.Linear``; from discussion #4433). Fixed by
commit 19a4abf0 "Fix fori_loop and while_loop on multiple modules", released in Flax 0.10.3.

What goes wrong: when the loop carry holds two distinct graph nodes, ``nnx.while_loop`` raises ``ValueError:
nnx.while_loop requires body function's input and output to have the same reference and pytree structure, but they
differ. If the mismatch comes from `index_mapping` field, you might have modified reference structure within the
body function, which is not allowed.`` (``nnx.fori_loop`` the same with its own name), although the body changes no
reference structure. A single object in the carry, or the same object twice, works; ``nnx.scan`` works.

Versions named in the report: #4522 on Flax 0.10.2 with jax/jaxlib 0.5.0; #4436 in December 2024 (Flax 0.10.2).
Measured: ``nnx.while_loop`` fails on 0.10.1-0.10.2, ``nnx.fori_loop`` on 0.10.2 (its first release); fixed in 0.10.3.

Variants:
  bug                 -- #4522: ``nnx.while_loop(cond_fun, body_fun, (Counter(), Counter()))`` where the body
                         increments the first counter until it reaches ``steps``.
  bug_fori_loop       -- #4436: ``nnx.fori_loop(0, steps, f, (model, model2))`` over two ``nnx.Linear``; here the
                         body also adds the loop index to both biases, so the result can be checked.
  bug_fori_loop_identity -- #4436's exact code: the body ``f(i, x)`` returns ``x`` unchanged.
  fix_one_container   -- put both objects into one container object (an ``nnx.Object`` holding both as attributes)
                         and carry that single node.
  fix_jax_loop        -- ``nnx.split`` both objects, run ``jax.lax.while_loop`` on their states, ``nnx.update`` them
                         after the loop.
Each variant checks the counters / biases after the loop against the values computed by a Python loop. The loop
bodies use ``.value`` as the issues do (``variable[...] += 1`` fails before Flax 0.10.7; from 0.12.1 ``.value``
warns DeprecationWarning, which does not stop the variants).

Run: python repro/while_loop_multi_modules.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "steps": [0, 5],
    "features": [1, 2],
}


class Counter(nnx.Object):
    """#4522's counter."""

    def __init__(self):
        self.n = nnx.Variable(jnp.int32(0))


class Pair(nnx.Object):
    """One container for the two carries."""

    def __init__(self, first, second):
        self.first = first
        self.second = second


def _check_counters(c1, c2, steps):
    assert int(c1.n[...]) == steps, f"first counter is {int(c1.n[...])}, expected {steps}"
    assert int(c2.n[...]) == 0, f"second counter is {int(c2.n[...])}, expected 0"


def bug(*, steps=5, features=2):
    """#4522: two nnx.Object in the nnx.while_loop carry."""
    del features  # the counters have no size

    def cond_fun(val):
        c1, c2 = val
        return c1.n.value < steps

    def body_fun(val):
        c1, c2 = val
        c1.n.value += 1
        return c1, c2

    init_val = Counter(), Counter()
    c1, c2 = nnx.while_loop(cond_fun, body_fun, init_val)
    _check_counters(c1, c2, steps)
    _check_counters(*init_val, steps)  # the input objects are updated in place


def bug_fori_loop(*, steps=5, features=2):
    """#4436: two nnx.Linear in the nnx.fori_loop carry."""
    model = nnx.Linear(features, features, rngs=nnx.Rngs(jax.random.PRNGKey(0)))
    model2 = nnx.Linear(features, features, rngs=nnx.Rngs(jax.random.PRNGKey(1)))
    b1, b2 = np.asarray(model.bias[...]), np.asarray(model2.bias[...])

    def f(i, x):
        m1, m2 = x
        m1.bias.value = m1.bias.value + i
        m2.bias.value = m2.bias.value + 2 * i
        return m1, m2

    nnx.fori_loop(0, steps, f, (model, model2))
    total = sum(range(steps))
    np.testing.assert_allclose(np.asarray(model.bias[...]), b1 + total, rtol=1e-6, err_msg="model bias != loop")
    np.testing.assert_allclose(np.asarray(model2.bias[...]), b2 + 2 * total, rtol=1e-6, err_msg="model2 bias != loop")


def bug_fori_loop_identity(*, steps=5, features=2):
    """#4436's exact code: the body returns the carry unchanged."""
    model = nnx.Linear(features, features, rngs=nnx.Rngs(jax.random.PRNGKey(0)))
    model2 = nnx.Linear(features, features, rngs=nnx.Rngs(jax.random.PRNGKey(1)))
    before = [np.asarray(leaf) for leaf in jax.tree.leaves(nnx.state((model, model2)))]

    def f(i, x):
        return x

    out = nnx.fori_loop(0, steps, f, (model, model2))
    assert out[0] is model and out[1] is model2, "fori_loop did not return the objects it was given"
    after = [np.asarray(leaf) for leaf in jax.tree.leaves(nnx.state((model, model2)))]
    assert len(after) == len(before) == 4, f"expected 4 arrays (2 per Linear), got {len(after)}"
    for got, want in zip(after, before):
        np.testing.assert_array_equal(got, want, err_msg="an identity loop changed a parameter")


def fix_one_container(*, steps=5, features=2):
    """One container object in the carry instead of a tuple of objects."""
    del features

    def cond_fun(pair):
        return pair.first.n.value < steps

    def body_fun(pair):
        pair.first.n.value += 1
        return pair

    pair = Pair(Counter(), Counter())
    out = nnx.while_loop(cond_fun, body_fun, pair)
    _check_counters(out.first, out.second, steps)
    _check_counters(pair.first, pair.second, steps)


def fix_jax_loop(*, steps=5, features=2):
    """Split the objects and loop over their states with jax.lax.while_loop."""
    del features
    c1, c2 = Counter(), Counter()
    graphdef, state = nnx.split((c1, c2))

    def cond_fun(state):
        first, _ = nnx.merge(graphdef, state)
        return first.n.value < steps

    def body_fun(state):
        first, second = nnx.merge(graphdef, state)
        first.n.value += 1
        return nnx.split((first, second))[1]

    state = jax.lax.while_loop(cond_fun, body_fun, state)
    nnx.update((c1, c2), state)
    _check_counters(c1, c2, steps)


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
