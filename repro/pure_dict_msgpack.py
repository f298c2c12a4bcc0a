"""msgpack_restore cannot read back what msgpack_serialize wrote for nnx.to_pure_dict of a model with a list of layers.

Upstream: https://github.com/google/flax/issues/5438 (fixed by https://github.com/google/flax/pull/5446, which
passes ``strict_map_key=False`` to ``msgpack.unpackb``; released in Flax 0.12.8).

What goes wrong: ``nnx.to_pure_dict(nnx.state(model))`` of a Module holding its layers in an ``nnx.List`` (or, before
Flax 0.12, a plain Python list) has integer keys for the list entries (``{'layers': {0: {...}, 1: {...}}}``).
``flax.serialization.msgpack_serialize`` writes them without complaint, but ``msgpack_restore`` calls
``msgpack.unpackb`` with msgpack's default ``strict_map_key=True`` and fails: ``ValueError: int is not allowed for
map key when strict_map_key=True``. The checkpoint is written but cannot be read back with Flax's own reader.

Versions named in the report: Flax 0.10.4 with jax/jaxlib 0.5.3 ("still present in flax==0.12.7"); fixed in 0.12.8.
``nnx.to_pure_dict`` exists from 0.10.4, ``nnx.List`` from 0.12.0.

Variants:
  bug                    -- the issue's round trip: a Module with an ``nnx.List`` of ``nnx.Linear``,
                            ``msgpack_restore(msgpack_serialize(nnx.to_pure_dict(nnx.state(model))))``.
  bug_python_list        -- the same with a plain Python list attribute (the 0.10/0.11 spelling; from 0.12.0 building
                            such a Module raises ``ValueError`` about data in the static attribute 'layers').
  fix_string_keys        -- turn the integer keys into strings before serializing and back into integers after
                            restoring.
  fix_non_strict_unpack  -- what PR #5446 does, by hand: ``msgpack.unpackb(..., strict_map_key=False)`` with Flax's
                            (private) ``serialization._msgpack_ext_unpack`` hook.
The fixes build the model with ``nnx.List`` where it exists and a plain list before 0.12.0, so that they show
whether the workaround works on each release. Each variant loads the restored dict into a differently initialised
model with ``nnx.replace_by_pure_dict`` and checks every parameter against a NumPy copy of the original and the
forward pass against NumPy.

Run: python repro/pure_dict_msgpack.py
"""

import jax
import jax.numpy as jnp
import msgpack
import numpy as np
from flax import nnx, serialization

PROPERTY_SIZES = {
    "num_layers": [1, 3],
    "features": [1, 4],
}


def _make(num_layers, features, seed):
    class Model(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.layers = nnx.List([nnx.Linear(features, features, rngs=rngs) for _ in range(num_layers)])

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    return Model(nnx.Rngs(seed))


def _make_python_list(num_layers, features, seed):
    class Model(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.layers = [nnx.Linear(features, features, rngs=rngs) for _ in range(num_layers)]

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    return Model(nnx.Rngs(seed))


def _make_portable(num_layers, features, seed):
    """nnx.List where it exists (0.12.0+), a plain Python list before: the list spelling each release supports."""
    return (_make if hasattr(nnx, "List") else _make_python_list)(num_layers, features, seed)


def _params(model, num_layers):
    return [(np.asarray(model.layers[i].kernel[...]), np.asarray(model.layers[i].bias[...])) for i in range(num_layers)]


def _load_and_check(make, restored, original, num_layers, features):
    """Load the restored pure dict into a fresh model; compare with the original's parameters and NumPy."""
    model = make(num_layers, features, seed=1)
    state = nnx.state(model)
    nnx.replace_by_pure_dict(state, restored)
    nnx.update(model, state)
    got = _params(model, num_layers)
    assert len(got) == len(original) == num_layers
    for i, ((w, b), (w0, b0)) in enumerate(zip(got, original)):
        np.testing.assert_array_equal(w, w0, err_msg=f"layer {i} kernel differs after the round trip")
        np.testing.assert_array_equal(b, b0, err_msg=f"layer {i} bias differs after the round trip")
    x = np.linspace(-1.0, 1.0, 2 * features, dtype=np.float32).reshape(2, features)
    want = x.astype(np.float64)
    for w, b in original:
        want = want @ w + b
    np.testing.assert_allclose(
        np.asarray(model(jnp.asarray(x))),
        want,
        rtol=1e-5,
        atol=1e-5,
        err_msg="forward pass of the restored model != NumPy",
    )


def _round_trip(make, num_layers, features):
    model = make(num_layers, features, seed=0)
    original = _params(model, num_layers)
    pure = nnx.to_pure_dict(nnx.state(model))
    data = serialization.msgpack_serialize(pure)
    restored = serialization.msgpack_restore(data)  # 0.12.0-0.12.7: ValueError: int is not allowed for map key
    _load_and_check(make, restored, original, num_layers, features)


def _keys_to_str(tree):
    if isinstance(tree, dict):
        return {str(k): _keys_to_str(v) for k, v in tree.items()}
    return tree


def _keys_to_int(tree):
    if isinstance(tree, dict):
        return {int(k) if k.isdigit() else k: _keys_to_int(v) for k, v in tree.items()}
    return tree


def bug(*, num_layers=3, features=4):
    """The issue's round trip with an nnx.List of layers."""
    _round_trip(_make, num_layers, features)


def bug_python_list(*, num_layers=3, features=4):
    """The same with a plain Python list of layers."""
    _round_trip(_make_python_list, num_layers, features)


def fix_string_keys(*, num_layers=3, features=4):
    """Serialize with string keys, turn them back into integers after restoring."""
    model = _make_portable(num_layers, features, seed=0)
    original = _params(model, num_layers)
    data = serialization.msgpack_serialize(_keys_to_str(nnx.to_pure_dict(nnx.state(model))))
    restored = _keys_to_int(serialization.msgpack_restore(data))
    _load_and_check(_make_portable, restored, original, num_layers, features)


def fix_non_strict_unpack(*, num_layers=3, features=4):
    """Unpack with strict_map_key=False, as PR #5446 makes msgpack_restore do."""
    model = _make_portable(num_layers, features, seed=0)
    original = _params(model, num_layers)
    data = serialization.msgpack_serialize(nnx.to_pure_dict(nnx.state(model)))
    restored = msgpack.unpackb(data, ext_hook=serialization._msgpack_ext_unpack, raw=False, strict_map_key=False)
    _load_and_check(_make_portable, restored, original, num_layers, features)


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
