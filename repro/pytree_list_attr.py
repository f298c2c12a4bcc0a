"""Flax 0.12 strict pytree attributes: a plain list of submodules or arrays as a Module attribute raises ValueError.

Upstream: https://github.com/google/flax/releases/tag/v0.12.0 ("Pytree Strict Attributes"), the guide
https://flax.readthedocs.io/en/latest/guides/pytree.html, PR https://github.com/google/flax/pull/4897 (nnx.data,
nnx.List), and the 0.12.5 change "Improve unregistered data detection" (commit 431291ed).

What goes wrong: from Flax 0.12.0 an nnx.Module is a JAX pytree whose attributes are either data or static,
decided when the attribute is first assigned. A plain Python ``list`` is static, so the common
``self.layers = [nnx.Linear(...) for _ in range(n)]`` raises at construction:
0.12.0-0.12.4: ``ValueError: Found unexpected Arrays on value of type <class 'list'> in static attribute
'layers' of Pytree type ... This is an error starting from Flax version 0.12.0.``; from 0.12.5:
``ValueError: Found data on value of type '<class 'list'>' assigned to static attribute 'layers' ...``.
The message lists its own fixes: ``nnx.data(...)`` on assignment, an ``nnx.Data`` annotation (0.12.5: ``=
nnx.data()``), ``nnx.List(...)``/``nnx.Dict(...)``, or ``class ...(nnx.Module, pytree=False)``.
0.12.0-0.12.4 only looked for arrays, so a list of modules that hold no arrays (e.g. Dropout without rngs)
was silently kept as a static attribute; 0.12.5 counts every Module/Variable as data and raises for it too.
On Flax 0.10.x and 0.11.x all of this works: lists are graph nodes.

Versions named in the report: Flax 0.12.0 (2025-09-25) introduced the check; 0.12.5 (2026-03-04) changed
the message and widened what counts as data.

Variants:
  bug                    -- ``self.layers = [nnx.Linear(...) for _ in range(num_layers)]``, then a call.
  bug_arrays             -- ``self.ws = [jnp.ones(...), ...]``: a plain list of arrays.
  bug_arrayless_modules  -- a list of nnx.Dropout modules without rngs (no arrays at all).
  fix_nnx_data           -- ``self.layers = nnx.data([...])`` (0.11.0+).
  fix_nnx_list           -- ``self.layers = nnx.List([...])`` (0.12.0+).
  fix_pytree_false       -- ``class MLP(nnx.Module, pytree=False)`` with the plain list (0.10.7+).
Each fix builds the stack of Linear layers, then checks (1) the forward pass under nnx.jit against a NumPy
forward pass over the layers' own weights, (2) that nnx.state(model, nnx.Param) holds every layer's kernel
and bias, and (3) one nnx.jit + nnx.grad SGD step against NumPy backpropagation: a list hidden as static
would leave layers out of the state and the gradients.

Run: python repro/pytree_list_attr.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "num_layers": [1, 2, 3],
    "features": [1, 3],
    "batch": [1, 2],
}

LEARNING_RATE = 0.1


def _layers(num_layers, features):
    rngs = nnx.Rngs(0)
    return [nnx.Linear(features, features, rngs=rngs) for _ in range(num_layers)]


def _inputs(batch, features):
    return jax.random.normal(jax.random.key(1), (batch, features))


def _forward(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def _numpy_weights(layers):
    return [(np.asarray(layer.kernel[...], np.float64), np.asarray(layer.bias[...], np.float64)) for layer in layers]


def _numpy_forward_backward(weights, x):
    """Forward pass and gradients of 0.5 * sum(y**2) for a chain of linear layers, in float64 NumPy."""
    acts = [np.asarray(x, np.float64)]
    for w, b in weights:
        acts.append(acts[-1] @ w + b)
    g = acts[-1]  # d(0.5 * sum(y**2)) / dy
    grads = []
    for (w, _), a in zip(reversed(weights), reversed(acts[:-1])):
        grads.append((a.T @ g, g.sum(axis=0)))
        g = g @ w.T
    return acts[-1], grads[::-1]


def _check_stack(model, layers, *, num_layers, features, batch):
    """Forward pass, state contents and one SGD step of `model` (whose __call__ runs `layers`) vs NumPy."""
    x = _inputs(batch, features)
    weights = _numpy_weights(layers)
    want_y, want_grads = _numpy_forward_backward(weights, x)

    y = nnx.jit(lambda m, x: m(x))(model, x)
    np.testing.assert_allclose(np.asarray(y), want_y, rtol=1e-5, atol=1e-5, err_msg="forward pass != NumPy")

    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert len(params) == 2 * num_layers, (
        f"nnx.state(model, nnx.Param) has {len(params)} arrays, expected {2 * num_layers} (kernel and bias per layer)"
    )
    want_arrays = sorted((a for wb in weights for a in wb), key=lambda a: (a.shape, a.ravel().tolist()))
    got_arrays = sorted((np.asarray(a, np.float64) for a in params), key=lambda a: (a.shape, a.ravel().tolist()))
    for got, want in zip(got_arrays, want_arrays):
        np.testing.assert_array_equal(got, want, err_msg="state arrays are not the layers' weights")

    @nnx.jit
    def sgd_step(model, x):
        grads = nnx.grad(lambda m: 0.5 * jnp.sum(m(x) ** 2))(model)
        params = nnx.state(model, nnx.Param)
        nnx.update(model, jax.tree.map(lambda p, g: p - LEARNING_RATE * g, params, grads))

    sgd_step(model, x)
    for i, (layer, (w, b), (gw, gb)) in enumerate(zip(layers, weights, want_grads)):
        np.testing.assert_allclose(
            np.asarray(layer.kernel[...]),
            w - LEARNING_RATE * gw,
            rtol=1e-5,
            atol=1e-5,
            err_msg=f"layer {i} kernel after one SGD step != NumPy backprop",
        )
        np.testing.assert_allclose(
            np.asarray(layer.bias[...]),
            b - LEARNING_RATE * gb,
            rtol=1e-5,
            atol=1e-5,
            err_msg=f"layer {i} bias after one SGD step != NumPy backprop",
        )


def bug(*, num_layers=2, features=3, batch=2):
    """A plain list of submodules as an attribute."""

    class MLP(nnx.Module):
        def __init__(self):
            self.layers = _layers(num_layers, features)  # 0.12+: ValueError at this assignment

        def __call__(self, x):
            return _forward(self.layers, x)

    MLP()(_inputs(batch, features))


def bug_arrays(*, num_layers=2, features=3, batch=2):
    """A plain list of arrays as an attribute."""

    class Weights(nnx.Module):
        def __init__(self):
            self.ws = [jnp.full((features, features), 1.0 / (i + 1)) for i in range(num_layers)]  # 0.12+: ValueError

        def __call__(self, x):
            for w in self.ws:
                x = x @ w
            return x

    Weights()(_inputs(batch, features))


def bug_arrayless_modules(*, num_layers=2, features=3, batch=2):
    """A plain list of modules that hold no arrays: static and silent on 0.12.0-0.12.4, ValueError from 0.12.5."""

    class Dropouts(nnx.Module):
        def __init__(self):
            self.drops = [nnx.Dropout(0.5) for _ in range(num_layers)]

        def __call__(self, x):
            for d in self.drops:
                x = d(x, deterministic=True)
            return x

    x = _inputs(batch, features)
    np.testing.assert_array_equal(np.asarray(Dropouts()(x)), np.asarray(x))


def fix_nnx_data(*, num_layers=2, features=3, batch=2):
    """The message's option 2: mark the list as data with nnx.data(...)."""

    class MLP(nnx.Module):
        def __init__(self):
            self.layers = nnx.data(_layers(num_layers, features))

        def __call__(self, x):
            return _forward(self.layers, x)

    model = MLP()
    _check_stack(model, model.layers, num_layers=num_layers, features=features, batch=batch)


def fix_nnx_list(*, num_layers=2, features=3, batch=2):
    """The message's option 4: use nnx.List(...)."""

    class MLP(nnx.Module):
        def __init__(self):
            self.layers = nnx.List(_layers(num_layers, features))

        def __call__(self, x):
            return _forward(self.layers, x)

    model = MLP()
    _check_stack(model, model.layers, num_layers=num_layers, features=features, batch=batch)


def fix_pytree_false(*, num_layers=2, features=3, batch=2):
    """The message's last option: opt the class out of pytree mode, keep the plain list."""

    class MLP(nnx.Module, pytree=False):
        def __init__(self):
            self.layers = _layers(num_layers, features)

        def __call__(self, x):
            return _forward(self.layers, x)

    model = MLP()
    _check_stack(model, model.layers, num_layers=num_layers, features=features, batch=batch)


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
