"""`Variable.get_value()` / `set_value()` do not exist before Flax 0.12.1: on 0.12.0 they raise AttributeError.

Upstream: https://github.com/climate-analytics-lab/jax-gcm/issues/655 (reported against Flax 0.12.0) and its fix
https://github.com/climate-analytics-lab/jax-gcm/pull/657 (raise the floor to flax>=0.12.1); the methods came
with https://github.com/google/flax/pull/5052 (commit a2eac321 "deprecate .value", released in Flax 0.12.1),
whose DeprecationWarning tells users of non-array Variables to call ``variable.get_value()``.

What goes wrong: Flax 0.12.1 deprecated ``Variable.value`` and pointed users to ``variable[...]`` for arrays and
``variable.get_value()`` / ``set_value()`` for everything else. Those two methods were added in the same release:
on every earlier release, 0.12.0 included, ``Variable.__getattr__`` forwards the unknown name to the wrapped value,
so ``nnx.Variable(coords).get_value()`` raises ``AttributeError: 'Coords' object has no attribute 'get_value'``
(for an array: ``'jaxlib._jax.ArrayImpl' object has no attribute 'get_value'``). Code written for the new API with
a ``flax>=0.12.0`` floor therefore breaks on 0.12.0 only. The issue reads this backwards ("no longer exists in
flax>=0.12.0", removed before 0.12.0); the fix PR measured the wheels: absent in 0.10.0-0.12.0, present from
0.12.1. For array Variables ``variable[...]`` reads on every release (writes from 0.10.7); for other values no
single accessor works everywhere without a warning (``.value`` and ``.raw_value`` warn from 0.12.1), so portable
code picks the method by what the Variable class defines. Checking the instance (``hasattr(v, "get_value")``) is
not enough before 0.12.1: the forwarding makes it true whenever the wrapped object has a ``get_value`` of its own.

Versions named in the report: Flax 0.12.0 (Python 3.13); the fix PR: absent 0.10.0-0.12.0, present 0.12.1-0.12.9.

Variants:
  bug                  -- the issue's call: ``self._coords.get_value()`` on an ``nnx.Variable`` holding a plain
                          Python object (a frozen dataclass of grid coordinates), inside a Module.
  bug_array            -- ``layer.kernel.get_value()`` on an ``nnx.Linear``'s kernel.
  bug_set_value        -- ``self._coords.set_value(new_coords)``.
  fix_class_accessor   -- portable: ``get_value()`` / ``set_value()`` when ``type(v)`` defines them, else ``.value``;
                          asserts that no DeprecationWarning is emitted.
  fix_ellipsis         -- for array Variables: ``kernel[...]`` to read, ``kernel[...] = new`` to write.
Each variant checks what it read against the object or the array put in (a NumPy copy), and what it wrote against
the Module's state read through ``nnx.state`` (not through the accessor under test); ``fix_ellipsis`` also checks
the forward pass.

Run: python repro/get_value_0120.py
"""

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "in_features": [1, 3],
    "out_features": [1, 4],
}


@dataclasses.dataclass(frozen=True)
class Coords:
    """A plain (non-pytree) Python object kept in a Variable, like the issue's SpeedyCoords."""

    nodal_shape: tuple


class Terms(nnx.Module):
    """A Module that keeps non-array configuration in a Variable."""

    def __init__(self, coords: Coords):
        self._coords = nnx.Variable(coords)


def _state_leaves(module):
    """The Module's state leaves, read through nnx.state (independent of the Variable accessors)."""
    return jax.tree.leaves(nnx.state(module))


def _check_no_deprecation(caught):
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert not deprecations, f"DeprecationWarning emitted: {deprecations[0].message}"


def bug(*, in_features=3, out_features=4):
    """The issue's call: ``get_value()`` on a Variable that holds a plain Python object."""
    coords = Coords((in_features, out_features))
    terms = Terms(coords)
    got = terms._coords.get_value()  # <= 0.12.0: AttributeError: 'Coords' object has no attribute 'get_value'
    assert got == coords, "get_value() returned something else than the object put in"


def bug_array(*, in_features=3, out_features=4):
    """``get_value()`` on an nnx.Linear kernel."""
    layer = nnx.Linear(in_features, out_features, rngs=nnx.Rngs(0))
    (kernel,) = [np.asarray(a) for a in _state_leaves(layer) if np.ndim(a) == 2]
    got = layer.kernel.get_value()  # <= 0.12.0: AttributeError: ... ArrayImpl' object has no attribute 'get_value'
    np.testing.assert_array_equal(np.asarray(got), kernel, err_msg="get_value() != kernel in nnx.state")


def bug_set_value(*, in_features=3, out_features=4):
    """``set_value(new)`` on a Variable that holds a plain Python object."""
    terms = Terms(Coords((in_features, out_features)))
    new = Coords((out_features, in_features, 2))
    terms._coords.set_value(new)  # <= 0.12.0: AttributeError: 'Coords' object has no attribute 'set_value'
    assert _state_leaves(terms) == [new], "the state does not hold the object written with set_value()"


def _read(variable):
    """Portable read: get_value() where the Variable class defines it (0.12.1+), else .value."""
    if hasattr(type(variable), "get_value"):
        return variable.get_value()
    return variable.value


def _write(variable, value):
    """Portable write: set_value() where the Variable class defines it (0.12.1+), else .value = ..."""
    if hasattr(type(variable), "set_value"):
        variable.set_value(value)
    else:
        variable.value = value


def fix_class_accessor(*, in_features=3, out_features=4):
    """Pick the accessor by what ``type(variable)`` defines; no DeprecationWarning on any release."""
    coords = Coords((in_features, out_features))
    terms = Terms(coords)
    new = Coords((out_features, in_features, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = _read(terms._coords)
        _write(terms._coords, new)
        got_back = _read(terms._coords)
    _check_no_deprecation(caught)
    assert got == coords, "the portable read returned something else than the object put in"
    assert _state_leaves(terms) == [new], "the state does not hold the object written by the portable write"
    assert got_back == new, "the portable read after the write returned something else than the object written"


def fix_ellipsis(*, in_features=3, out_features=4):
    """For array Variables: ``kernel[...]`` to read and ``kernel[...] = new`` to write."""
    layer = nnx.Linear(in_features, out_features, rngs=nnx.Rngs(0))
    (kernel,) = [np.asarray(a) for a in _state_leaves(layer) if np.ndim(a) == 2]
    (bias,) = [np.asarray(a) for a in _state_leaves(layer) if np.ndim(a) == 1]
    new = kernel * 2.0 + 1.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = np.asarray(layer.kernel[...])
        layer.kernel[...] = jnp.asarray(new)  # before 0.10.7: TypeError, JAX arrays are immutable
    _check_no_deprecation(caught)
    np.testing.assert_array_equal(got, kernel, err_msg="kernel[...] != kernel in nnx.state")
    (written,) = [np.asarray(a) for a in _state_leaves(layer) if np.ndim(a) == 2]
    np.testing.assert_array_equal(written, new, err_msg="state after kernel[...] = new != NumPy value")
    x = np.linspace(-1.0, 1.0, 2 * in_features, dtype=np.float32).reshape(2, in_features)
    np.testing.assert_allclose(
        np.asarray(layer(jnp.asarray(x))),
        x @ new + bias,
        rtol=1e-5,
        atol=1e-5,
        err_msg="forward pass after the write does not use the written kernel",
    )


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
