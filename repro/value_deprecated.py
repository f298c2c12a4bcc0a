"""Flax 0.12.1 deprecates `Variable.value`: reading or writing it emits a DeprecationWarning.

Upstream: https://github.com/google/flax/pull/5052 (commit a2eac321 "deprecate .value", released in 0.12.1); the
warning is raised by the ``Variable.value`` getter and setter in flax/nnx/variablelib.py.

What goes wrong: from Flax 0.12.1, ``variable.value`` warns ``DeprecationWarning: '.value' access is now
deprecated. For Variable[Array] instances use: variable[...] For other Variable types use:
variable.get_value()`` and ``variable.value = x`` warns ``'.value' setter is now deprecated ...``. It is a
warning, not an exception: the bug variants run to their end and warn, and Python hides DeprecationWarnings
raised outside ``__main__`` by default, so a plain run of a program prints nothing. A test suite run with
``-W error::DeprecationWarning`` (or ``pytest.warns``) sees it; ``main()`` below records and prints it.
The replacements are not available everywhere: ``get_value()``/``set_value()`` only exist from 0.12.1
(earlier: AttributeError), and ``variable[...] = x`` does not work before Flax 0.10.7, where ``__setitem__``
forwards to the immutable jax.Array (``TypeError: JAX arrays are immutable ...``).

Versions named in the report: deprecated in Flax 0.12.1 (2025-11-19); Flax's own docs moved to ``[...]`` and
``get_value()`` in the same release.

Variants:
  bug               -- ``param.value`` read (checked against the kernel in ``nnx.state``).
  bug_setter        -- ``param.value = new`` written (checked in ``nnx.state``).
  fix_ellipsis      -- ``param[...]`` read and ``param[...] = new`` write.
  fix_get_set_value -- ``param.get_value()`` and ``param.set_value(new)``.
Each fix records warnings while it reads and writes an nnx.Param of an nnx.Linear, asserts that no
DeprecationWarning was emitted, that the value read equals a NumPy copy of the initial kernel taken through
``jax.tree.leaves(nnx.state(...))`` (not through the accessor under test), and that after the write the state
holds the NumPy-computed new value and the layer's forward pass uses it.

Run: python repro/value_deprecated.py
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "in_features": [1, 3],
    "out_features": [1, 4],
}


def _linear(in_features, out_features):
    return nnx.Linear(in_features, out_features, rngs=nnx.Rngs(0))


def _kernel_from_state(layer):
    """The kernel as NumPy, read through nnx.state (independent of the Variable accessors under test)."""
    state = nnx.state(layer, nnx.Param)
    leaves = [np.asarray(a) for a in jax.tree.leaves(state)]
    shapes = [a.shape for a in leaves]
    matrices = [a for a in leaves if a.ndim == 2]
    assert len(matrices) == 1, f"expected one 2-D Param (the kernel) in the state, got shapes {shapes}"
    return matrices[0]


def _check_no_deprecation(caught):
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert not deprecations, f"DeprecationWarning emitted: {deprecations[0].message}"


def _check_roundtrip(layer, read, write, in_features, out_features):
    """read() must give the initial kernel; write(new) must put `new` into the state and the forward pass."""
    initial = _kernel_from_state(layer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = np.asarray(read())
        new = initial * 2.0 + 1.0
        write(jnp.asarray(new))
    _check_no_deprecation(caught)
    np.testing.assert_array_equal(got, initial, err_msg="value read != kernel in nnx.state")
    np.testing.assert_array_equal(_kernel_from_state(layer), new, err_msg="state after the write != NumPy value")
    x = np.linspace(-1.0, 1.0, 2 * in_features, dtype=np.float32).reshape(2, in_features)
    bias = [np.asarray(a) for a in jax.tree.leaves(nnx.state(layer, nnx.Param)) if np.ndim(a) == 1][0]
    np.testing.assert_allclose(
        np.asarray(layer(jnp.asarray(x))),
        x @ new + bias,
        rtol=1e-5,
        atol=1e-5,
        err_msg="forward pass after the write does not use the written kernel",
    )
    assert np.shape(got) == (in_features, out_features)


def bug(*, in_features=3, out_features=4):
    """Reading ``.value``: 0.12.1+ warns (DeprecationWarning) and still returns the kernel."""
    layer = _linear(in_features, out_features)
    got = np.asarray(layer.kernel.value)  # 0.12.1+: DeprecationWarning
    np.testing.assert_array_equal(got, _kernel_from_state(layer), err_msg="value read != kernel in nnx.state")


def bug_setter(*, in_features=3, out_features=4):
    """Writing ``.value``: 0.12.1+ warns (DeprecationWarning) and still writes."""
    layer = _linear(in_features, out_features)
    new = np.full((in_features, out_features), 0.5, dtype=np.float32)
    layer.kernel.value = jnp.asarray(new)  # 0.12.1+: DeprecationWarning
    np.testing.assert_array_equal(_kernel_from_state(layer), new, err_msg="state after the write != NumPy value")


def fix_ellipsis(*, in_features=3, out_features=4):
    """``param[...]`` to read and ``param[...] = new`` to write."""
    layer = _linear(in_features, out_features)

    def write(new):
        layer.kernel[...] = new  # before 0.10.7: TypeError, JAX arrays are immutable

    _check_roundtrip(layer, lambda: layer.kernel[...], write, in_features, out_features)


def fix_get_set_value(*, in_features=3, out_features=4):
    """``param.get_value()`` to read and ``param.set_value(new)`` to write (0.12.1+)."""
    layer = _linear(in_features, out_features)
    _check_roundtrip(
        layer, lambda: layer.kernel.get_value(), lambda new: layer.kernel.set_value(new), in_features, out_features
    )


def main():
    """Run every variant and print PASS (and the DeprecationWarning it emitted) or the exception, then the versions."""
    from importlib.metadata import version

    for name, variant in list(globals().items()):
        if callable(variant) and (name in ("bug", "fix") or name.startswith(("bug_", "fix_"))):
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    variant()
                warned = [
                    f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
                    for w in caught
                    if issubclass(w.category, DeprecationWarning)
                ]
                print(f"{name}: PASS" + (f", warns {warned[0]}" if warned else ""))
            except Exception as exc:  # report every failure the same way
                first_line = (str(exc).strip().splitlines() or [""])[0]
                print(f"{name}: {type(exc).__name__}: {first_line}")
    print(f"flax {version('flax')}  jax {version('jax')}  jaxlib {version('jaxlib')}  backend {jax.default_backend()}")


if __name__ == "__main__":
    main()
