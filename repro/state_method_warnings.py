"""From Flax 0.10.4 every nnx.State method (filter, split, flat_state, to_pure_dict, ...) emits a DeprecationWarning.

Upstream: https://github.com/google/flax/pull/4561 ("Add deprecation warning to all `nnx.State` methods",
released in Flax 0.10.4); the plan it prepares is https://github.com/google/flax/pull/4418 ("[nnx] remove State").

What goes wrong: from Flax 0.10.4 the methods of ``nnx.State`` -- ``filter``, ``split``, ``flat_state``,
``to_pure_dict``, ``replace_by_pure_dict``, ``map``, ``from_flat_path``, the classmethod ``State.merge`` and
``state - other`` -- still work but warn ``DeprecationWarning: `flax.nnx.State` will be deprecated and be replaced
by the built-in Python dict. Please use the equivalent `nnx.filter_state` instead.`` (the name at the end is the
free function that replaces the method). Python hides DeprecationWarnings raised outside ``__main__`` by default,
so a program sees nothing unless it runs with ``-W error::DeprecationWarning`` or under pytest. The replacement
functions ``nnx.filter_state``, ``nnx.split_state``, ``nnx.to_flat_state``, ``nnx.to_pure_dict``,
``nnx.replace_by_pure_dict`` and ``nnx.merge_state`` only exist from 0.10.4 (earlier: AttributeError). The
methods were still there, and still warning, in every release measured. (Separately, ``flat_state()`` returned a
``dict`` {path: leaf} on 0.10.0-0.10.2 and a ``FlatState`` sequence of (path, leaf) pairs from 0.10.3; the variants
below read both.)

Versions named in the report: PR #4561 (2025-02-21) sets the warning "to fire for 3 months" before removal;
released in Flax 0.10.4.

Variants:
  bug                  -- ``state.filter(nnx.Param)`` and ``state.split(nnx.Param, nnx.BatchStat)`` on
                          ``nnx.state(model)``.
  bug_flat_state       -- ``state.flat_state()``.
  bug_pure_dict        -- ``state.to_pure_dict()`` then ``state.replace_by_pure_dict(...)`` (the checkpointing idiom).
  bug_merge            -- ``nnx.State.merge(params, batch_stats)``.
  fix_functions        -- the free functions the warnings name: ``nnx.filter_state``, ``nnx.split_state``,
                          ``nnx.to_flat_state``, ``nnx.to_pure_dict``, ``nnx.replace_by_pure_dict``,
                          ``nnx.merge_state`` (0.10.4+).
  fix_graph_functions  -- filter on the module instead of on the State: ``nnx.state(model, nnx.Param)``,
                          ``nnx.split(model, nnx.Param, nnx.BatchStat)``, ``nnx.merge(graphdef, params,
                          batch_stats)``, and ``jax.tree.map`` + ``nnx.update`` to write (every release).
Every variant builds a Linear + BatchNorm model and checks what it got against the arrays read from the layers'
own attributes (``layer.kernel[...]``): the Param/BatchStat partition, the flat paths, the pure dict, and a
forward pass after writing modified values back with ``nnx.update``, against NumPy.

Run: python repro/state_method_warnings.py
"""

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "in_features": [1, 3],
    "out_features": [1, 2],
}

PARAM_PATHS = {("linear", "kernel"), ("linear", "bias"), ("bn", "scale"), ("bn", "bias")}
STAT_PATHS = {("bn", "mean"), ("bn", "var")}


class _Model(nnx.Module):
    def __init__(self, in_features, out_features, rngs: nnx.Rngs):
        self.linear = nnx.Linear(in_features, out_features, rngs=rngs)
        self.bn = nnx.BatchNorm(out_features, use_running_average=True, rngs=rngs)

    def __call__(self, x):
        return self.bn(self.linear(x))


def _model(in_features, out_features):
    return _Model(in_features, out_features, rngs=nnx.Rngs(0))


def _array(leaf):
    """The array held by a state leaf: a raw array, a VariableState (0.10) or a Variable (0.11+)."""
    return np.asarray(jax.tree.leaves(leaf)[0])


def _flatten(mapping, prefix=()):
    """{path: array} of a nested State or dict, read with Mapping.items() only."""
    out = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, prefix + (key,)))
        else:
            out[prefix + (key,)] = _array(value)
    return out


def _flat_arrays(flat):
    """{path: array} of a flat state: a dict {path: leaf} on 0.10.0-0.10.2, a FlatState of (path, leaf) pairs after."""
    pairs = flat.items() if isinstance(flat, Mapping) else flat
    return {tuple(path): _array(leaf) for path, leaf in pairs}


def _reference(model):
    """{path: array} read from the layers' own attributes, not through any State API."""
    return {
        ("linear", "kernel"): np.asarray(model.linear.kernel[...]),
        ("linear", "bias"): np.asarray(model.linear.bias[...]),
        ("bn", "scale"): np.asarray(model.bn.scale[...]),
        ("bn", "bias"): np.asarray(model.bn.bias[...]),
        ("bn", "mean"): np.asarray(model.bn.mean[...]),
        ("bn", "var"): np.asarray(model.bn.var[...]),
    }


def _check_part(got, want, paths, what):
    assert set(got) == paths, f"{what} holds {sorted(got)}, expected {sorted(paths)}"
    for path in paths:
        np.testing.assert_array_equal(got[path], want[path], err_msg=f"{what}: {path} != the layer's array")


def _check_update(model, new, in_features):
    """After nnx.update with `new` ({path: array}), the layers hold `new` and the forward pass uses it (NumPy)."""
    _check_part(_reference(model), new, PARAM_PATHS | STAT_PATHS, "model after nnx.update")
    x = np.linspace(-1.0, 1.0, 2 * in_features, dtype=np.float32).reshape(2, in_features)
    h = x @ new[("linear", "kernel")] + new[("linear", "bias")]
    want = (h - new[("bn", "mean")]) / np.sqrt(new[("bn", "var")] + 1e-5) * new[("bn", "scale")] + new[("bn", "bias")]
    np.testing.assert_allclose(
        np.asarray(model(jnp.asarray(x))), want, rtol=1e-5, atol=1e-5, err_msg="forward pass after nnx.update != NumPy"
    )


def _modified(reference):
    return {path: (value * 2.0 + 1.0).astype(value.dtype) for path, value in reference.items()}


def _nested(flat):
    out = {}
    for path, value in flat.items():
        out.setdefault(path[0], {})[path[1]] = jnp.asarray(value)
    return out


def bug(*, in_features=3, out_features=2):
    """``state.filter(...)`` and ``state.split(...)``: 0.10.4+ warn."""
    model = _model(in_features, out_features)
    state = nnx.state(model)
    params = state.filter(nnx.Param)  # 0.10.4+: DeprecationWarning, use nnx.filter_state
    params2, batch_stats = state.split(nnx.Param, nnx.BatchStat)  # 0.10.4+: DeprecationWarning, use nnx.split_state
    want = _reference(model)
    _check_part(_flatten(params), want, PARAM_PATHS, "state.filter(nnx.Param)")
    _check_part(_flatten(params2), want, PARAM_PATHS, "state.split(...)[0]")
    _check_part(_flatten(batch_stats), want, STAT_PATHS, "state.split(...)[1]")


def bug_flat_state(*, in_features=3, out_features=2):
    """``state.flat_state()``: 0.10.4+ warns."""
    model = _model(in_features, out_features)
    flat = nnx.state(model).flat_state()  # 0.10.4+: DeprecationWarning, use nnx.to_flat_state
    _check_part(_flat_arrays(flat), _reference(model), PARAM_PATHS | STAT_PATHS, "state.flat_state()")


def bug_pure_dict(*, in_features=3, out_features=2):
    """``state.to_pure_dict()`` and ``state.replace_by_pure_dict(...)``: 0.10.4+ warn."""
    model = _model(in_features, out_features)
    state = nnx.state(model)
    pure = state.to_pure_dict()  # 0.10.4+: DeprecationWarning, use nnx.to_pure_dict
    _check_part(_flatten(pure), _reference(model), PARAM_PATHS | STAT_PATHS, "state.to_pure_dict()")
    new = _modified(_reference(model))
    state.replace_by_pure_dict(_nested(new))  # 0.10.4+: DeprecationWarning, use nnx.replace_by_pure_dict
    nnx.update(model, state)
    _check_update(model, new, in_features)


def bug_merge(*, in_features=3, out_features=2):
    """``nnx.State.merge(a, b)``: 0.10.4+ warns."""
    model = _model(in_features, out_features)
    graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    state = nnx.State.merge(params, batch_stats)  # 0.10.4+: DeprecationWarning, use nnx.merge_state
    _check_part(_flatten(state), _reference(model), PARAM_PATHS | STAT_PATHS, "nnx.State.merge(...)")
    _check_part(
        _reference(nnx.merge(graphdef, state)),
        _reference(model),
        PARAM_PATHS | STAT_PATHS,
        "nnx.merge(graphdef, State.merge(...))",
    )


def fix_functions(*, in_features=3, out_features=2):
    """The free functions that the warnings name (0.10.4+)."""
    model = _model(in_features, out_features)
    want = _reference(model)
    graphdef, state = nnx.split(model)
    _check_part(_flatten(nnx.filter_state(state, nnx.Param)), want, PARAM_PATHS, "nnx.filter_state")
    params, batch_stats = nnx.split_state(state, nnx.Param, nnx.BatchStat)
    _check_part(_flatten(params), want, PARAM_PATHS, "nnx.split_state(...)[0]")
    _check_part(_flatten(batch_stats), want, STAT_PATHS, "nnx.split_state(...)[1]")
    _check_part(_flat_arrays(nnx.to_flat_state(state)), want, PARAM_PATHS | STAT_PATHS, "nnx.to_flat_state")
    merged = nnx.merge_state(params, batch_stats)
    _check_part(_flatten(merged), want, PARAM_PATHS | STAT_PATHS, "nnx.merge_state")
    _check_part(_flatten(nnx.to_pure_dict(state)), want, PARAM_PATHS | STAT_PATHS, "nnx.to_pure_dict")
    new = _modified(want)
    nnx.replace_by_pure_dict(state, _nested(new))
    nnx.update(model, state)
    _check_update(model, new, in_features)


def fix_graph_functions(*, in_features=3, out_features=2):
    """Filter on the module, not on the State: nnx.state / nnx.split / nnx.merge with filters (every release)."""
    model = _model(in_features, out_features)
    want = _reference(model)
    _check_part(_flatten(nnx.state(model, nnx.Param)), want, PARAM_PATHS, "nnx.state(model, nnx.Param)")
    graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    _check_part(_flatten(params), want, PARAM_PATHS, "nnx.split(...)[1]")
    _check_part(_flatten(batch_stats), want, STAT_PATHS, "nnx.split(...)[2]")
    _check_part(
        _reference(nnx.merge(graphdef, params, batch_stats)),
        want,
        PARAM_PATHS | STAT_PATHS,
        "nnx.merge(graphdef, params, batch_stats)",
    )
    new = _modified(want)
    nnx.update(model, jax.tree.map(lambda a: a * 2.0 + 1.0, params), jax.tree.map(lambda a: a * 2.0 + 1.0, batch_stats))
    _check_update(model, new, in_features)


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
