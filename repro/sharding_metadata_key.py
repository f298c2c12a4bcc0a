"""Flax 0.12.4 renamed the sharding metadata key to `out_sharding`: set_metadata('sharding_names', ...) is ignored.

Upstream: https://github.com/google/flax/issues/5248 (the rename is commit a5c76831 "Rename sharding_names to
out_sharding in NNX Variable metadata", released in Flax 0.12.4; fixed by commit 4614ac2b "support out_sharding
mapping in set_metadata", released in Flax 0.12.6).

What goes wrong: the metadata key that holds a Variable's sharding annotation, which ``nnx.get_partition_spec``
(and through it ``nnx.Optimizer`` and eager sharding) reads, has been ``sharding`` (up to 0.11.1),
``sharding_names`` (0.11.2-0.12.3) and ``out_sharding`` (0.12.4+). Creating a Variable with ``sharding=`` or
``sharding_names=`` keeps working, because the constructor renames the key, but code that annotates existing
Variables, like the issue's ``var.set_metadata("sharding_names", tuple(array.sharding.spec))`` after stacking
sharded arrays, silently stops working in 0.12.4 and 0.12.5: the value is stored under a key Flax no longer
reads, and ``nnx.get_partition_spec`` reports ``PartitionSpec()`` (replicated) with no error. Flax 0.12.6 maps
``sharding_names`` to ``out_sharding`` in ``set_metadata`` and warns ``DeprecationWarning: 'sharding_names' is
deprecated, use 'out_sharding' instead.``. The positional ``set_metadata(name, value)`` form exists from 0.12.1
(0.12.0: ``TypeError: set_metadata takes either 1 argument or 1 or more keyword arguments, ...``), and
``set_metadata`` itself from 0.12.0. The issue's alternative, writing ``out_sharding`` and requiring
flax >= 0.12.4, is silently ignored on older releases.

Versions named in the report: the issue names the change between 0.12.3 and 0.12.4 (2026-02); no release ever
used the name ``sharding_metadata`` (commit 3e963438 renamed the key to it on main before 0.12.3, and was reverted
before the release). The reporter's own fix (NovaSky-AI/SkyRL PR #1120) builds the stacked arrays through
``nnx.with_partitioning`` instead, which writes whatever key the installed Flax uses.

Needs several devices to mean anything: this module sets ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
before JAX is imported (unless XLA_FLAGS already sets a device count). If JAX was imported before this module,
the flag has no effect: run it as its own process.

Variants:
  bug                -- the issue's ``var.set_metadata("sharding_names", tuple(array.sharding.spec))`` on every
                        Variable of a Linear whose arrays are already sharded, then ``nnx.get_partition_spec``.
  bug_kwarg          -- the keyword form ``var.set_metadata(sharding_names=spec)`` (the form Flax's own
                        ``nnx.spmd.add_axis`` used in 0.12.3).
  bug_out_sharding   -- the issue's fallback plan: ``var.set_metadata("out_sharding", spec)`` (needs 0.12.4+).
  fix_portable_key   -- pick the key the installed Flax uses (the one ``nnx.with_partitioning`` writes), then
                        ``var.set_metadata(**{key: spec})``; asserts that no DeprecationWarning is emitted.
  fix_with_partitioning -- the reporter's fix: rebuild each Variable from ``nnx.with_partitioning(init_fn, spec,
                        mesh=mesh)``, so Flax names the key itself (0.12.0: RuntimeError, its ``mesh=`` path needs
                        a mesh context; see eager_sharding_mesh).
Each variant (silent failure: AssertionError) checks that ``nnx.get_partition_spec`` of the model reports, for the
kernel and the bias, the spec of the sharding the arrays really have (from ``jax.device_put``), and that the
arrays and the forward pass are unchanged (NumPy).

Run: python repro/sharding_metadata_key.py
"""

import os
import warnings

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

# in_features: the Linear's input width; out_per_device: output features per device (the output dimension is the
# sharded one: out_features = out_per_device * device count).
PROPERTY_SIZES = {
    "in_features": [1, 3],
    "out_per_device": [1, 2],
}


def _sharded_linear(in_features, out_per_device):
    """A Linear whose kernel and bias are sharded along their last axis over a 1-D 'model' mesh; no annotation."""
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("model",))
    layer = nnx.Linear(in_features, out_per_device * jax.device_count(), rngs=nnx.Rngs(0))

    def put(a):
        return jax.device_put(a, NamedSharding(mesh, PartitionSpec(*(None,) * (a.ndim - 1), "model")))

    nnx.update(layer, jax.tree.map(put, nnx.state(layer)))
    arrays = {"kernel": np.asarray(layer.kernel[...]), "bias": np.asarray(layer.bias[...])}
    return layer, mesh, arrays


def _array_spec(variable):
    """The spec of the sharding the Variable's array really has (the issue's ``tuple(array_sharding.spec)``)."""
    return tuple(variable[...].sharding.spec)


def _check(layer, arrays):
    """nnx.get_partition_spec must report each array's real sharding; arrays and forward pass unchanged."""
    specs = nnx.get_partition_spec(nnx.state(layer))
    for name, want in (("kernel", (None, "model")), ("bias", ("model",))):
        (got,) = jax.tree.leaves(getattr(specs, name), is_leaf=lambda s: isinstance(s, PartitionSpec))
        assert tuple(got) == want, (
            f"nnx.get_partition_spec does not report the {name} annotation set on the Variable\n"
            f"got {got}, the array is sharded as {want}"
        )
    kernel, bias = np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])
    np.testing.assert_array_equal(kernel, arrays["kernel"], err_msg="kernel changed")
    np.testing.assert_array_equal(bias, arrays["bias"], err_msg="bias changed")
    x = np.linspace(-1.0, 1.0, 2 * kernel.shape[0], dtype=np.float32).reshape(2, kernel.shape[0])
    np.testing.assert_allclose(
        np.asarray(layer(jnp.asarray(x))), x @ kernel + bias, rtol=1e-5, atol=1e-6, err_msg="forward pass != NumPy"
    )


def bug(*, in_features=3, out_per_device=2):
    """The issue's code: ``var.set_metadata("sharding_names", tuple(array_sharding.spec))``."""
    layer, _, arrays = _sharded_linear(in_features, out_per_device)
    for var in (layer.kernel, layer.bias):
        var.set_metadata("sharding_names", _array_spec(var))  # 0.12.4-0.12.5: stored, but never read
    _check(layer, arrays)


def bug_kwarg(*, in_features=3, out_per_device=2):
    """The keyword form, ``var.set_metadata(sharding_names=spec)``."""
    layer, _, arrays = _sharded_linear(in_features, out_per_device)
    for var in (layer.kernel, layer.bias):
        var.set_metadata(sharding_names=_array_spec(var))  # 0.12.4-0.12.5: stored, but never read
    _check(layer, arrays)


def bug_out_sharding(*, in_features=3, out_per_device=2):
    """The new key, ``var.set_metadata("out_sharding", spec)``: right only from 0.12.4."""
    layer, _, arrays = _sharded_linear(in_features, out_per_device)
    for var in (layer.kernel, layer.bias):
        var.set_metadata("out_sharding", _array_spec(var))  # before 0.12.4: stored, but never read
    _check(layer, arrays)


def _annotation_key():
    """The metadata key the installed Flax reads: the one nnx.with_partitioning writes."""
    metadata = nnx.with_partitioning(lambda: None, ())().metadata
    (key,) = [k for k in ("out_sharding", "sharding_names", "sharding") if k in metadata]
    return key


def fix_portable_key(*, in_features=3, out_per_device=2):
    """Set the annotation under the key the installed Flax uses; no DeprecationWarning."""
    layer, _, arrays = _sharded_linear(in_features, out_per_device)
    key = _annotation_key()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for var in (layer.kernel, layer.bias):
            var.set_metadata(**{key: _array_spec(var)})
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert not deprecations, f"DeprecationWarning emitted: {deprecations[0].message}"
    _check(layer, arrays)


def _returns(array):
    """An initialiser (taking no arguments) that returns the given array."""
    return lambda: array


def fix_with_partitioning(*, in_features=3, out_per_device=2):
    """The reporter's fix: rebuild each Variable through nnx.with_partitioning(init_fn, spec, mesh=mesh)."""
    layer, mesh, arrays = _sharded_linear(in_features, out_per_device)
    for name in ("kernel", "bias"):
        var = getattr(layer, name)
        init_fn = nnx.with_partitioning(_returns(var[...]), _array_spec(var), mesh=mesh)
        setattr(layer, name, nnx.Param(init_fn()))  # 0.12.0: RuntimeError (the mesh= path needs a mesh context)
    _check(layer, arrays)


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
