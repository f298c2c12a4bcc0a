"""nnx.vmap does not split RNG state: building a layer stack with nnx.vmap(axis_size=n) from one nnx.Rngs fails.

Upstream: https://github.com/google/flax/issues/4153 ("Flax 0.9.0 broke nnx rng splitting"; the answer points to
``nnx.split_rngs`` and FLIP https://github.com/google/flax/issues/4107, "JAX-style NNX Transforms"); the same
``IndexError`` from a documentation example is https://github.com/google/flax/issues/4355 (open).

What goes wrong: before Flax 0.9.0 ``nnx.vmap`` split the ``Rngs`` it was given. Since 0.9.0 NNX transforms treat
RNG state like any other state, so ``nnx.vmap(axis_size=3)`` over a function that takes ``rngs`` tries to map
axis 0 of the Rngs' scalar key and count. The issue's stack of hidden layers,
``partial(nnx.vmap, axis_size=3)(create_hidden_layers)(rngs)``, fails while the first layer draws its key:
``IndexError: tuple index out of range`` (inside ``RngStream.__call__``, from JAX's batching of the scalar key).
Later releases reject the input up front with JAX's message ``ValueError: vmap was requested to map its argument
along axis 0, which implies that its rank should be at least 1, but is only 0 (its shape is ())``. The documented
fix is to split the RNG state around the transform: ``@nnx.split_rngs(splits=3)`` above ``@nnx.vmap``.

Versions named in the report: broken since Flax 0.9.0 (works on 0.8.5); every release measured here (0.10.0+) fails.

Variants:
  bug              -- the issue's ``TestStackedLaxScanLinear``: hidden layers built with
                      ``partial(nnx.vmap, axis_size=num_layers)`` from the model's ``rngs``, applied with
                      ``jax.lax.scan`` over ``nnx.split(self.hidden_layers)``, called through ``nnx.jit(model)``.
  fix_split_rngs   -- the issue's answer: ``@nnx.split_rngs(splits=num_layers)`` above the ``nnx.vmap``.
  fix_split_keys   -- split the key by hand and build an ``nnx.Rngs`` per layer inside ``nnx.vmap(in_axes=0)``
                      (the "scan over layers" pattern of the NNX basics guide).
Each fix checks the stacked kernel/bias shapes, that the layers got different kernels (when there is more than
one), and the model's output against a NumPy forward pass over the model's own weights (upscale, each hidden
layer in turn, downscale).

Run: python repro/vmap_rng_split.py
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "num_layers": [1, 3],
    "features": [1, 4],
    "batch": [1, 2],
}

IN_FEATURES, OUT_FEATURES = 2, 2


class _Model(nnx.Module):
    """The issue's TestStackedLaxScanLinear; `make_hidden` builds the stacked hidden layers from `rngs`."""

    def __init__(self, make_hidden, features, rngs):
        self.hidden_layers = make_hidden(rngs)
        self.upscale_layer = nnx.Linear(
            in_features=IN_FEATURES, out_features=features, bias_init=nnx.initializers.ones, rngs=rngs
        )
        self.downscale_layer = nnx.Linear(
            in_features=features, out_features=OUT_FEATURES, bias_init=nnx.initializers.ones, rngs=rngs
        )

    def __call__(self, x):
        out = self.upscale_layer(x)

        layer_def, layer_states = nnx.split(self.hidden_layers)

        def forward(x, layer_state):
            layer = nnx.merge(layer_def, layer_state)
            x = layer(x)
            return x, None

        out, _ = jax.lax.scan(forward, out, layer_states)

        out = self.downscale_layer(out)
        return out


def _x(batch):
    return np.linspace(-1.0, 1.0, batch * IN_FEATURES, dtype=np.float32).reshape(batch, IN_FEATURES)


def _check(model, num_layers, features, batch):
    kernels = np.asarray(model.hidden_layers.kernel[...])
    biases = np.asarray(model.hidden_layers.bias[...])
    assert kernels.shape == (num_layers, features, features), f"stacked kernel shape {kernels.shape}"
    assert biases.shape == (num_layers, features), f"stacked bias shape {biases.shape}"
    for i in range(1, num_layers):
        assert not np.array_equal(kernels[0], kernels[i]), f"hidden layers 0 and {i} got the same kernel"
    x = _x(batch)
    y = nnx.jit(model)(jnp.asarray(x))
    h = x.astype(np.float64) @ np.asarray(model.upscale_layer.kernel[...]) + np.asarray(model.upscale_layer.bias[...])
    for i in range(num_layers):
        h = h @ kernels[i] + biases[i]
    want = h @ np.asarray(model.downscale_layer.kernel[...]) + np.asarray(model.downscale_layer.bias[...])
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-5, err_msg="model output != NumPy forward")


def bug(*, num_layers=3, features=4, batch=2):
    """The issue's code: nnx.vmap(axis_size=...) over a function of the unsplit Rngs."""

    def make_hidden(rngs):
        @partial(nnx.vmap, axis_size=num_layers)  # 3 hidden layers
        def create_hidden_layers(rngs: nnx.Rngs):
            return nnx.Linear(in_features=features, out_features=features, bias_init=nnx.initializers.ones, rngs=rngs)

        return create_hidden_layers(rngs)

    model = _Model(make_hidden, features, nnx.Rngs(0))  # IndexError / ValueError
    _check(model, num_layers, features, batch)


def fix_split_rngs(*, num_layers=3, features=4, batch=2):
    """The issue's answer: nnx.split_rngs(splits=n) above nnx.vmap(axis_size=n)."""

    def make_hidden(rngs):
        @nnx.split_rngs(splits=num_layers)
        @nnx.vmap(axis_size=num_layers)
        def create_hidden_layers(rngs: nnx.Rngs):
            return nnx.Linear(in_features=features, out_features=features, bias_init=nnx.initializers.ones, rngs=rngs)

        return create_hidden_layers(rngs)

    _check(_Model(make_hidden, features, nnx.Rngs(0)), num_layers, features, batch)


def fix_split_keys(*, num_layers=3, features=4, batch=2):
    """Split the key by hand; each vmapped call builds its own nnx.Rngs."""

    def make_hidden(rngs):
        @nnx.vmap(in_axes=0, out_axes=0)
        def create_hidden_layers(key: jax.Array):
            return nnx.Linear(
                in_features=features, out_features=features, bias_init=nnx.initializers.ones, rngs=nnx.Rngs(key)
            )

        return create_hidden_layers(jax.random.split(rngs.params(), num_layers))

    _check(_Model(make_hidden, features, nnx.Rngs(0)), num_layers, features, batch)


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
