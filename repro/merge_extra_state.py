"""From Flax 0.10.5 nnx.merge(graphdef, state, extra_state) with overlapping states raises; the last state won before.

Upstream: https://github.com/google/flax/issues/4676 ("TypeError: '<' not supported between instances of
'VariableState' and 'VariableState'").

What goes wrong: ``nnx.merge(graphdef, state, *states)`` takes several states. Up to Flax 0.10.4, when they overlap
(the same path in more than one, e.g. a full state plus an updated copy of its parameters) the later state wins.
Commit d4aa2489 ("[nnx] add support for standalone Variables", 2025-03-10, released in 0.10.5) made ``merge``
concatenate the flat states and ``sort()`` them; two entries with the same path are then compared by value, and the
merge fails. How it fails depends on the release: 0.10.5-0.10.7 ``TypeError: '<' not supported between instances of
'VariableState' and 'VariableState'``; 0.11.0-0.12.0 the same with ``'Param' and 'Param'``; from 0.12.1
``ValueError: The truth value of an array with more than one element is ambiguous`` (``Variable.__eq__`` compares
the arrays; when every overlapping parameter holds a single element, ``in_features=out_features=1``, the comparison
falls through to ``<`` and the 0.11 TypeError comes back, so ``out_features`` is drawn from 2 and 3). When the
states hold the very same leaves (the issue's ``nnx.merge(*nnx.split(model), state)`` from 0.11.0, where states
share the Variables) the sort survives and the duplicates reach the unflattening: ``ValueError: Incorrect number of
leaves, expected 6 leaves, but got 12.`` The maintainer's answer: "``nnx.merge`` no longer support merging
additional states for performance reasons", use ``nnx.merge_state`` to combine the states first (it exists from
0.10.4). Merging disjoint states, e.g. the ``params, rest`` that ``nnx.split(model, nnx.Param, ...)`` returns, is
unaffected.

Versions named in the report: Flax 0.10.5 (2025-04-02); the reporter asks whether PR #4641 caused it.

Variants:
  bug               -- the issue's repro: ``nnx.merge(*nnx.split(model), nnx.state(model))``; the result must equal
                       the model.
  bug_override      -- ``nnx.merge(graphdef, state, new_params)``: a full state plus changed parameters, which must
                       win.
  fix_merge_state   -- the maintainer's workaround: ``nnx.merge(graphdef, nnx.merge_state(state, new_params))``
                       (0.10.4+).
  fix_disjoint      -- split by filter so the states do not overlap: ``graphdef, params, rest = nnx.split(model,
                       nnx.Param, ...)``, then ``nnx.merge(graphdef, new_params, rest)`` (every release).
Every variant checks the merged Linear + BatchNorm model against the arrays read from the original layers
(parameters doubled plus one where new parameters were merged in, the BatchNorm statistics unchanged) and its
forward pass against NumPy.

Run: python repro/merge_extra_state.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "in_features": [1, 3],
    "out_features": [2, 3],  # not 1: with 1-element parameters 0.12.1+ fails differently (see the .md)
}


class _Model(nnx.Module):
    def __init__(self, in_features, out_features, rngs: nnx.Rngs):
        self.linear = nnx.Linear(in_features, out_features, rngs=rngs)
        self.bn = nnx.BatchNorm(out_features, momentum=0.5, rngs=rngs)

    def __call__(self, x, use_running_average=True):
        return self.bn(self.linear(x), use_running_average=use_running_average)


def _model(in_features, out_features):
    model = _Model(in_features, out_features, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (4, in_features))
    model(x, use_running_average=False)  # non-trivial BatchNorm statistics, so a lost state shows
    return model


def _arrays(model):
    return {
        "kernel": np.asarray(model.linear.kernel[...]),
        "bias": np.asarray(model.linear.bias[...]),
        "scale": np.asarray(model.bn.scale[...]),
        "bn_bias": np.asarray(model.bn.bias[...]),
        "mean": np.asarray(model.bn.mean[...]),
        "var": np.asarray(model.bn.var[...]),
    }


def _new_params(params):
    return jax.tree.map(lambda a: a * 2.0 + 1.0, params)


def _check(merged, want, in_features):
    got = _arrays(merged)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value, err_msg=f"merged model's {name} is wrong")
    x = np.linspace(-1.0, 1.0, 2 * in_features, dtype=np.float32).reshape(2, in_features)
    h = x @ want["kernel"] + want["bias"]
    y = (h - want["mean"]) / np.sqrt(want["var"] + 1e-5) * want["scale"] + want["bn_bias"]
    np.testing.assert_allclose(
        np.asarray(merged(jnp.asarray(x))), y, rtol=1e-5, atol=1e-5, err_msg="merged model's forward pass != NumPy"
    )


def _updated(original):
    """What the model must hold after merging in the doubled-plus-one parameters."""
    want = dict(original)
    for name in ("kernel", "bias", "scale", "bn_bias"):
        want[name] = original[name] * 2.0 + 1.0
    return want


def bug(*, in_features=3, out_features=2):
    """The issue's repro: merge a graphdef with its state and the same state again."""
    model = _model(in_features, out_features)
    state = nnx.state(model)
    merged = nnx.merge(*nnx.split(model), state)  # 0.10.5: TypeError: '<' not supported
    _check(merged, _arrays(model), in_features)


def bug_override(*, in_features=3, out_features=2):
    """A full state plus changed parameters: the later state must win."""
    model = _model(in_features, out_features)
    graphdef, state = nnx.split(model)
    new_params = _new_params(nnx.state(model, nnx.Param))
    merged = nnx.merge(graphdef, state, new_params)
    _check(merged, _updated(_arrays(model)), in_features)


def fix_merge_state(*, in_features=3, out_features=2):
    """The maintainer's workaround: combine the states with nnx.merge_state first (0.10.4+)."""
    model = _model(in_features, out_features)
    graphdef, state = nnx.split(model)
    new_params = _new_params(nnx.state(model, nnx.Param))
    merged = nnx.merge(graphdef, nnx.merge_state(state, new_params))
    _check(merged, _updated(_arrays(model)), in_features)
    _check(nnx.merge(graphdef, nnx.merge_state(state, nnx.state(model))), _arrays(model), in_features)


def fix_disjoint(*, in_features=3, out_features=2):
    """Split by filter so that no path is in two states, then merge the replacement with the rest."""
    model = _model(in_features, out_features)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    merged = nnx.merge(graphdef, _new_params(params), rest)
    _check(merged, _updated(_arrays(model)), in_features)
    _check(nnx.merge(graphdef, params, rest), _arrays(model), in_features)


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
