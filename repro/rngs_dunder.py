"""nnx.Rngs answers any dunder attribute with its default RngStream, breaking libraries that probe for protocols.

Upstream: https://github.com/google/flax/issues/5375 (fixed by https://github.com/google/flax/pull/5379,
commit 4f6b33fa, released in Flax 0.12.7).

What goes wrong: ``Rngs.__getattr__`` falls back to the ``default`` stream for every unknown name, dunders
included, so ``getattr(rngs, '__pydantic_serializer__')`` returns an ``RngStream`` instead of raising
AttributeError. The issue's case is Pydantic (``model_dump()`` of a model holding an Rngs fails with
``TypeError: 'RngStream' object cannot be converted to 'SchemaSerializer'``); Pydantic is not a Flax
dependency, so this module reproduces the probe itself (what PR #5379's test does) and two failures that need
only the standard library and NumPy:
``inspect.signature(rngs)`` follows the bogus ``__wrapped__`` and raises ``TypeError: unexpected object
RngStream(...)``; ``np.array([rngs], dtype=object)`` probes ``__array_struct__`` and raises ``ValueError:
invalid __array_struct__``. ``jnp.asarray(rngs)`` is worse: it calls the bogus ``__jax_array__``, returns a
fresh key and silently advances the default stream's count (not a variant here: it raises nothing).
``copy.copy``/``copy.deepcopy``/``pickle`` are NOT affected: nnx.Object/Pytree define ``__deepcopy__`` and the
other hooks are looked up on the type. An Rngs without a ``default`` stream raises AttributeError for
unknown names, dunders included.

Versions named in the report: Flax 0.12.5, jax 0.9.1. Present since ``Rngs.__getattr__`` was added (every
0.10.x release measured); fixed in 0.12.7.

Variants:
  bug                     -- the probe: ``getattr(nnx.Rngs(default=seed), '__pydantic_serializer__')`` must
                             raise AttributeError; AssertionError where it returns the RngStream.
  bug_inspect_signature   -- ``inspect.signature(rngs)``.
  bug_numpy_object_array  -- ``np.array([rngs], dtype=object)``.
  fix_named_streams       -- give every stream a name (``nnx.Rngs(params=seed)``), no ``default`` stream.
  fix_strict_subclass     -- a subclass whose ``__getattr__`` raises AttributeError for dunders (PR #5379's
                             two lines), used instead of nnx.Rngs.
Each fix checks that the probe raises AttributeError, that inspect.signature and an object array work, and that
the streams still give the keys ``jax.random.fold_in(jax.random.key(seed), i)`` for i = 0, 1, ... (also through
nnx.jit for the subclass), so the workaround changes nothing else.

Run: python repro/rngs_dunder.py
"""

import inspect

import jax
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "seed": [0, 42],
    "draws": [1, 3],
}


def _reference_keys(seed, draws):
    """The keys an RngStream seeded with `seed` gives, computed with jax.random directly."""
    return [np.asarray(jax.random.key_data(jax.random.fold_in(jax.random.key(seed), i))) for i in range(draws)]


def _check_protocols(rngs):
    """Dunder probes must fail with AttributeError; inspect and NumPy object arrays must work."""
    try:
        found = rngs.__pydantic_serializer__
    except AttributeError:
        pass
    else:
        raise AssertionError(f"getattr(rngs, '__pydantic_serializer__') returned {type(found).__name__}")
    assert not hasattr(rngs, "__json__"), "hasattr(rngs, '__json__') is True"
    inspect.signature(rngs)
    np.array([rngs], dtype=object)  # NumPy then iterates the Rngs (its stream names): no error is all we ask


def _check_keys(draw, seed, draws):
    got = [np.asarray(jax.random.key_data(draw())) for _ in range(draws)]
    for i, (g, w) in enumerate(zip(got, _reference_keys(seed, draws))):
        np.testing.assert_array_equal(g, w, err_msg=f"draw {i} != fold_in(key({seed}), {i})")


def bug(*, seed=42, draws=1):
    """What Pydantic's serializer does: probe a dunder with getattr and expect AttributeError."""
    rngs = nnx.Rngs(default=seed)
    try:
        found = rngs.__pydantic_serializer__
    except AttributeError:
        found = None
    assert found is None, (
        f"getattr(rngs, '__pydantic_serializer__') returned {type(found).__name__} instead of raising AttributeError"
    )
    _check_keys(rngs.default, seed, draws)


def bug_inspect_signature(*, seed=42, draws=1):
    """inspect.signature follows __wrapped__, which the default stream answers."""
    rngs = nnx.Rngs(default=seed)
    inspect.signature(rngs)  # < 0.12.7: TypeError: unexpected object RngStream(...)
    _check_keys(rngs.default, seed, draws)


def bug_numpy_object_array(*, seed=42, draws=1):
    """NumPy probes __array_struct__ even for an object array."""
    rngs = nnx.Rngs(default=seed)
    np.array([rngs], dtype=object)  # < 0.12.7: ValueError: invalid __array_struct__
    _check_keys(rngs.default, seed, draws)


def fix_named_streams(*, seed=42, draws=1):
    """No `default` stream: unknown names, dunders included, raise AttributeError on every release."""
    rngs = nnx.Rngs(params=seed)
    _check_protocols(rngs)
    _check_keys(rngs.params, seed, draws)


class _StrictRngs(nnx.Rngs):
    """nnx.Rngs whose __getattr__ refuses dunder names (the change of PR #5379)."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return super().__getattr__(name)


def fix_strict_subclass(*, seed=42, draws=1):
    """Use a subclass that raises AttributeError for dunders; keep the default stream."""
    rngs = _StrictRngs(default=seed)
    _check_protocols(rngs)
    _check_keys(rngs, seed, draws)  # rngs() draws from the default stream
    # It still behaves as an Rngs under NNX transforms: the jitted draw continues the same sequence.
    jitted = nnx.jit(lambda r: jax.random.key_data(r()))
    np.testing.assert_array_equal(
        np.asarray(jitted(rngs)),
        _reference_keys(seed, draws + 1)[draws],
        err_msg="draw under nnx.jit does not continue the stream",
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
