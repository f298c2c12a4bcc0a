"""nnx.Dict is missing from Flax 0.11.0-0.11.2: a Module that holds its layers in nnx.Dict raises AttributeError.

Upstream: https://github.com/google/flax/issues/4879 ("Undocumented removal of nnx.Dict in flax 0.11"),
reintroduced by https://github.com/google/flax/pull/4897 (with ``nnx.data`` and ``nnx.List``), released in
Flax 0.12.0.

What goes wrong: Flax 0.10.x exports ``nnx.Dict`` (``flax.nnx.helpers.Dict``, a Module that is also a mapping).
Flax 0.11.0 dropped it without a word in the release notes or the 0.10-to-0.11 migration guide, so
``nnx.Dict({...})`` raises ``AttributeError: Module flax.nnx has no attribute 'Dict'`` on 0.11.0, 0.11.1 and
0.11.2. PR #4897 brought it back in 0.12.0, where it is also the documented container for a mapping of
submodules (0.12.0 made Module attributes static unless marked as data). The issue's "not difficult to migrate"
has no single answer: a plain ``dict`` attribute works up to 0.11.2 but raises ``ValueError`` from 0.12.0 (a
static attribute holding data); ``nnx.data({...})`` exists only from 0.11.0. Storing each entry as its own
attribute works on every release.

Versions named in the report: removed in Flax 0.11.0 (reported 2025-08-09 against 0.11), back in 0.12.0 (PR #4897).

Variants:
  bug             -- ``self.layers = nnx.Dict({'kernel1': nnx.Linear(...), 'activation1': nnx.relu,
                     'kernel2': nnx.Linear(...)})`` (the 0.12 docstring's example), then calls.
  fix_plain_dict  -- the same mapping as a plain ``dict`` attribute.
  fix_nnx_data    -- ``self.layers = nnx.data({...})`` (0.11.0+).
  fix_attributes  -- ``setattr(self, name, value)`` for each entry, the names kept in a tuple (every release).
Every variant checks the forward pass under ``nnx.jit`` against NumPy (Linear, relu, Linear with the layers' own
weights), that ``nnx.state(model, nnx.Param)`` holds both Linears' kernels and biases, and the ``nnx.grad`` of
the summed output against NumPy backpropagation: a container hidden from the state would lose its parameters.

Run: python repro/nnx_dict_missing.py
"""

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "din": [1, 3],
    "dmid": [1, 4],
    "batch": [1, 2],
}

NAMES = ("kernel1", "activation1", "kernel2")


def _entries(din, dmid):
    rngs = nnx.Rngs(0)
    return {
        "kernel1": nnx.Linear(din, dmid, rngs=rngs),
        "activation1": nnx.relu,
        "kernel2": nnx.Linear(dmid, 1, rngs=rngs),
    }


def _apply(layers, x):
    for name in NAMES:
        x = layers[name](x)
    return x


def _by_layer(state, prefix=()):
    """{(layer name, 'kernel' or 'bias'): array} from a nested State, wherever the container sits in the path."""
    out = {}
    for key, value in state.items():
        path = prefix + (key,)
        if isinstance(value, Mapping):
            out.update(_by_layer(value, path))
        else:
            layer = [p for p in path if p in ("kernel1", "kernel2")]
            out[(layer[0] if layer else None, key)] = np.asarray(jax.tree.leaves(value)[0])
    return out


def _check(model, get_layer, din, dmid, batch):
    w1, b1 = np.asarray(get_layer("kernel1").kernel[...]), np.asarray(get_layer("kernel1").bias[...])
    w2, b2 = np.asarray(get_layer("kernel2").kernel[...]), np.asarray(get_layer("kernel2").bias[...])
    assert w1.shape == (din, dmid) and w2.shape == (dmid, 1), f"kernel shapes {w1.shape}, {w2.shape}"
    x = np.linspace(-1.0, 1.0, batch * din, dtype=np.float32).reshape(batch, din)
    pre = x @ w1 + b1
    h = np.maximum(pre, 0.0)
    want = h @ w2 + b2

    y = nnx.jit(lambda m, x: m(x))(model, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-6, err_msg="jitted forward pass != NumPy")

    params = _by_layer(nnx.state(model, nnx.Param))
    expected = {(layer, name) for layer in ("kernel1", "kernel2") for name in ("kernel", "bias")}
    assert set(params) == expected, f"nnx.state(model, nnx.Param) holds {sorted(params, key=str)}"
    np.testing.assert_array_equal(params[("kernel1", "kernel")], w1, err_msg="state kernel1 != layer kernel")

    grads = _by_layer(nnx.grad(lambda m: jnp.sum(m(jnp.asarray(x))))(model))
    assert set(grads) == expected, f"nnx.grad covers {sorted(grads, key=str)}"
    dh = np.ones((batch, 1), np.float32) @ w2.T * (pre > 0)
    want_grads = {
        ("kernel2", "kernel"): h.T @ np.ones((batch, 1), np.float32),
        ("kernel2", "bias"): np.full((1,), batch, np.float32),
        ("kernel1", "kernel"): x.T @ dh,
        ("kernel1", "bias"): dh.sum(axis=0),
    }
    for key, value in want_grads.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-5, atol=1e-5, err_msg=f"gradient {key} != NumPy")


def bug(*, din=3, dmid=4, batch=2):
    """The 0.12 docstring's nnx.Dict example as a Module attribute (0.11.0-0.11.2: AttributeError)."""

    class Model(nnx.Module):
        def __init__(self):
            self.layers = nnx.Dict(_entries(din, dmid))  # 0.11.0-0.11.2: AttributeError

        def __call__(self, x):
            return _apply(self.layers, x)

    model = Model()
    _check(model, lambda name: model.layers[name], din, dmid, batch)


def fix_plain_dict(*, din=3, dmid=4, batch=2):
    """A plain dict attribute."""

    class Model(nnx.Module):
        def __init__(self):
            self.layers = _entries(din, dmid)

        def __call__(self, x):
            return _apply(self.layers, x)

    model = Model()
    _check(model, lambda name: model.layers[name], din, dmid, batch)


def fix_nnx_data(*, din=3, dmid=4, batch=2):
    """nnx.data marks the dict attribute as data (0.11.0+)."""

    class Model(nnx.Module):
        def __init__(self):
            self.layers = nnx.data(_entries(din, dmid))

        def __call__(self, x):
            return _apply(self.layers, x)

    model = Model()
    _check(model, lambda name: model.layers[name], din, dmid, batch)


def fix_attributes(*, din=3, dmid=4, batch=2):
    """One attribute per entry, the order kept in a tuple of names."""

    class Model(nnx.Module):
        def __init__(self):
            for name, value in _entries(din, dmid).items():
                setattr(self, name, value)
            self.names = NAMES

        def __call__(self, x):
            for name in self.names:
                x = getattr(self, name)(x)
            return x

    model = Model()
    _check(model, lambda name: getattr(model, name), din, dmid, batch)


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
