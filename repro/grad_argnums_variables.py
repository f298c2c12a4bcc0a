"""nnx.grad with an integer argnum differentiates standalone non-Param Variables (BatchStat, custom types) too.

Upstream: https://github.com/google/flax/pull/4947 ("always differentiate standalone Variables in nnx.grad", commit
6679a1dd, first in Flax 0.12.0: ``_grad_split_fn`` skips the ``Param`` filter when the value is a ``Variable``).

What goes wrong: ``nnx.grad``'s docstring says "By default, NNX objects are differentiated with respect to all
their ``nnx.Param`` Variables": an integer ``argnums`` means ``DiffState(argnum, nnx.Param)``. On Flax 0.11 that
held for Variables passed on their own or inside a pytree (a dict, a tuple of arguments): a ``BatchStat`` got an
empty ``State({})`` as its gradient. From 0.12.0 every standalone Variable at a differentiated argnum is
differentiated whatever its type, so the gradient pytree silently gains a ``BatchStat`` (or custom Variable) entry
with a real gradient, and code that applies the gradients to every leaf it finds (``jax.tree.map(lambda v, g: v -
lr * g, ...)``) updates running statistics and counters. An explicit ``argnums=nnx.DiffState(0, nnx.Param)`` does
not help: ``nnx.grad`` rewrites every DiffState to ``argnum=-1`` too, so the new short-circuit skips its filter.
Modules passed at the same argnum keep the Param-only rule. Earlier releases differ again: 0.10.0-0.10.4 pass the
Variables to the function as raw arrays and differentiate all of them; 0.10.5-0.10.7 raise ``TypeError:
EmptyState.__init__() takes 1 positional argument but 2 were given`` for a standalone non-Param Variable.

Versions named in the report: PR #4947 (2025-09-15) describes the old behaviour ("only ``Param`` Variables will be
differentiable") and makes every standalone Variable differentiable; its change is in Flax 0.12.0.

Variants:
  bug                    -- ``nnx.grad(loss_fn)(variables)`` with ``variables = {'w': nnx.Param, 'mean':
                            nnx.BatchStat}``: the gradient must hold the Param's gradient only.
  bug_argnums_tuple      -- ``nnx.grad(loss_fn, argnums=(0, 1))(w, mean)``: a Param and a BatchStat as two arguments.
  bug_custom_variable    -- the same dict with a user-defined ``class Scale(nnx.Variable)`` instead of the BatchStat.
  fix_diffstate          -- ``argnums=nnx.DiffState(0, nnx.Param)``: the filter spelled out (the suggested
                            workaround; it fails wherever the bug reproduces).
  fix_module             -- keep the Variables in an ``nnx.Module`` and differentiate the Module.
  fix_separate_argument  -- only the Params at the differentiated argnum, the other Variables as a further argument.
Each variant checks the gradient against the NumPy derivative of the same loss with respect to the Param, and
that no other Variable received a gradient (the non-Param entry, where present, holds no arrays).

Run: python repro/grad_argnums_variables.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "features": [1, 4],
    "batch": [1, 3],
}


class Scale(nnx.Variable):
    """A user-defined, non-Param Variable type."""


def _data(features, batch):
    x = np.linspace(-1.0, 2.0, batch * features, dtype=np.float32).reshape(batch, features)
    y = np.linspace(0.5, -0.5, batch, dtype=np.float32)
    w = np.linspace(0.1, 0.9, features, dtype=np.float32)
    mean = np.linspace(-0.2, 0.3, features, dtype=np.float32)
    return x, y, w, mean


def _loss(w, mean, x, y):
    """mean(((x - mean) @ w - y)**2) on raw arrays."""
    return jnp.mean(((x - mean) @ w - y) ** 2)


def _numpy_grad_w(x, y, w, mean):
    """d/dw of mean(((x - mean) @ w - y)**2), in float64."""
    x, y, w, mean = (np.asarray(a, np.float64) for a in (x, y, w, mean))
    xc = x - mean
    err = xc @ w - y
    return 2.0 * xc.T @ err / err.size


def _check(grad_w, other, x, y, w, mean, what):
    leaves = jax.tree.leaves(other)
    assert not leaves, f"nnx.grad with an integer argnum returned a gradient for the {what} (expected Param only)"
    grad_leaves = jax.tree.leaves(grad_w)  # the Param's gradient (a Variable or VariableState) holds one array
    assert len(grad_leaves) == 1, f"the Param's gradient holds {len(grad_leaves)} arrays, expected 1"
    np.testing.assert_allclose(
        np.asarray(grad_leaves[0]),
        _numpy_grad_w(x, y, w, mean),
        rtol=1e-5,
        atol=1e-6,
        err_msg="gradient of the Param != NumPy derivative",
    )


def bug(*, features=4, batch=3):
    """A dict of Variables at the default argnum 0: only the Param should be differentiated."""
    x, y, w, mean = _data(features, batch)
    variables = {"w": nnx.Param(jnp.asarray(w)), "mean": nnx.BatchStat(jnp.asarray(mean))}

    def loss_fn(variables):
        return _loss(variables["w"][...], variables["mean"][...], x, y)

    grads = nnx.grad(loss_fn)(variables)  # 0.12.0+: grads["mean"] is a BatchStat gradient
    _check(grads["w"], grads["mean"], x, y, w, mean, "BatchStat")


def bug_argnums_tuple(*, features=4, batch=3):
    """A Param and a BatchStat as two arguments, argnums=(0, 1)."""
    x, y, w, mean = _data(features, batch)
    w_var, mean_var = nnx.Param(jnp.asarray(w)), nnx.BatchStat(jnp.asarray(mean))

    def loss_fn(w, mean):
        return _loss(w[...], mean[...], x, y)

    grad_w, grad_mean = nnx.grad(loss_fn, argnums=(0, 1))(w_var, mean_var)
    _check(grad_w, grad_mean, x, y, w, mean, "BatchStat")


def bug_custom_variable(*, features=4, batch=3):
    """A dict holding a Param and a custom Variable type."""
    x, y, w, mean = _data(features, batch)
    variables = {"w": nnx.Param(jnp.asarray(w)), "mean": Scale(jnp.asarray(mean))}

    def loss_fn(variables):
        return _loss(variables["w"][...], variables["mean"][...], x, y)

    grads = nnx.grad(loss_fn)(variables)
    _check(grads["w"], grads["mean"], x, y, w, mean, "custom Variable")


def fix_diffstate(*, features=4, batch=3):
    """argnums=nnx.DiffState(0, nnx.Param): the Param filter spelled out."""
    x, y, w, mean = _data(features, batch)
    variables = {"w": nnx.Param(jnp.asarray(w)), "mean": nnx.BatchStat(jnp.asarray(mean))}

    def loss_fn(variables):
        return _loss(variables["w"][...], variables["mean"][...], x, y)

    grads = nnx.grad(loss_fn, argnums=nnx.DiffState(0, nnx.Param))(variables)
    _check(grads["w"], grads["mean"], x, y, w, mean, "BatchStat")


def fix_module(*, features=4, batch=3):
    """The Variables as attributes of a Module: Modules keep the Param-only default."""
    x, y, w, mean = _data(features, batch)

    class Holder(nnx.Module):
        def __init__(self):
            self.w = nnx.Param(jnp.asarray(w))
            self.mean = nnx.BatchStat(jnp.asarray(mean))

    def loss_fn(holder):
        return _loss(holder.w[...], holder.mean[...], x, y)

    grads = nnx.grad(loss_fn)(Holder())  # a State
    others = {key: value for key, value in grads.items() if key != "w"}
    _check(grads["w"], others, x, y, w, mean, "BatchStat")


def fix_separate_argument(*, features=4, batch=3):
    """Only the Params at the differentiated argnum; the other Variables as a further, non-differentiated argument."""
    x, y, w, mean = _data(features, batch)
    params = {"w": nnx.Param(jnp.asarray(w))}
    stats = {"mean": nnx.BatchStat(jnp.asarray(mean))}

    def loss_fn(params, stats):
        return _loss(params["w"][...], stats["mean"][...], x, y)

    grads = nnx.grad(loss_fn)(params, stats)
    _check(grads["w"], {key: value for key, value in grads.items() if key != "w"}, x, y, w, mean, "BatchStat")


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
