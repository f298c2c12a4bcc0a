"""The Linen-to-NNX guide's "Scan over layers" example (split_rngs around nnx.scan) fails from Flax 0.11.0.

Upstream: https://github.com/google/flax/issues/5158 (fixed in the docs by
https://github.com/google/flax/pull/5160, commit 1aca395b, which drops the ``@nnx.split_rngs`` over ``nnx.scan``).

What goes wrong: the guide (docs_nnx/migrating/linen_to_nnx.rst, "Scan over layers") builds ``num_layers``
Blocks (Linear, Dropout(0.5), relu) with ``@nnx.split_rngs(splits=num_layers)`` over ``@nnx.vmap``, and
calls them with ``@nnx.split_rngs(splits=self.num_layers)`` over ``@nnx.scan(in_axes=(nnx.Carry, 0),
out_axes=nnx.Carry)``. From Flax 0.11.0 each Dropout forks its own RNG stream at construction, so the stack
already holds one key per layer (shape ``(num_layers,)``); splitting it again inside ``__call__`` fails with
``ValueError: fold_in accepts a single key, but was given a key array of shape (5,) != (). Use jax.vmap for
batching.`` PR #5160's pattern (no split_rngs around the scan) is the fix; on Flax 0.10.x that same pattern
fails with ``ValueError: axis 0 is out of bounds for array of dimension 0`` (google/flax#4589: 0.10 keeps
the scalar key, so the scan has nothing to slice). The 0.10 -> 0.11 migration guide also suggests dropping
split_rngs from ``__init__`` and passing ``rngs.fork(splits=5)``; no release has that keyword (it is
``fork(split=5)``, available from 0.10.7 and deprecated from 0.12.6 in favour of ``rngs.split(5)``), so the snippet
as printed raises
``TypeError: Rngs.fork() got an unexpected keyword argument 'splits'``.

Versions named in the report: Flax 0.12.2 with jax 0.8.2 (fails); "0.10.6 was the last release where the
example code worked" -- measured here, 0.10.7 works as well: the change is in 0.11.0. The same root cause as
google/flax#4589 (repro/dropout_split_rngs.py), reached from the guide's example.

Variants:
  bug            -- the guide's code exactly, called as in the issue: ``model(jnp.ones((10, 64)))``.
  fix_no_split   -- PR #5160: the same MLP without ``@nnx.split_rngs`` on ``forward``.
  bug_fork_splits -- the 0.10 -> 0.11 migration guide's alternative as printed: no split_rngs at all, the
                    MLP gets ``rngs.fork(splits=num_layers)`` (a documentation error: TypeError everywhere).
  fix_fork_split -- the same with the real keyword, ``rngs.fork(split=num_layers)`` (0.10.7+; DeprecationWarning
                    from 0.12.6). The only variant here that works on both sides of 0.11.0.
  fix_rngs_split -- the same with ``rngs.split(num_layers)`` (0.12.6+).
Each fix checks the scanned output and the stack's state afterwards (parameters, per-layer dropout RNG keys and
counts) against an unrolled Python loop over an identically built stack: layer i is rebuilt with nnx.merge from
slice i of the stacked state and called eagerly; it also checks that the layers' dropout keys are distinct.

Run: python repro/scan_split_rngs.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "features": [1, 8],
    "num_layers": [1, 3],
    "batch": [1, 4],
}


class _Block(nnx.Module):
    """The guide's Block."""

    def __init__(self, input_dim, features, rngs):
        self.linear = nnx.Linear(input_dim, features, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x: jax.Array):  # No need to require a second input!
        x = self.linear(x)
        x = self.dropout(x)
        x = jax.nn.relu(x)
        return x  # No need to return a second output!


def _flat(tree):
    """{path: NumPy array} of a state, RNG keys as key data."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        out[jax.tree_util.keystr(path)] = np.asarray(leaf)
    return out


def _unrolled(blocks, x, num_layers):
    """Reference: call layer i (merged from slice i of the stacked state) eagerly, one after the other.

    Returns the output and the stacked state after the calls (each layer's state after its own call).
    """
    graphdef, state = nnx.split(blocks)
    after = []
    for i in range(num_layers):
        layer = nnx.merge(graphdef, jax.tree.map(lambda a, i=i: a[i], state))
        x = layer(x)
        after.append(nnx.state(layer))
    return x, jax.tree.map(lambda *a: jnp.stack(a), *after)


def _check(model_fn, *, features, num_layers, batch):
    """Scan (model_fn()'s call) vs the unrolled loop on a second, identically built model."""
    model, reference = model_fn(), model_fn()
    x = jnp.ones((batch, features))
    y = model(x)
    keys = _flat(nnx.state(reference.blocks, nnx.RngKey))
    for path, data in keys.items():
        assert data.shape[0] == num_layers, f"RNG key {path} is not stacked per layer: shape {data.shape}"
        rows = data.reshape(num_layers, -1)
        assert len({r.tobytes() for r in rows}) == num_layers, f"layers share dropout keys at {path}"
    want_y, want_state = _unrolled(reference.blocks, x, num_layers)
    np.testing.assert_allclose(
        np.asarray(y), np.asarray(want_y), rtol=1e-5, atol=1e-6, err_msg="scan over layers != unrolled loop"
    )
    got, want = _flat(nnx.state(model.blocks)), _flat(want_state)
    assert got.keys() == want.keys(), f"state paths differ: {sorted(got)} vs {sorted(want)}"
    for path in want:
        np.testing.assert_allclose(got[path], want[path], rtol=1e-6, atol=0, err_msg=f"state {path} after the call")
    assert y.shape == (batch, features)


def bug(*, features=64, num_layers=5, batch=10):
    """The guide's example (split_rngs around nnx.scan), called as in the issue."""

    class MLP(nnx.Module):
        def __init__(self, features, num_layers, rngs):
            @nnx.split_rngs(splits=num_layers)
            @nnx.vmap(in_axes=(0,), out_axes=0)
            def create_block(rngs: nnx.Rngs):
                return _Block(features, features, rngs=rngs)

            self.blocks = create_block(rngs)
            self.num_layers = num_layers

        def __call__(self, x):
            @nnx.split_rngs(splits=self.num_layers)
            @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
            def forward(x, model):
                x = model(x)
                return x

            return forward(x, self.blocks)

    model = MLP(features, num_layers=num_layers, rngs=nnx.Rngs(0))
    model(jnp.ones((batch, features)))  # 0.11+: ValueError: fold_in accepts a single key


def fix_no_split(*, features=64, num_layers=5, batch=10):
    """PR #5160: no split_rngs around the scan; the stack already holds one RNG stream per layer."""

    class MLP(nnx.Module):
        def __init__(self, features, num_layers, rngs):
            @nnx.split_rngs(splits=num_layers)
            @nnx.vmap(in_axes=(0,), out_axes=0)
            def create_block(rngs: nnx.Rngs):
                return _Block(features, features, rngs=rngs)

            self.blocks = create_block(rngs)
            self.num_layers = num_layers

        def __call__(self, x):
            @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
            def forward(x, model):
                x = model(x)
                return x

            return forward(x, self.blocks)

    _check(
        lambda: MLP(features, num_layers=num_layers, rngs=nnx.Rngs(0)),
        features=features,
        num_layers=num_layers,
        batch=batch,
    )


class _ForkedMLP(nnx.Module):
    """The 0.11 migration guide's alternative MLP: no split_rngs anywhere; the caller passes forked rngs."""

    def __init__(self, features, num_layers, rngs):
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def create_block(rngs: nnx.Rngs):
            return _Block(features, features, rngs=rngs)

        self.blocks = create_block(rngs)

    def __call__(self, x):
        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def forward(x, model):
            return model(x)

        return forward(x, self.blocks)


def bug_fork_splits(*, features=64, num_layers=5, batch=10):
    """The 0.10 -> 0.11 migration guide's alternative as printed: ``rngs.fork(splits=5)``.

    No release has a ``splits`` keyword (``Rngs.fork(split=...)``, 0.10.7+, deprecated in 0.12.6 for ``Rngs.split``), so
    the guide's snippet raises TypeError everywhere: a documentation error, not a Flax regression.
    """
    rngs = nnx.Rngs(0)
    mlp = _ForkedMLP(features, num_layers, rngs=rngs.fork(splits=num_layers))  # TypeError: unexpected 'splits'
    mlp(jnp.ones((batch, features)))


def fix_fork_split(*, features=64, num_layers=5, batch=10):
    """The guide's alternative with the real keyword: ``rngs.fork(split=num_layers)`` (0.10.7+; deprecated 0.12.6)."""
    _check(
        lambda: _ForkedMLP(features, num_layers, rngs=nnx.Rngs(0).fork(split=num_layers)),
        features=features,
        num_layers=num_layers,
        batch=batch,
    )


def fix_rngs_split(*, features=64, num_layers=5, batch=10):
    """The same with ``rngs.split(num_layers)``, which replaces ``fork(split=...)`` from 0.12.6."""
    _check(
        lambda: _ForkedMLP(features, num_layers, rngs=nnx.Rngs(0).split(num_layers)),
        features=features,
        num_layers=num_layers,
        batch=batch,
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
