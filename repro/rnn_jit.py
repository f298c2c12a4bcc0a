"""jax.jit of an nnx.RNN(nnx.LSTMCell) breaks on its carry RNG stream.

Upstream: https://github.com/google/flax/issues/4713

What goes wrong: ``jax.jit(lstm)(x)`` closes over the NNX module, so
``RNN.__call__`` runs inside the jit trace and initialises the carry with
``rngs.carry()``, which mutates the RNG stream's ``count`` (a Variable created
outside the trace). Flax versions that check the trace level raise
``flax.errors.TraceContextError: Cannot call RngStream from a different trace
level`` (0.10.7-0.12.0: ``Cannot mutate RngStream ...``, >= 0.12.1: ``Cannot
mutate RngCount from a different trace level``).
Flax 0.10.1-0.10.4 disabled that check (``TraceState.is_valid`` returned True):
the jitted call raises nothing but leaves jit tracers inside the module (the
carry RNG count and, via RNN's internal nnx.scan, every Variable of the cell,
weights included), so the next eager call fails with UnexpectedTracerError.

Versions named in the report: fails on Flax 0.10.5 (jax 0.6.0); reported as
working on 0.10.2 and 0.10.4 -- there the jitted call is only silent and the
module is broken afterwards (see ``bug_reuse``). 0.10.0 raises as well.

Variants:
  bug          -- the documented call: ``jax.jit(lstm)(x)``.
  bug_reuse    -- the same jitted call, then the module called eagerly again;
                  exposes the leaked tracer on releases where ``bug`` is silent.
  fix_nnx_jit  -- the documented workaround: ``@nnx.jit def forward(lstm, x)``;
                  checks its output and the module's state against an
                  identically built module called eagerly and against a NumPy
                  LSTM, then checks the module still works eagerly afterwards.

Run: python repro/rnn_jit.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

# The sizes the property tests draw each keyword argument from (flax_regressions/incell/test_properties.py);
# the first value of each set is the one example the ci profile runs.
PROPERTY_SIZES = {"features": [1, 10], "hidden": [1, 10], "batch": [1, 2], "seq_len": [1, 5]}


def _make_lstm(features, hidden):
    """The documented module: an RNN over an LSTMCell, built from fixed seeds."""
    return nnx.RNN(nnx.LSTMCell(in_features=features, hidden_features=hidden, rngs=nnx.Rngs(0)))


def _inputs(batch, seq_len, features):
    """x of shape (batch, time, features), fixed seed."""
    return jax.random.normal(jax.random.key(1), (batch, seq_len, features), jnp.float32)


def _numpy_lstm(cell, x):
    """Independent reference: the LSTM recurrence in float64 NumPy, zero initial carry."""

    def kernel(linear):
        return np.asarray(linear.kernel[...], np.float64)

    def bias(linear):
        return np.asarray(linear.bias[...], np.float64)

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    x = np.asarray(x, np.float64)
    batch, seq_len, _ = x.shape
    hidden = kernel(cell.hi).shape[1]
    c = np.zeros((batch, hidden))
    h = np.zeros((batch, hidden))
    outputs = []
    for t in range(seq_len):
        xt = x[:, t]
        i = sigmoid(xt @ kernel(cell.ii) + h @ kernel(cell.hi) + bias(cell.hi))
        f = sigmoid(xt @ kernel(cell.if_) + h @ kernel(cell.hf) + bias(cell.hf))
        g = np.tanh(xt @ kernel(cell.ig) + h @ kernel(cell.hg) + bias(cell.hg))
        o = sigmoid(xt @ kernel(cell.io) + h @ kernel(cell.ho) + bias(cell.ho))
        c = f * c + i * g
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def _flat_state(module):
    """{path: numpy value} of every leaf of the module's state (RNG keys as key data)."""
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(nnx.state(module))[0]:
        assert isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer), (
            f"state leaf {jax.tree_util.keystr(path)} is not a concrete array: {leaf!r}"
        )
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        flat[jax.tree_util.keystr(path)] = np.asarray(leaf)
    return flat


def _assert_same_state(module, reference, when):
    got, want = _flat_state(module), _flat_state(reference)
    assert got.keys() == want.keys(), f"{when}: state paths differ: {sorted(got)} vs {sorted(want)}"
    for path in want:
        np.testing.assert_array_equal(got[path], want[path], err_msg=f"{when}: state leaf {path} differs")


def bug(*, features=10, hidden=10, batch=2, seq_len=5):
    """The documented failing call: jax.jit of the module itself."""
    lstm = _make_lstm(features, hidden)
    x = _inputs(batch, seq_len, features)
    jax.jit(lstm)(x)


def bug_reuse(*, features=10, hidden=10, batch=2, seq_len=5):
    """The documented jitted call, then the module used again eagerly.

    Exists because Flax 0.10.1-0.10.4 disabled the trace-level check
    (``TraceState.is_valid`` always True): the jitted call succeeds but stores jit
    tracers in the module -- the carry RNG stream's ``count`` and every Variable
    of the cell (nnx.scan inside RNN writes its traced state back). Calling the
    module again *eagerly* reads them (first ``rngs.carry()``) and raises
    UnexpectedTracerError. Calling ``jax.jit(lstm)`` again would not expose it:
    jit's cache (keyed on the same module object) skips retracing. On releases
    where ``bug`` raises (0.10.0, >= 0.10.5), this variant raises the same error
    at the jitted call.
    """
    lstm = _make_lstm(features, hidden)
    x = _inputs(batch, seq_len, features)
    jax.jit(lstm)(x)
    lstm(x)


def fix_nnx_jit(*, features=10, hidden=10, batch=2, seq_len=5):
    """Documented workaround: pass the module through an @nnx.jit function.

    nnx.jit splits the module's state into traced inputs and writes the updated
    state (including the RNG count) back, so nothing leaks. The result must equal
    the eager call on an identically built module (and a NumPy LSTM), the RNG
    state must have advanced exactly as the eager call advances it, and the module
    must still work eagerly afterwards.
    """
    lstm = _make_lstm(features, hidden)
    reference = _make_lstm(features, hidden)
    x = _inputs(batch, seq_len, features)

    @nnx.jit
    def forward(lstm, x):
        return lstm(x)

    y = forward(lstm, x)
    y_eager = reference(x)
    assert y.shape == (batch, seq_len, hidden), f"output shape {y.shape} != {(batch, seq_len, hidden)}"
    np.testing.assert_allclose(
        np.asarray(y), np.asarray(y_eager), rtol=1e-5, atol=1e-6, err_msg="nnx.jit output != eager output"
    )
    np.testing.assert_allclose(
        np.asarray(y), _numpy_lstm(reference.cell, x), rtol=1e-5, atol=1e-6, err_msg="nnx.jit output != NumPy LSTM"
    )
    _assert_same_state(lstm, reference, "after nnx.jit call")

    # The module must still be usable eagerly (no tracer left in its RNG state).
    y_again = lstm(x)
    y_eager_again = reference(x)
    np.testing.assert_allclose(
        np.asarray(y_again),
        np.asarray(y_eager_again),
        rtol=1e-5,
        atol=1e-6,
        err_msg="eager call after nnx.jit != eager call on reference module",
    )
    _assert_same_state(lstm, reference, "after eager call following nnx.jit")


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
