"""Scanning a vmapped layer stack that contains nnx.Dropout fails: the Dropout RNG state was never stacked.

Upstream: https://github.com/google/flax/issues/4589

What goes wrong: a block with an ``nnx.Linear`` and an ``nnx.Dropout`` is built ``num_layers`` times at
once with ``@nnx.split_rngs(splits=3)`` over ``@nnx.vmap(axis_size=3)``. The Linear parameters get the
stacked axis of size 3, but on Flax 0.10.x the Dropout keeps a reference to the shared ``Rngs`` whose key
and count ``split_rngs`` restores to the un-split scalars on exit. Scanning the stack with
``@nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)`` then tries to slice axis 0 of those scalars:
``ValueError: axis 0 is out of bounds for array of dimension 0``.

Versions: the report (March 2025) was made against Flax 0.10.x. From Flax 0.11.0 on, ``nnx.Dropout``
forks its own ``RngStream`` in ``__init__``, so inside the vmap every layer gets its own key and the
stack holds keys and counts of shape (3,): the documented pattern works, and both documented workarounds
break (``fold_in accepts a single key, but was given a key array of shape (3,)``).

Variants:
- ``bug``: the documented pattern exactly (3 layers, Linear(10, 10), Dropout(0.1), input ``jnp.zeros(10)``).
- ``fix_resplit``: documented workaround 1, ``@nnx.split_rngs(splits=3)`` again above the ``nnx.scan``
  at call time; each layer i gets key ``split(fold_in(key, count), 3)[i]``.
- ``fix_stateaxes``: documented workaround 2, ``nnx.StateAxes({nnx.RngState: nnx.Carry, ...: 0})``;
  the single scalar key is carried and each layer draws with the next count.
- ``fix_stacked_rngs``: the adaptation for Flax >= 0.11, where the stack already holds one RNG stream
  per layer and the plain ``in_axes=(nnx.Carry, 0)`` scan slices it like the parameters.
Each ``fix*`` records every layer's dropout output inside the scan, replays the stack layer by layer in
a Python loop (layer i rebuilt from its slice of the parameters and the RNG state that the workaround
gives layer i, its dropout mask drawn eagerly, the Linear done in NumPy) and asserts that the scan
matches, that the layers' dropout randomness differs, and that a second call draws fresh masks.

Run: python repro/dropout_split_rngs.py
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

# The sizes the property tests draw each keyword argument from (flax_regressions/incell/test_properties.py);
# the first value of each set is the one example the ci profile runs.
# Rates strictly between 0 and 1: at 0 and 1 nnx.Dropout draws no randomness, the RNG streams the pattern is
# about are never read, and a broken workaround "passes" (fix_stateaxes does on 0.12).
PROPERTY_SIZES = {"num_layers": [1, 3, 4], "features": [1, 10], "batch": [2, None], "rate": [0.5, 0.1, 0.9]}

# Size of the all-ones input used to fingerprint a layer's dropout randomness; two different keys give
# the same mask over this many draws with probability about exp(-2 * rate * PROBE_SIZE).
PROBE_SIZE = 1 << 16


class SomeLayer(nnx.Module):
    def __init__(self, rngs: nnx.Rngs, *, features: int = 10, rate: float = 0.1):
        self.linear = nnx.Linear(features, features, rngs=rngs)
        self.dropout = nnx.Dropout(rate, rngs=rngs)

    def __call__(self, x):
        return self.linear(self.dropout(x))


class SomeModel(nnx.Module):
    def __init__(self, rngs: nnx.Rngs, *, num_layers: int = 3, features: int = 10, rate: float = 0.1):
        @nnx.split_rngs(splits=num_layers)
        @nnx.vmap(axis_size=num_layers)
        def create_layer(r: nnx.Rngs):
            return SomeLayer(r, features=features, rate=rate)

        self.stack = create_layer(rngs)


def _shape(features, batch):
    return (features,) if batch is None else (batch, features)


def _inputs(features, batch):
    # Non-zero entries, so a dropped entry (exactly 0) is told apart from a kept one.
    return jnp.asarray(np.random.default_rng(1).standard_normal(_shape(features, batch)), jnp.float32)


def _copy(state):
    return jax.tree.map(lambda a: a, state)


def _layer_slice(stack, i, rng_state):
    """Layer i of the stack as a plain SomeLayer: its slice of the parameters plus the given RNG state."""
    graphdef, _, rest = nnx.split(stack, nnx.RngState, ...)
    return nnx.merge(graphdef, rng_state, jax.tree.map(lambda a: a[i], rest))


def _check(stack_before, x, y, dropped, *, num_layers, rate, rng_for_layer, probes):
    """Replay the stack layer by layer and compare with what the scan computed.

    rng_for_layer(i, carried) gives the RNG state layer i sees under the workaround; ``carried`` is
    the RNG state after layer i - 1 drew its mask (the state before the call for layer 0).
    """
    keep = 1.0 - rate
    h = np.asarray(x, np.float64)
    carried = _copy(nnx.state(stack_before, nnx.RngState))
    for i in range(num_layers):
        layer = _layer_slice(stack_before, i, rng_for_layer(i, carried))
        probes.append(np.asarray(nnx.clone(layer).dropout(jnp.ones((PROBE_SIZE,)))) != 0)
        mask = np.asarray(layer.dropout(jnp.ones(x.shape))) != 0  # draws like the scanned call did
        carried = _copy(nnx.state(layer, nnx.RngState))
        d = np.where(mask, h / keep, 0.0) if keep > 0 else np.zeros_like(h)
        np.testing.assert_allclose(
            np.asarray(dropped[i]),
            d,
            rtol=1e-5,
            atol=1e-5,
            err_msg=f"layer {i}: dropout output in the scan differs from the layer-by-layer reference",
        )
        kernel = np.asarray(layer.linear.kernel[...], np.float64)
        bias = np.asarray(layer.linear.bias[...], np.float64)
        h = d @ kernel + bias
    np.testing.assert_allclose(
        np.asarray(y),
        h,
        rtol=1e-5,
        atol=1e-5,
        err_msg="scanned output differs from the layer-by-layer reference",
    )


def _check_distinct(probes, rate, what):
    """Every (layer, call) pair must draw its own dropout mask."""
    if min(rate, 1.0 - rate) * PROBE_SIZE < 20:
        return  # rate 0 or 1 (or within 20 / PROBE_SIZE of it): dropout draws no (visible) randomness
    for (a, pa), (b, pb) in itertools.combinations(enumerate(probes), 2):
        assert not np.array_equal(pa, pb), f"{what}: draws {a} and {b} use the same dropout randomness"


def bug(*, num_layers=3, features=10, batch=None, rate=0.1):
    """The documented pattern: scan the vmapped stack with in_axes=(nnx.Carry, 0)."""
    model = SomeModel(nnx.Rngs(0), num_layers=num_layers, features=features, rate=rate)

    @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
    def scan_over_stack(x, layer):
        return layer(x)

    scan_over_stack(jnp.zeros(_shape(features, batch)), model.stack)


def fix_resplit(*, num_layers=3, features=10, batch=None, rate=0.1):
    """Documented workaround: split the RNG streams again at call time, above the scan.

    Layer i sees row i of the re-split key (count 0); the split consumes one draw of the stream, so
    the next call gets new keys.
    """
    model = SomeModel(nnx.Rngs(0), num_layers=num_layers, features=features, rate=rate)
    x = _inputs(features, batch)

    @nnx.split_rngs(splits=num_layers)
    @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=(nnx.Carry, 0))
    def scan_over_stack(x, layer):
        dropped = layer.dropout(x)  # SomeLayer.__call__, with the dropout output recorded
        return layer.linear(dropped), dropped

    @nnx.split_rngs(splits=num_layers)
    def rng_state_inside(stack):
        return _copy(nnx.state(stack, nnx.RngState))

    probes = []
    for _ in range(2):
        before = nnx.clone(model.stack)
        y, dropped = scan_over_stack(x, model.stack)
        split_state = rng_state_inside(nnx.clone(before))
        rows = lambda i, carried: jax.tree.map(lambda a: a[i], split_state)  # noqa: E731, B023 (used in this pass)
        _check(before, x, y, dropped, num_layers=num_layers, rate=rate, rng_for_layer=rows, probes=probes)
    _check_distinct(probes, rate, "fix_resplit")


def fix_stateaxes(*, num_layers=3, features=10, batch=None, rate=0.1):
    """Documented workaround: carry the RNG state through the scan with nnx.StateAxes.

    All layers share the one scalar key; layer i draws with count c + i, and the count after the
    last layer is written back, so the next call continues from c + num_layers.
    """
    model = SomeModel(nnx.Rngs(0), num_layers=num_layers, features=features, rate=rate)
    x = _inputs(features, batch)

    state_axes = nnx.StateAxes({nnx.RngState: nnx.Carry, ...: 0})

    @nnx.scan(in_axes=(nnx.Carry, state_axes), out_axes=(nnx.Carry, 0))
    def scan_over_stack(x, layer):
        dropped = layer.dropout(x)  # SomeLayer.__call__, with the dropout output recorded
        return layer.linear(dropped), dropped

    probes = []
    for _ in range(2):
        before = nnx.clone(model.stack)
        y, dropped = scan_over_stack(x, model.stack)
        carry = lambda i, carried: carried  # noqa: E731
        _check(before, x, y, dropped, num_layers=num_layers, rate=rate, rng_for_layer=carry, probes=probes)
    _check_distinct(probes, rate, "fix_stateaxes")


def fix_stacked_rngs(*, num_layers=3, features=10, batch=None, rate=0.1):
    """Adapted workaround for Flax >= 0.11.0: scan the stack, RNG state included, over axis 0.

    From 0.11.0 nnx.Dropout forks its own RngStream inside the vmap, so the stack holds one key and
    one count per layer; the documented workarounds then fail (they call fold_in on the stacked key),
    and the plain documented scan is the working form. Layer i draws from its own forked key with its
    own count, which the scan writes back. On 0.10.x this fails like ``bug``.
    """
    model = SomeModel(nnx.Rngs(0), num_layers=num_layers, features=features, rate=rate)
    x = _inputs(features, batch)

    @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=(nnx.Carry, 0))
    def scan_over_stack(x, layer):
        dropped = layer.dropout(x)  # SomeLayer.__call__, with the dropout output recorded
        return layer.linear(dropped), dropped

    probes = []
    for _ in range(2):
        before = nnx.clone(model.stack)
        y, dropped = scan_over_stack(x, model.stack)
        stacked = _copy(nnx.state(before, nnx.RngState))
        rows = lambda i, carried: jax.tree.map(lambda a: a[i], stacked)  # noqa: E731, B023 (used in this pass)
        _check(before, x, y, dropped, num_layers=num_layers, rate=rate, rng_for_layer=rows, probes=probes)
    _check_distinct(probes, rate, "fix_stacked_rngs")


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
