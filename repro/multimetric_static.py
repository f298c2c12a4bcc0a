"""A GraphDef that contains an nnx.MultiMetric cannot be a static jax.jit argument: it is not hashable.

Upstream: https://github.com/google/flax/issues/5489 (fixed by https://github.com/google/flax/pull/5492,
commit 6f745922, released in Flax 0.12.8).

What goes wrong: ``MultiMetric`` keeps its metric names in a ``list`` attribute, ``_metric_names``. The GraphDef
that ``nnx.split`` returns carries static attributes, and hashing it hashes that list: ``jax.jit(...,
static_argnames=['graphdef'])`` raises ``ValueError: Non-hashable static arguments are not supported. An error
occurred while trying to hash an object of type <class 'flax.nnx.graphlib.GraphDef'> ...`` (``hash(graphdef)``:
``TypeError: unhashable type: 'list'``). ``nnx.jit`` with the same static graphdef fails the same way. Passing
the objects themselves to ``nnx.jit`` (the issue's ``run_step``) works. PR #5492 stores the names as a tuple.
This is a regression: the same code works on Flax 0.10.x-0.12.0 (their GraphDef hash did not reach the list);
the measured window is in NOTES.md.

Versions named in the report: Flax 0.12.7 with jax 0.10.1 (GPU). Fixed in 0.12.8.

Variants:
  bug                     -- the issue's ``run_step_error1``: ``jax.jit`` with ``static_argnames=['graphdef']`` over
                             ``nnx.split((model, optimizer, metrics))``; the optimizer is ``nnx.ModelAndOptimizer``
                             as in the issue (0.11.0+). The issue's snippet is cut off after the loss function;
                             the rest (update, split, return) is the obvious completion.
  bug_metrics_only        -- PR #5492's test: only the MultiMetric, split, graphdef static in jax.jit (every release).
  fix_nnx_jit             -- the issue's working ``run_step``: ``@nnx.jit`` over the objects themselves.
  fix_tuple_metric_names  -- PR #5492's change applied by hand: ``metrics._metric_names = tuple(...)`` (a private
                             attribute) before splitting; then the bug's jax.jit call.
Every fix (and ``bug`` where it runs) does `steps` SGD steps of a Linear with MSE loss and checks the parameters
against NumPy gradient descent and the MultiMetric's loss average against the mean of the NumPy losses;
``bug_metrics_only`` checks the averages it fed in.

Run: python repro/multimetric_static.py
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

PROPERTY_SIZES = {
    "in_features": [1, 4],
    "out_features": [1, 2],
    "batch": [1, 3],
    "steps": [1, 2],
}

LEARNING_RATE = 0.01


class _TrivialModel(nnx.Module):
    """The issue's model."""

    def __init__(self, in_features: int, out_features: int, rngs: nnx.Rngs):
        self.linear = nnx.Linear(in_features, out_features, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear(x)


def _setup(in_features, out_features):
    """The issue's setup()."""
    rngs = nnx.Rngs(0)
    model = _TrivialModel(in_features=in_features, out_features=out_features, rngs=rngs)
    optimizer = nnx.ModelAndOptimizer(model, optax.sgd(learning_rate=LEARNING_RATE))
    metrics = nnx.MultiMetric(loss=nnx.metrics.Average("loss"))
    return model, optimizer, metrics


def _data(batch, in_features, out_features):
    kx, ky = jax.random.split(jax.random.key(1))
    return jax.random.normal(kx, (batch, in_features)), jax.random.normal(ky, (batch, out_features))


def _numpy_sgd(w, b, x, y, steps):
    """Plain gradient descent on mean((x @ w + b - y)**2) in float64; returns w, b and the per-step losses."""
    w, b, x, y = (np.asarray(a, np.float64) for a in (w, b, x, y))
    losses = []
    for _ in range(steps):
        err = x @ w + b - y
        losses.append(np.mean(err**2))
        g = 2.0 * err / err.size
        w, b = w - LEARNING_RATE * (x.T @ g), b - LEARNING_RATE * g.sum(axis=0)
    return w, b, losses


def _check(model, metrics, w0, b0, x, y, steps):
    w, b, losses = _numpy_sgd(w0, b0, x, y, steps)
    np.testing.assert_allclose(
        np.asarray(model.linear.kernel[...]),
        w,
        rtol=1e-5,
        atol=1e-6,
        err_msg="kernel after training != NumPy gradient descent",
    )
    np.testing.assert_allclose(
        np.asarray(model.linear.bias[...]),
        b,
        rtol=1e-5,
        atol=1e-6,
        err_msg="bias after training != NumPy gradient descent",
    )
    np.testing.assert_allclose(
        float(metrics.compute()["loss"]),
        np.mean(losses),
        rtol=1e-5,
        err_msg="MultiMetric loss average != mean of the NumPy losses",
    )


def _loss(m, x, y):
    return jnp.mean((m(x) - y) ** 2)


@partial(jax.jit, static_argnames=["graphdef"])
def _run_step_error1(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array, y: jax.Array):
    """The issue's run_step_error1 (completed after its loss function)."""
    model, optimizer, metrics = nnx.merge(graphdef, state)

    def loss_fn(m: nnx.Module):
        predictions = m(x)
        # Simple Mean Squared Error
        return jnp.mean((predictions - y) ** 2)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(grads)
    metrics.update(loss=loss)
    _, state = nnx.split((model, optimizer, metrics))
    return loss, state


def bug(*, in_features=4, out_features=2, batch=3, steps=2):
    """The issue's failing step: a static GraphDef of (model, optimizer, metrics) in jax.jit."""
    model, optimizer, metrics = _setup(in_features, out_features)
    w0, b0 = np.asarray(model.linear.kernel[...]), np.asarray(model.linear.bias[...])
    x, y = _data(batch, in_features, out_features)
    graphdef, state = nnx.split((model, optimizer, metrics))
    for _ in range(steps):
        _, state = _run_step_error1(graphdef, state, x, y)  # 0.12.7: ValueError: Non-hashable static arguments
    model, _, metrics = nnx.merge(graphdef, state)
    _check(model, metrics, w0, b0, x, y, steps)  # where it runs, the result must be right


def bug_metrics_only(*, in_features=4, out_features=2, batch=3, steps=2):
    """PR #5492's test: just the MultiMetric's graphdef as a static jax.jit argument."""
    metrics = nnx.MultiMetric(loss=nnx.metrics.Average("loss"), accuracy=nnx.metrics.Average("accuracy"))
    graphdef, state = nnx.split(metrics)

    @partial(jax.jit, static_argnames=("graphdef",))
    def update_metric(graphdef, state, loss_value, accuracy_value):
        metrics = nnx.merge(graphdef, state)
        metrics.update(loss=loss_value, accuracy=accuracy_value)
        _, new_state = nnx.split(metrics)
        return new_state

    losses = np.linspace(1.0, 2.0, steps)
    for loss in losses:
        state = update_metric(graphdef, state, jnp.asarray(loss), jnp.asarray(0.8))
    values = nnx.merge(graphdef, state).compute()
    np.testing.assert_allclose(float(values["loss"]), losses.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(values["accuracy"]), 0.8, rtol=1e-6)


def fix_nnx_jit(*, in_features=4, out_features=2, batch=3, steps=2):
    """The issue's run_step: nnx.jit over the objects, no manual split."""
    model, optimizer, metrics = _setup(in_features, out_features)
    w0, b0 = np.asarray(model.linear.kernel[...]), np.asarray(model.linear.bias[...])
    x, y = _data(batch, in_features, out_features)

    @nnx.jit
    def run_step(model: nnx.Module, optimizer: nnx.Optimizer, metrics: nnx.MultiMetric, x: jax.Array, y: jax.Array):
        loss, grads = nnx.value_and_grad(_loss)(model, x, y)
        optimizer.update(grads)
        metrics.update(loss=loss)
        return loss

    for _ in range(steps):
        run_step(model, optimizer, metrics, x, y)
    _check(model, metrics, w0, b0, x, y, steps)


def fix_tuple_metric_names(*, in_features=4, out_features=2, batch=3, steps=2):
    """PR #5492 by hand: make MultiMetric's metric names a tuple, then the issue's jax.jit step works."""
    model, optimizer, metrics = _setup(in_features, out_features)
    metrics._metric_names = tuple(metrics._metric_names)
    w0, b0 = np.asarray(model.linear.kernel[...]), np.asarray(model.linear.bias[...])
    x, y = _data(batch, in_features, out_features)
    graphdef, state = nnx.split((model, optimizer, metrics))
    for _ in range(steps):
        _, state = _run_step_error1(graphdef, state, x, y)
    model, _, metrics = nnx.merge(graphdef, state)
    _check(model, metrics, w0, b0, x, y, steps)


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
