"""Flax 0.11 nnx.Optimizer: the 0.10 training step (no `wrt`, `optimizer.update(grads)`) raises TypeError.

Upstream: https://github.com/google/flax/pull/4842 (the change), https://github.com/google/flax/issues/5060
(docstring still called `wrt` optional), and the "NNX 0.10 to NNX 0.11" migration guide, section
"Optimizer Updates" (docs_nnx/migrating/nnx_010_to_nnx_011.rst).

What goes wrong: Flax 0.11.0 stopped `nnx.Optimizer` from holding the model. The constructor's `wrt`
argument became required and `update` now takes `(model, grads)`. The guide's v0.10 training step,
``nnx.Optimizer(model, optax.adam(1e-3))`` followed by ``optimizer.update(grads)`` inside an
``@nnx.jit`` train_step, raises ``TypeError: Missing required argument `wrt`. As of Flax 0.11.0 the
`wrt` argument is required, ...`` at construction. With ``wrt=nnx.Param`` the old one-argument update
raises ``TypeError: Missing required argument `grads`. ...``, and reading ``optimizer.model`` raises
``AttributeError`` (0.11.0 and 0.11.1 say "does have attribute 'model'", a typo that 0.11.2 corrected to
"does not have"). The guide's v0.11 code is the other way round: on Flax 0.10.x ``optimizer.update(model, grads)``
raises ``TypeError: Optimizer.update() takes 2 positional arguments but 3 were given``.
``nnx.ModelAndOptimizer`` (0.11.0+) keeps the old behaviour; the 0.12 docstring calls it deprecated,
but it raises no warning.

Versions named in the report: the change is PR #4842, released in Flax 0.11.0 (2025-07-29); the guide
shows v0.10 and v0.11 code side by side. Issue #5060 (docstring) was fixed by PR #5061 (0.12.1).

Variants:
  bug                      -- the guide's v0.10 tab: ``nnx.Optimizer(model, tx)`` and
                              ``optimizer.update(grads)`` in an @nnx.jit train_step.
  bug_update_grads         -- ``wrt=nnx.Param`` given, but the old ``optimizer.update(grads)``.
  bug_model_attr           -- the 0.10 idiom ``nnx.grad(loss_fn)(optimizer.model)``: reads ``.model``.
  fix_wrt_model_grads      -- the guide's v0.11 tab: ``wrt=nnx.Param`` and ``optimizer.update(model, grads)``.
  fix_model_and_optimizer  -- ``nnx.ModelAndOptimizer(model, tx)`` with the old ``update(grads)``.
  fix_portable             -- one training step for both APIs: ``wrt=nnx.Param`` (accepted by 0.10 too)
                              and ``update`` called with ``(model, grads)`` only when its signature
                              takes a model.
Each fix trains the guide's Model (Linear, BatchNorm, Dropout, Linear) with optax.adam(1e-3) for `steps`
steps and checks the parameters, the BatchNorm statistics, the dropout RNG state and the optimizer's
step count against an identically built model trained by a plain jax.jit + jax.grad + optax loop over
the model's flattened arrays (no nnx.Optimizer, no nnx.grad).

Run: python repro/optimizer_wrt.py
"""

import inspect

import jax
import numpy as np
import optax
from flax import nnx

PROPERTY_SIZES = {
    "din": [1, 2],
    "dmid": [1, 64],
    "dout": [1, 3],
    "batch": [1, 4],
    "steps": [1, 3],
}

LEARNING_RATE = 1e-3


class _Model(nnx.Module):
    """The guide's Model."""

    def __init__(self, din, dmid, dout, rngs: nnx.Rngs):
        self.linear = nnx.Linear(din, dmid, rngs=rngs)
        self.bn = nnx.BatchNorm(dmid, rngs=rngs)
        self.dropout = nnx.Dropout(0.2, rngs=rngs)
        self.linear_out = nnx.Linear(dmid, dout, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.dropout(self.bn(self.linear(x))))
        return self.linear_out(x)


def _data(batch, din, dout):
    kx, ky = jax.random.split(jax.random.key(1))
    return jax.random.normal(kx, (batch, din)), jax.random.normal(ky, (batch, dout))


def _leaves(tree):
    """Plain arrays of a state (RNG keys as key data), in flatten order."""
    out = []
    for leaf in jax.tree.leaves(tree):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        out.append(np.asarray(leaf))
    return out


def _reference_training(din, dmid, dout, x, y, steps):
    """Independent reference: the same model trained with jax.jit, jax.grad and optax on flat arrays.

    Returns (parameter leaves, leaves of everything else: BatchNorm stats, RNG keys and counts).
    """
    model = _Model(din, dmid, dout, rngs=nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    p_leaves, p_def = jax.tree.flatten(params)
    r_leaves, r_def = jax.tree.flatten(rest)
    tx = optax.adam(LEARNING_RATE)
    opt_state = tx.init(p_leaves)

    def loss_fn(p_leaves, r_leaves):
        m = nnx.merge(graphdef, jax.tree.unflatten(p_def, p_leaves), jax.tree.unflatten(r_def, r_leaves))
        loss = ((m(x) - y) ** 2).mean()
        _, _, new_rest = nnx.split(m, nnx.Param, ...)
        return loss, jax.tree.leaves(new_rest)

    @jax.jit
    def step(p_leaves, r_leaves, opt_state):
        (_, r_leaves), grads = jax.value_and_grad(loss_fn, has_aux=True)(p_leaves, r_leaves)
        updates, opt_state = tx.update(grads, opt_state, p_leaves)
        return optax.apply_updates(p_leaves, updates), r_leaves, opt_state

    for _ in range(steps):
        p_leaves, r_leaves, opt_state = step(p_leaves, r_leaves, opt_state)
    return _leaves(p_leaves), _leaves(r_leaves)


def _check_trained(model, optimizer, *, din, dmid, dout, x, y, steps):
    """The trained model must equal the reference training, and the optimizer must have counted `steps`."""
    want_params, want_rest = _reference_training(din, dmid, dout, x, y, steps)
    got_params = _leaves(nnx.state(model, nnx.Param))
    got_rest = _leaves(nnx.state(model, nnx.Not(nnx.Param)))
    assert len(got_params) == len(want_params) and len(got_rest) == len(want_rest), (
        f"state leaf counts differ: {len(got_params)}/{len(got_rest)} vs {len(want_params)}/{len(want_rest)}"
    )
    for i, (got, want) in enumerate(zip(got_params, want_params)):
        np.testing.assert_allclose(
            got, want, rtol=1e-5, atol=1e-6, err_msg=f"parameter leaf {i} differs from the jax.grad + optax reference"
        )
    for i, (got, want) in enumerate(zip(got_rest, want_rest)):
        np.testing.assert_allclose(
            got,
            want,
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"non-parameter leaf {i} (BatchNorm stats / RNG) differs from the reference",
        )
    initial = _leaves(nnx.state(_Model(din, dmid, dout, rngs=nnx.Rngs(0)), nnx.Param))
    assert any(not np.array_equal(a, b) for a, b in zip(got_params, initial)), "the parameters never changed"
    step = optimizer.step[...]  # not .value: deprecated from 0.12.1
    assert int(step) == steps, f"optimizer.step is {int(step)}, expected {steps}"


def _loss_fn(model, x, y):
    return ((model(x) - y) ** 2).mean()


def bug(*, din=2, dmid=64, dout=3, batch=4, steps=3):
    """The guide's v0.10 code: nnx.Optimizer(model, tx) and optimizer.update(grads)."""
    model = _Model(din, dmid, dout, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE))  # 0.11+: TypeError, `wrt` is required

    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            y_pred = model(x)
            return ((y_pred - y) ** 2).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(grads)
        return loss

    x, y = _data(batch, din, dout)
    for _ in range(steps):
        train_step(model, optimizer, x, y)


def bug_update_grads(*, din=2, dmid=64, dout=3, batch=4, steps=3):
    """`wrt` given, but the 0.10 one-argument update: 0.11+ raises "Missing required argument `grads`"."""
    model = _Model(din, dmid, dout, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(_loss_fn)(model, x, y)
        optimizer.update(grads)
        return loss

    x, y = _data(batch, din, dout)
    for _ in range(steps):
        train_step(model, optimizer, x, y)


def bug_model_attr(*, din=2, dmid=64, dout=3, batch=4, steps=3):
    """The 0.10 idiom of taking gradients of ``optimizer.model`` (the 0.10 docstring's example)."""
    model = _Model(din, dmid, dout, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE), wrt=nnx.Param)
    x, y = _data(batch, din, dout)
    for _ in range(steps):
        grads = nnx.grad(_loss_fn)(optimizer.model, x, y)  # 0.11+: AttributeError
        optimizer.update(grads)


def fix_wrt_model_grads(*, din=2, dmid=64, dout=3, batch=4, steps=3):
    """The guide's v0.11 code: wrt=nnx.Param and optimizer.update(model, grads)."""
    model = _Model(din, dmid, dout, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            y_pred = model(x)
            return ((y_pred - y) ** 2).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)  # 0.10: TypeError, update() takes 2 positional arguments
        return loss

    x, y = _data(batch, din, dout)
    for _ in range(steps):
        train_step(model, optimizer, x, y)
    _check_trained(model, optimizer, din=din, dmid=dmid, dout=dout, x=x, y=y, steps=steps)


def fix_model_and_optimizer(*, din=2, dmid=64, dout=3, batch=4, steps=3):
    """nnx.ModelAndOptimizer (0.11.0+) keeps the 0.10 calling convention."""
    model = _Model(din, dmid, dout, rngs=nnx.Rngs(0))
    optimizer = nnx.ModelAndOptimizer(model, optax.adam(LEARNING_RATE))  # 0.10: AttributeError

    @nnx.jit
    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(_loss_fn)(model, x, y)
        optimizer.update(grads)
        return loss

    x, y = _data(batch, din, dout)
    for _ in range(steps):
        train_step(model, optimizer, x, y)
    assert optimizer.model is model, "ModelAndOptimizer.model is not the model it was given"
    _check_trained(model, optimizer, din=din, dmid=dmid, dout=dout, x=x, y=y, steps=steps)


def fix_portable(*, din=2, dmid=64, dout=3, batch=4, steps=3):
    """A training step that runs on 0.10 and 0.11+: wrt always given, update's signature inspected."""
    model = _Model(din, dmid, dout, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE), wrt=nnx.Param)
    update_takes_model = "model" in inspect.signature(nnx.Optimizer.update).parameters

    @nnx.jit
    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(_loss_fn)(model, x, y)
        if update_takes_model:
            optimizer.update(model, grads)
        else:
            optimizer.update(grads)
        return loss

    x, y = _data(batch, din, dout)
    for _ in range(steps):
        train_step(model, optimizer, x, y)
    _check_trained(model, optimizer, din=din, dmid=dmid, dout=dout, x=x, y=y, steps=steps)


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
