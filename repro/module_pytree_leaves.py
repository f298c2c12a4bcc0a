"""Flax 0.11 made nnx Modules pytrees: jax.tree.map / jax.tree.leaves over a list of Modules silently descend into them.

Upstream: the "NNX 0.10 to NNX 0.11" migration guide, section "Pytrees containing NNX Objects",
https://github.com/google/flax/blob/main/docs_nnx/migrating/nnx_010_to_nnx_011.rst (added by commit 2de53d54 for
0.11.0; its ``is_leaf`` changed from ``nnx.Object`` to ``nnx.Pytree`` by the "Pytree + ArrayRef refactor", commits
a5400287/220910f8, first in 0.11.1). Modules became pytrees in Flax 0.11.0 (commit 571c9e40 "[nnx] mutable array
p3"; the ``flax_pytree_module`` config flag, commit 50e043c2, defaults to True).

What goes wrong: up to Flax 0.10.7 an ``nnx.Module`` is a leaf for ``jax.tree_util``, so
``jax.tree.map(lambda x: type(x).__name__, [nnx.Linear(...), nnx.BatchNorm(...)])`` gives ``['Linear',
'BatchNorm']`` and ``jax.tree.leaves`` of a list of Modules gives the Modules. From 0.11.0 Modules are pytrees
whose leaves are their arrays: the same call returns the Modules rebuilt with every array replaced by the string
``'ArrayImpl'`` and ``jax.tree.leaves`` returns the arrays. Nothing raises; code that maps a function over
"a list of layers" now maps it over parameters. The guide's fix is ``is_leaf``. Its 0.11.0 spelling,
``is_leaf=lambda x: isinstance(x, nnx.Object)``, works on 0.11.x but silently stops working on 0.12.0, where
``nnx.Object`` became a non-pytree *subclass* of ``nnx.Pytree`` and Modules are no longer instances of it. The
later spelling ``isinstance(x, nnx.Pytree)`` needs 0.11.1+ (``nnx.Pytree`` does not exist before).

Versions named in the report: the guide is for 0.10 -> 0.11 ("In the new version, NNX modules are now Pytrees");
0.10.7 is the last release where Modules are leaves.

Variants:
  bug                 -- the guide's call without ``is_leaf``: ``jax.tree.map(lambda x: type(x).__name__,
                         modules)`` compared with the Modules' type names (AssertionError where it descends).
  bug_leaves          -- ``jax.tree.leaves({'layers': modules})`` expected to return the Modules themselves.
  fix_object_is_leaf  -- the 0.11.0 guide: ``is_leaf=lambda x: isinstance(x, nnx.Object)``.
  fix_pytree_is_leaf  -- the guide from 0.11.1: ``is_leaf=lambda x: isinstance(x, nnx.Pytree)``.
  fix_module_is_leaf  -- ``is_leaf=lambda x: isinstance(x, nnx.Module)`` (Modules only; every release).
Each fix checks the guide's type names against the list's own ``type(m).__name__``, and maps ``lambda m: m(x)``
over the list with the same ``is_leaf``: every output must equal a NumPy Linear / BatchNorm (batch statistics)
over that Module's own parameters.

Run: python repro/module_pytree_leaves.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "num_modules": [1, 3],
    "features": [1, 3],
}

BATCH = 4


def _modules(num_modules, features):
    """Linear, BatchNorm, Linear, ... as in the guide's ``modules`` list."""
    out = []
    for i in range(num_modules):
        if i % 2 == 0:
            out.append(nnx.Linear(features, features, rngs=nnx.Rngs(i)))
        else:
            out.append(nnx.BatchNorm(features, rngs=nnx.Rngs(i)))
    return out


def _x(features):
    return np.linspace(-1.0, 2.0, BATCH * features, dtype=np.float32).reshape(BATCH, features) ** 2


def _numpy_forward(module, x):
    x = np.asarray(x, np.float64)
    if isinstance(module, nnx.Linear):
        return x @ np.asarray(module.kernel[...]) + np.asarray(module.bias[...])
    scale, bias = np.asarray(module.scale[...]), np.asarray(module.bias[...])
    return (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + module.epsilon) * scale + bias


def _check_is_leaf(is_leaf, num_modules, features):
    modules = _modules(num_modules, features)
    type_names = jax.tree.map(lambda x: type(x).__name__, modules, is_leaf=is_leaf)
    assert type_names == [type(m).__name__ for m in modules], "is_leaf did not stop jax.tree.map at the Modules"
    x = _x(features)
    outputs = jax.tree.map(lambda m: m(jnp.asarray(x)), modules, is_leaf=is_leaf)
    assert isinstance(outputs, list) and len(outputs) == num_modules, "mapping the Modules did not give one output each"
    for i, (module, y) in enumerate(zip(modules, outputs)):
        np.testing.assert_allclose(
            np.asarray(y),
            _numpy_forward(module, x),
            rtol=1e-4,
            atol=1e-5,
            err_msg=f"module {i} ({type(module).__name__}) output != NumPy",
        )


def bug(*, num_modules=2, features=3):
    """The guide's jax.tree.map without is_leaf, checked against the Modules' own type names."""
    modules = _modules(num_modules, features)
    type_names = jax.tree.map(lambda x: type(x).__name__, modules)
    expected = [type(m).__name__ for m in modules]
    assert type_names == expected, "jax.tree.map over a list of nnx Modules descended into the Modules"


def bug_leaves(*, num_modules=2, features=3):
    """jax.tree.leaves of a structure holding Modules, expected to return the Modules."""
    modules = _modules(num_modules, features)
    leaves = jax.tree.leaves({"layers": modules})
    same = len(leaves) == len(modules) and all(a is b for a, b in zip(leaves, modules))
    assert same, "jax.tree.leaves returned the Modules' arrays instead of the Modules"


def fix_object_is_leaf(*, num_modules=2, features=3):
    """The 0.11.0 migration guide: NNX objects as leaves via nnx.Object."""
    _check_is_leaf(lambda x: isinstance(x, nnx.Object), num_modules, features)


def fix_pytree_is_leaf(*, num_modules=2, features=3):
    """The migration guide from 0.11.1: NNX objects as leaves via nnx.Pytree."""
    _check_is_leaf(lambda x: isinstance(x, nnx.Pytree), num_modules, features)


def fix_module_is_leaf(*, num_modules=2, features=3):
    """Modules as leaves via nnx.Module: the same spelling on every release."""
    _check_is_leaf(lambda x: isinstance(x, nnx.Module), num_modules, features)


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
