"""Flax 0.11 removed nnx.VariableState: the name is an alias of nnx.Variable, its constructor raises, and it warns.

Upstream: https://github.com/google/flax/pull/4800 ("[nnx] remove VariableState", released in Flax 0.11.0); the
"NNX 0.10 to NNX 0.11" migration guide (docs_nnx/migrating/nnx_010_to_nnx_011.rst) does not mention it.

What goes wrong: up to Flax 0.10.7 ``nnx.split``/``nnx.state`` return States whose leaves are ``VariableState``
objects (``.type`` names the Variable class, ``.value`` holds the array). Flax 0.11.0 returns the Variables
themselves and makes ``nnx.VariableState`` an alias of ``nnx.Variable``. PR #4800 says instance checks keep
working "but a deprecation warning is raised", and that ``Variable.type`` is kept with a deprecation warning.
Measured, it is not that simple:
- ``isinstance(x, nnx.VariableState)`` keeps working everywhere, but only warns from 0.12.1
  (``DeprecationWarning: 'VariableState' was removed, this is just an alias to 'Variable'. Plase use 'Variable'
  directly instead.``): on 0.11.0-0.12.0 the module ``__getattr__`` that warns is dead code, because the alias is
  also a module global.
- ``leaf.type`` warns ``'.type' is deprecated, use 'type(variable)' instead.`` on 0.11.0-0.12.0 only; from
  0.12.1 the property is silent again.
- ``nnx.VariableState(nnx.Param, value)`` (the 0.10 constructor, as in the 0.10 docstrings) raises
  ``TypeError: Variable.__init__() takes 2 positional arguments but 3 were given`` from 0.11.0.
The documented replacement, ``nnx.Variable`` (``isinstance(x, nnx.Variable)``, ``type(x)``, ``nnx.Param(value)``),
does not work on 0.10.x: there the leaves are VariableStates, not Variables, so the same code silently finds no
leaves. Code that must run on both can avoid naming the leaf class at all (filters and array leaves).

Versions named in the report: PR #4800 (2025-07-03), released in Flax 0.11.0 (2025-07-29).

Variants:
  bug               -- ``jax.tree.leaves(params, is_leaf=lambda x: isinstance(x, nnx.VariableState))`` to count
                       the parameters (0.12.1+: DeprecationWarning).
  bug_type          -- ``leaf.type`` to tell Params from BatchStats (0.11.0-0.12.0: DeprecationWarning).
  bug_constructor   -- ``state['kernel'] = nnx.VariableState(nnx.Param, new)`` then ``nnx.update`` (0.11.0+:
                       TypeError).
  fix_variable      -- the documented replacement: ``isinstance(x, nnx.Variable)``, ``type(x)`` and
                       ``nnx.Param(new)`` (0.11.0+; on 0.10.x the leaves are not Variables).
  fix_portable      -- no leaf class named: ``nnx.state(model, nnx.Param)`` / ``nnx.BatchStat`` filters, the
                       arrays from ``jax.tree.leaves``, and ``jax.tree.map`` + ``nnx.update`` to write.
Every variant builds a Linear + BatchNorm model and checks against the arrays read from the layers' own
attributes: the parameter count (NumPy sizes), which paths are Params and which BatchStats, and, after writing a
new kernel, the kernel and the forward pass of the Linear against NumPy.

Run: python repro/variablestate_alias.py
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


def _model(in_features, out_features):
    return _Model(in_features, out_features, rngs=nnx.Rngs(0))


def _leaves_by_path(mapping, prefix=()):
    """{path: leaf} of a nested State, read with Mapping.items() only (no leaf class named)."""
    out = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            out.update(_leaves_by_path(value, prefix + (key,)))
        else:
            out[prefix + (key,)] = value
    return out


def _expected_param_count(in_features, out_features):
    return in_features * out_features + out_features + 2 * out_features  # kernel, bias, BatchNorm scale and bias


def _check_count(count, in_features, out_features):
    want = _expected_param_count(in_features, out_features)
    assert count == want, f"counted {count} parameters, NumPy sizes give {want}"


def _check_types(types):
    """types: {path: Variable class}; Params and BatchStats must be told apart."""
    want = {path: nnx.Param for path in PARAM_PATHS} | {path: nnx.BatchStat for path in STAT_PATHS}
    wrong = sorted(
        f"{'/'.join(path)}={getattr(types.get(path), '__name__', None)}"
        for path in want
        if types.get(path) is not want[path]
    )
    assert not wrong and set(types) == set(want), f"wrong variable types by path: {', '.join(wrong)}"


def _new_kernel(in_features, out_features):
    return np.linspace(-1.0, 1.0, in_features * out_features, dtype=np.float32).reshape(in_features, out_features)


def _check_written(linear, new, in_features):
    np.testing.assert_array_equal(np.asarray(linear.kernel[...]), new, err_msg="kernel after nnx.update != new")
    x = np.linspace(-2.0, 2.0, 2 * in_features, dtype=np.float32).reshape(2, in_features)
    np.testing.assert_allclose(
        np.asarray(linear(jnp.asarray(x))),
        x @ new + np.asarray(linear.bias[...]),
        rtol=1e-5,
        atol=1e-6,
        err_msg="forward pass after the write != NumPy",
    )


def bug(*, in_features=3, out_features=2):
    """The 0.10 idiom: VariableState as the leaf type of a tree traversal (0.12.1+ warns)."""
    model = _model(in_features, out_features)
    params = nnx.state(model, nnx.Param)
    leaves = jax.tree.leaves(params, is_leaf=lambda x: isinstance(x, nnx.VariableState))  # 0.12.1+: warns
    assert len(leaves) == len(PARAM_PATHS), f"found {len(leaves)} VariableState leaves, expected {len(PARAM_PATHS)}"
    _check_count(sum(int(np.size(jax.tree.leaves(leaf)[0])) for leaf in leaves), in_features, out_features)


def bug_type(*, in_features=3, out_features=2):
    """``leaf.type`` names the Variable class of a state leaf (0.11.0-0.12.0 warn)."""
    model = _model(in_features, out_features)
    leaves = _leaves_by_path(nnx.state(model))
    _check_types({path: leaf.type for path, leaf in leaves.items()})  # 0.11.0-0.12.0: '.type' is deprecated


def bug_constructor(*, in_features=3, out_features=2):
    """``nnx.VariableState(nnx.Param, value)`` to put a new kernel into a state (0.11.0+: TypeError)."""
    model = _model(in_features, out_features)
    new = _new_kernel(in_features, out_features)
    state = nnx.state(model.linear)
    state["kernel"] = nnx.VariableState(nnx.Param, jnp.asarray(new))  # 0.11.0+: TypeError
    nnx.update(model.linear, state)
    _check_written(model.linear, new, in_features)


def fix_variable(*, in_features=3, out_features=2):
    """The documented replacement: nnx.Variable everywhere VariableState was used (0.11.0+)."""
    model = _model(in_features, out_features)
    params = nnx.state(model, nnx.Param)
    leaves = jax.tree.leaves(params, is_leaf=lambda x: isinstance(x, nnx.Variable))
    assert all(isinstance(leaf, nnx.Variable) for leaf in leaves), "the state's leaves are not nnx.Variable objects"
    assert len(leaves) == len(PARAM_PATHS), f"found {len(leaves)} Variable leaves, expected {len(PARAM_PATHS)}"
    _check_count(sum(int(np.size(leaf[...])) for leaf in leaves), in_features, out_features)
    _check_types({path: type(leaf) for path, leaf in _leaves_by_path(nnx.state(model)).items()})
    new = _new_kernel(in_features, out_features)
    state = nnx.state(model.linear)
    state["kernel"] = nnx.Param(jnp.asarray(new))
    nnx.update(model.linear, state)
    _check_written(model.linear, new, in_features)


def fix_portable(*, in_features=3, out_features=2):
    """Never name the leaf class: filters tell the types apart, jax.tree works on the arrays inside."""
    model = _model(in_features, out_features)
    params = nnx.state(model, nnx.Param)
    _check_count(sum(int(np.size(a)) for a in jax.tree.leaves(params)), in_features, out_features)
    types = {path: nnx.Param for path in _leaves_by_path(params)}
    types |= {path: nnx.BatchStat for path in _leaves_by_path(nnx.state(model, nnx.BatchStat))}
    _check_types(types)
    new = _new_kernel(in_features, out_features)
    state = nnx.state(model.linear, nnx.Param)
    nnx.update(model.linear, jax.tree.map(lambda a: jnp.asarray(new) if a.ndim == 2 else a, state))
    _check_written(model.linear, new, in_features)


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
