"""Flax 0.11: a model with nnx.Dropout built with nnx.Rngs(params=...) alone fails: "No RngStream named 'dropout'".

Upstream: https://github.com/pyro-ppl/numpyro/issues/2055 (fixed by https://github.com/pyro-ppl/numpyro/pull/2057),
https://github.com/AI-Hypercomputer/maxtext/pull/2068 ("Upgrade Flax to 0.11.0"), and the "NNX 0.10 to NNX 0.11"
migration guide, section "Using Rngs in NNX Transforms" (docs_nnx/migrating/nnx_010_to_nnx_011.rst). The change
is Flax commit 571c9e40 ("[nnx] mutable array p3"), released in Flax 0.11.0.

What goes wrong: on Flax 0.10.x ``nnx.Dropout(..., rngs=rngs)`` and ``nnx.MultiHeadAttention(..., dropout_rate>0,
rngs=rngs)`` keep a reference to the ``Rngs`` they are given and only ask it for the ``'dropout'`` stream when
they draw a mask. From 0.11.0 they fork that stream in ``__init__`` (``rngs['dropout'].fork()``, ``rngs.dropout
.fork()``), so a model built with ``nnx.Rngs(params=key)`` and no ``'dropout'`` (or ``default``) stream fails at
construction, even when its dropout is deterministic and would never draw a key: Dropout raises ``KeyError: "No
RngStream named 'dropout' found in Rngs."``, MultiHeadAttention ``AttributeError: No RngStream named 'dropout'
found in Rngs.``. NumPyro's ``test_nnx_state_dropout_smoke`` (a BatchNorm plus a ``Dropout(rate=0.5,
deterministic=True, rngs=rngs)``, built with ``nnx.Rngs(params=rng_key)``) passed on 0.10 and fails on 0.11.0.
A model that does draw dropout masks fails on 0.10 too, only later: at the first training call, ``KeyError: "No
RNG named 'dropout' or 'default' found in Rngs."``.

Versions named in the report: Flax 0.11.0 (numpyro#2055, 2025-07-31; maxtext#2068 pins 0.11.0 and adds a
``dropout`` key). The migration guide documents the fork but not the missing-stream error.

Variants:
  bug                  -- numpyro's Net: ``BatchNorm(features)`` and ``Dropout(rate=0.5, deterministic=True)``,
                          built with ``Net(rngs=nnx.Rngs(params=key))`` and called in eval mode.
  bug_mha              -- ``nnx.MultiHeadAttention(..., dropout_rate=0.1, rngs=nnx.Rngs(params=0))`` called
                          with ``deterministic=True``.
  fix_named_streams    -- numpyro#2057 / maxtext#2068: ``nnx.Rngs(params=0, dropout=1)``.
  fix_default_stream   -- ``nnx.Rngs(0)``: every stream falls back to ``default``.
  fix_call_time_rngs   -- the randomness guide's pattern: ``nnx.Dropout(rate)`` without ``rngs``, and an
                          ``nnx.Rngs(dropout=...)`` passed at call time when dropout is active (Dropout only).
``bug`` and the Net fixes check the eval-mode output against a NumPy batch normalisation over the model's own
scale and bias, then (fixes) that training-mode dropout of ``jnp.ones(64)`` gives only 0 and 1/(1-rate), with
both present, and a fresh mask on a second call. ``bug_mha`` and the MHA checks compare the deterministic
output with a NumPy multi-head attention over the module's own kernels and biases.

Run: python repro/dropout_rngs_stream.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "features": [1, 3],
    "batch": [1, 4],
}

RATE = 0.5


class _Net(nnx.Module):
    """numpyro's test_nnx_state_dropout_smoke Net (batchnorm and dropout both on)."""

    def __init__(self, features, *, rngs):
        self.bn = nnx.BatchNorm(features, rngs=rngs)
        self.dropout = nnx.Dropout(rate=RATE, deterministic=True, rngs=rngs)

    def __call__(self, x, *, rngs=None):
        x = self.dropout(x, deterministic=True)
        return self.bn(x)


def _x(batch, features, length=None):
    shape = (batch, features) if length is None else (batch, length, features)
    return np.linspace(-1.0, 2.0, int(np.prod(shape)), dtype=np.float32).reshape(shape) ** 2


def _check_batchnorm(bn, x, y):
    """y must be BatchNorm (training mode, batch statistics) of x, computed in NumPy."""
    x64 = np.asarray(x, np.float64)
    mean, var = x64.mean(axis=0), x64.var(axis=0)
    scale, bias = np.asarray(bn.scale[...]), np.asarray(bn.bias[...])
    want = (x64 - mean) / np.sqrt(var + bn.epsilon) * scale + bias
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-5, err_msg="Net output != NumPy BatchNorm")


def _check_dropout_draws(dropout, **call_kwargs):
    """Training-mode dropout of ones: only 0 and 1/(1-rate), both present, and a new mask on the next call."""
    ones = jnp.ones((64,))
    first = np.asarray(dropout(ones, deterministic=False, **call_kwargs))
    second = np.asarray(dropout(ones, deterministic=False, **call_kwargs))
    for out in (first, second):
        assert np.all(np.isin(out, [0.0, 1.0 / (1.0 - RATE)])), "dropout output is not 0 or 1/(1-rate)"
        assert (out == 0).any() and (out != 0).any(), "dropout kept or dropped every element of 64"
    assert not np.array_equal(first, second), "two training calls drew the same dropout mask"


def _mha_numpy(mha, x):
    """Multi-head self-attention in NumPy from the module's own parameters."""
    x = np.asarray(x, np.float64)

    def proj(lin):
        return np.einsum("blf,fhd->blhd", x, np.asarray(lin.kernel[...])) + np.asarray(lin.bias[...])

    q, k, v = proj(mha.query), proj(mha.key), proj(mha.value)
    logits = np.einsum("bqhd,bkhd->bhqk", q / np.sqrt(q.shape[-1]), k)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    attended = np.einsum("bhqk,bkhd->bqhd", weights, v)
    return np.einsum("bqhd,hdo->bqo", attended, np.asarray(mha.out.kernel[...])) + np.asarray(mha.out.bias[...])


def _check_mha(rngs, features, batch):
    mha = nnx.MultiHeadAttention(num_heads=1, in_features=features, dropout_rate=0.1, decode=False, rngs=rngs)
    x = _x(batch, features, length=2)
    y = mha(jnp.asarray(x), deterministic=True)
    np.testing.assert_allclose(
        np.asarray(y), _mha_numpy(mha, x), rtol=1e-4, atol=1e-5, err_msg="MultiHeadAttention output != NumPy attention"
    )


def bug(*, features=3, batch=4):
    """numpyro's test: the Net built with a 'params' stream only."""
    net_module = _Net(features, rngs=nnx.Rngs(params=jax.random.PRNGKey(0)))  # 0.11+: KeyError 'dropout'
    x = _x(batch, features)
    _check_batchnorm(net_module.bn, x, net_module(jnp.asarray(x)))


def bug_mha(*, features=3, batch=4):
    """MultiHeadAttention with dropout_rate > 0 built with a 'params' stream only."""
    _check_mha(nnx.Rngs(params=0), features, batch)  # 0.11+: AttributeError 'dropout'


def fix_named_streams(*, features=3, batch=4):
    """numpyro#2057 / maxtext#2068: name a 'dropout' stream too."""
    net_module = _Net(features, rngs=nnx.Rngs(params=0, dropout=1))
    x = _x(batch, features)
    _check_batchnorm(net_module.bn, x, net_module(jnp.asarray(x)))
    _check_dropout_draws(net_module.dropout)
    _check_mha(nnx.Rngs(params=0, dropout=1), features, batch)


def fix_default_stream(*, features=3, batch=4):
    """nnx.Rngs(0): the 'default' stream serves 'params' and 'dropout'."""
    net_module = _Net(features, rngs=nnx.Rngs(0))
    x = _x(batch, features)
    _check_batchnorm(net_module.bn, x, net_module(jnp.asarray(x)))
    _check_dropout_draws(net_module.dropout)
    _check_mha(nnx.Rngs(0), features, batch)


def fix_call_time_rngs(*, features=3, batch=4):
    """Dropout without rngs at construction; an Rngs with a 'dropout' stream is passed when it draws."""

    class Net(nnx.Module):
        def __init__(self, features, *, rngs):
            self.bn = nnx.BatchNorm(features, rngs=rngs)
            self.dropout = nnx.Dropout(rate=RATE, deterministic=True)

        def __call__(self, x, *, rngs=None):
            x = self.dropout(x, deterministic=True)
            return self.bn(x)

    net_module = Net(features, rngs=nnx.Rngs(params=0))
    x = _x(batch, features)
    _check_batchnorm(net_module.bn, x, net_module(jnp.asarray(x)))
    _check_dropout_draws(net_module.dropout, rngs=nnx.Rngs(dropout=1))


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
