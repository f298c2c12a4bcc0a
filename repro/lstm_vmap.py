"""nnx.vmap over a Module holding an LSTMCell fails: "rank should be at least 1, but is only 0".

Upstream: https://github.com/google/flax/issues/4590

What goes wrong: RNN cells store the `Rngs` they were built with (`self.rngs`, used by
`initialize_carry`). `nnx.split_rngs(splits=N)` splits the keys only while the vmapped
constructor runs and restores the scalar key on exit, so the stacked module ends up holding
a rank-0 RngKey/RngCount next to its (N, ...) parameters. Calling a `@nnx.vmap`ed method
(in_axes=0 over `self`) then asks JAX to map that scalar along axis 0:
    ValueError: vmap was requested to map its argument along axis 0, which implies that
    its rank should be at least 1, but is only 0 (its shape is ())
Reported on flax 0.10.2 (jax 0.5.0). From flax 0.11.0 the cells no longer keep their rngs
(`keep_rngs=False` by default), so the stored-key problem disappears, but
`initialize_carry(input_shape)` without `rngs` now raises "RNGs must be provided to
initialize the cell carry." -- the snippet and the documented workaround both stop there.

Variants:
  bug             the issue's snippet: vmapped __init__/__call__ around nnx.LSTMCell(3, 1),
                  five copies via nnx.split_rngs(splits=5), then net.lay.initialize_carry
                  and net(jnp.ones(3), init).
  fix             the documented ParallelLSTM workaround: build nnx.OptimizedLSTMCell(3, 1)
                  under split_rngs + vmap, and re-split the rngs inside every vmapped
                  method (__call__, initialize_carry with in_axes=(0, None)). Checked:
                  every parallel cell must give exactly what that cell gives on its own.
  fix_carry_rngs  the same workaround with the carry RNG passed explicitly
                  (initialize_carry(input_shape, rngs)), which flax >= 0.11.0 requires
                  because cells no longer store rngs. Same check.
  fix_issue_pattern  the issue's class C itself with initialize_carry(..., rngs=...) and a
                  stacked (5, 3) input: passes from flax 0.11.0 on, showing the reported
                  failure is gone there; same check.
Every variant takes num_layers, in_features, hidden_features and batch (None: one example per
cell, as in the issue; an int: each cell steps a (batch, in_features) input).

Run: python repro/lstm_vmap.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

# The sizes the property tests draw each keyword argument from (flax_regressions/incell/test_properties.py);
# the first value of each set is the one example the ci profile runs.
PROPERTY_SIZES = {"num_layers": [1, 2, 5], "in_features": [1, 3], "hidden_features": [4, 1], "batch": [2, None]}


def _assert_close(got, want, message):
    """assert_allclose with tight tolerances whose AssertionError starts with `message`."""
    try:
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    except AssertionError as exc:
        raise AssertionError(f"{message}\n{exc}") from None


def _batch_shape(batch):
    """The per-cell batch dimensions: none for the issue's single example, (batch,) otherwise."""
    return () if batch is None else (batch,)


def _check_parallel_cells(
    cells, cell_cls, xs, carry_in, carry_out, y_out, *, num_layers, in_features, hidden_features, batch
):
    """Check one step of N stacked cells against each cell run alone with its own parameters.

    `cells` is the stacked (vmapped) `cell_cls` instance. For each i, cell i's parameters are
    sliced out of the stacked state and loaded into a fresh standalone `cell_cls`, which is then
    called on (carry_in[i], xs[i]); its carry and output must equal slice i of the stacked result.
    """
    params = nnx.state(cells, nnx.Param)
    leaves = jax.tree.leaves(params)
    assert leaves and all(np.shape(a)[:1] == (num_layers,) for a in leaves), (
        f"parameters are not stacked along a leading axis of {num_layers}: {[np.shape(a) for a in leaves]}"
    )
    flat = np.concatenate([np.asarray(a).reshape(num_layers, -1) for a in leaves], axis=1)
    for i in range(num_layers):
        for j in range(i):
            assert not np.allclose(flat[i], flat[j]), (
                f"parallel cells {j} and {i} share parameters: split_rngs did not give each cell its own key"
            )
    c_in, h_in = carry_in
    c_out, h_out = carry_out
    for name, arr in (("c", c_out), ("h", h_out), ("output", y_out)):
        want = (num_layers, *_batch_shape(batch), hidden_features)
        assert np.shape(arr) == want, f"stacked {name} has shape {np.shape(arr)}, expected {want}"
    for i in range(num_layers):
        alone = cell_cls(in_features, hidden_features, rngs=nnx.Rngs(1234))
        nnx.update(alone, jax.tree.map(lambda a, i=i: a[i], params))
        (c_ref, h_ref), y_ref = alone((c_in[i], h_in[i]), xs[i])
        for name, got, want in (("c", c_out[i], c_ref), ("h", h_out[i], h_ref), ("output", y_out[i], y_ref)):
            _assert_close(got, want, f"parallel cell {i}: {name} differs from the same cell called on its own")


def _check_fix(cells, cell_cls, step, init_state, output, *, num_layers, in_features, hidden_features, batch):
    """Check the documented call, then a second step(xs, carry) from its carry with distinct per-cell inputs."""
    sizes = dict(num_layers=num_layers, in_features=in_features, hidden_features=hidden_features, batch=batch)
    zeros = np.zeros((num_layers, *_batch_shape(batch), hidden_features), np.float32)
    for name, got in zip(("c", "h"), init_state):
        _assert_close(got, zeros, f"initial carry {name} is not the zeros each cell gives alone")
    shape = (num_layers, *_batch_shape(batch), in_features)
    xs1 = jnp.ones(shape)
    carry1, y1 = output
    _check_parallel_cells(cells, cell_cls, xs1, init_state, carry1, y1, **sizes)
    # second step: nonzero h exercises the recurrent kernel, distinct rows tell cells (and examples) apart
    xs2 = jnp.asarray(np.linspace(-1.0, 1.0, int(np.prod(shape)), dtype=np.float32).reshape(shape))
    carry2, y2 = step(xs2, carry1)
    _check_parallel_cells(cells, cell_cls, xs2, carry1, carry2, y2, **sizes)


def bug(*, num_layers=5, in_features=3, hidden_features=1, batch=None):
    """The issue's snippet: vmapped __init__ and __call__ around nnx.LSTMCell, built via split_rngs."""

    class C(nnx.Module):
        @nnx.vmap
        def __init__(self, rng):
            self.lay = nnx.LSTMCell(in_features, hidden_features, rngs=rng)

        @nnx.vmap
        def __call__(self, x, state):
            return self.lay(state, x)

    @nnx.split_rngs(splits=num_layers)
    def creator(rng):
        return C(rng)

    net = creator(nnx.Rngs(567))
    init = net.lay.initialize_carry((num_layers, *_batch_shape(batch), in_features))
    net(jnp.ones((*_batch_shape(batch), in_features)), init)  # flax < 0.11: ValueError (rank 0 RngKey mapped on axis 0)


def fix(*, num_layers=5, in_features=3, hidden_features=1, batch=None):
    """Documented workaround: ParallelLSTM re-splits the stored rngs inside every vmapped method."""

    class ParallelLSTM(nnx.Module):
        def __init__(self, num_layers, rngs):
            self.num_layers = num_layers

            @nnx.split_rngs(splits=num_layers)
            @nnx.vmap
            def create_cell(rngs):
                return nnx.OptimizedLSTMCell(in_features, hidden_features, rngs=rngs)

            self.cell = create_cell(rngs)

        def __call__(self, x, carry):
            @nnx.split_rngs(splits=self.num_layers)
            @nnx.vmap
            def call(module, x, carry):
                return module.cell(carry, x)

            return call(self, x, carry)

        def initialize_carry(self, input_shape):
            @nnx.split_rngs(splits=self.num_layers)
            @nnx.vmap(in_axes=(0, None))
            def init(module, input_shape):
                return module.cell.initialize_carry(input_shape)

            return init(self, input_shape)

    net = ParallelLSTM(num_layers=num_layers, rngs=nnx.Rngs(567))
    init_state = net.initialize_carry((*_batch_shape(batch), in_features))  # flax >= 0.11: ValueError, no rngs stored
    output = net(jnp.ones((num_layers, *_batch_shape(batch), in_features)), init_state)
    _check_fix(
        net.cell,
        nnx.OptimizedLSTMCell,
        net,
        init_state,
        output,
        num_layers=num_layers,
        in_features=in_features,
        hidden_features=hidden_features,
        batch=batch,
    )


def fix_carry_rngs(*, num_layers=5, in_features=3, hidden_features=1, batch=None):
    """ParallelLSTM adapted to flax >= 0.11.0: the carry RNG is passed to initialize_carry.

    Needed from flax 0.11.0 on, where RNN cells default to keep_rngs=False and
    initialize_carry(input_shape) without rngs raises "RNGs must be provided to initialize the
    cell carry." Also works on 0.10.x, where the cells still store rngs, which is why __call__
    keeps the documented split_rngs over `self`.
    """

    class ParallelLSTM(nnx.Module):
        def __init__(self, num_layers, rngs):
            self.num_layers = num_layers

            @nnx.split_rngs(splits=num_layers)
            @nnx.vmap
            def create_cell(rngs):
                return nnx.OptimizedLSTMCell(in_features, hidden_features, rngs=rngs)

            self.cell = create_cell(rngs)

        def __call__(self, x, carry):
            @nnx.split_rngs(splits=self.num_layers)
            @nnx.vmap
            def call(module, x, carry):
                return module.cell(carry, x)

            return call(self, x, carry)

        def initialize_carry(self, input_shape, rngs):
            @nnx.split_rngs(splits=self.num_layers)
            @nnx.vmap(in_axes=(0, None, 0))
            def init(module, input_shape, rngs):
                return module.cell.initialize_carry(input_shape, rngs)

            return init(self, input_shape, rngs)

    net = ParallelLSTM(num_layers=num_layers, rngs=nnx.Rngs(567))
    init_state = net.initialize_carry((*_batch_shape(batch), in_features), nnx.Rngs(carry=0))
    output = net(jnp.ones((num_layers, *_batch_shape(batch), in_features)), init_state)
    _check_fix(
        net.cell,
        nnx.OptimizedLSTMCell,
        net,
        init_state,
        output,
        num_layers=num_layers,
        in_features=in_features,
        hidden_features=hidden_features,
        batch=batch,
    )


def fix_issue_pattern(*, num_layers=5, in_features=3, hidden_features=1, batch=None):
    """The issue's own vmapped-methods pattern, as it works from flax 0.11.0 on.

    Exists to show that the reported failure itself is gone in flax >= 0.11.0 (cells no longer
    store rngs, so nothing rank-0 is left in the stacked module): only the carry RNG must now be
    passed to initialize_carry, and x must be stacked (num_layers, in_features) -- the issue's
    jnp.ones(3) would be mapped along its size-3 axis against the 5 cells. On flax 0.10.x it still
    raises the reported rank-0 ValueError. Same per-cell check as `fix`.
    """

    class C(nnx.Module):
        @nnx.vmap
        def __init__(self, rng):
            self.lay = nnx.LSTMCell(in_features, hidden_features, rngs=rng)

        @nnx.vmap
        def __call__(self, x, state):
            return self.lay(state, x)

    @nnx.split_rngs(splits=num_layers)
    def creator(rng):
        return C(rng)

    net = creator(nnx.Rngs(567))
    init = net.lay.initialize_carry((num_layers, *_batch_shape(batch), in_features), rngs=nnx.Rngs(carry=0))
    output = net(
        jnp.ones((num_layers, *_batch_shape(batch), in_features)), init
    )  # flax < 0.11: the reported ValueError
    _check_fix(
        net.lay,
        nnx.LSTMCell,
        net,
        init,
        output,
        num_layers=num_layers,
        in_features=in_features,
        hidden_features=hidden_features,
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
