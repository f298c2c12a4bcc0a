"""Flax 0.12 eager sharding: creating a Variable with a sharding annotation outside a mesh raises ValueError.

Upstream: https://flax.readthedocs.io/en/latest/flip/4844-var-eager-sharding.html (FLIP 4844, implemented by
https://github.com/google/flax/pull/4844, commit 888f6304, released in Flax 0.12.0); the error message got a link
to the FLIP in https://github.com/google/flax/pull/5033; ``nnx.use_eager_sharding`` was added by
https://github.com/google/flax/pull/5079 (0.12.1).

What goes wrong: before Flax 0.12.0 a sharding annotation was only metadata: ``nnx.with_partitioning(init_fn,
(None, 'model'))`` on a Linear's ``kernel_init`` and ``nnx.Param(value, sharding=('model', None))`` built a model
whose arrays sat on one device, and the "Scale up on multiple devices" guide of 0.10/0.11 did exactly that
(``unsharded_model = DotReluDot(1024, rngs=nnx.Rngs(0))``) before sharding the state inside ``nnx.jit`` under
``with mesh:``. From 0.12.0 (``flax_always_shard_variable`` defaults to True) every annotated Variable is sharded
when it is created, and with no mesh in context that raises ``ValueError: An auto mesh context or metadata is
required if creating a variable with annotation sharding_names=(None, 'model'). ...`` (the annotation is printed
as ``sharding_names=`` on 0.12.0-0.12.3, ``sharding=`` on 0.12.4-0.12.5 and ``out_sharding=P(...)`` from 0.12.6).
The 0.11 guide's own sharded init, ``with mesh: create_sharded_model()``, still works on 0.12.0, fails on 0.12.1
with ``RuntimeError: jit requires a non-empty mesh in context if you are passing `PartitionSpec`s to
out_shardings. ...`` (eager sharding now shards through ``jax.jit(out_shardings=...)``, which does not see the
legacy context) and from 0.12.2 with the ValueError above (the mesh lookup no longer reads ``with mesh:`` at all).
Passing the mesh as metadata, ``with_partitioning(init_fn, spec, mesh=mesh)``, fails on 0.12.0 only: it still
applies a bare PartitionSpec, ``RuntimeError: with_sharding_constraint requires a non-empty mesh in context ...``.

Versions named in the report: the FLIP (2025-09-12) and the 0.12.0 guide; the FLIP names the opt-outs
``flax.config.update('flax_always_shard_variable', False)`` and ``nnx.Param(..., eager_sharding=False)``;
``nnx.use_eager_sharding(False)`` is 0.12.1+; the error message suggests a dummy mesh like
``jax.make_mesh((1, 1), ...)``.

Needs several devices to mean anything: this module sets ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
before JAX is imported (unless XLA_FLAGS already sets a device count). With one device the mesh fixes shard
over one device. If JAX was imported before this module, the flag has no effect: run it as its own process.

Variants:
  bug                      -- the 0.11 guide's ``DotReluDot`` (a Linear with ``kernel_init=nnx.with_partitioning(...)``
                              and an annotated ``nnx.Param`` w2) created outside any mesh.
  bug_param_sharding       -- one ``nnx.Param(value, sharding=('model', None))`` created outside any mesh.
  bug_legacy_mesh_context  -- the 0.11 guide's sharded init: ``nnx.jit`` create-and-constrain under ``with mesh:``.
  bug_mesh_metadata        -- the mesh as metadata, ``nnx.with_partitioning(init_fn, spec, mesh=mesh)``, no context.
  fix_config_flag          -- ``flax.config.update('flax_always_shard_variable', False)`` (restored afterwards).
  fix_use_eager_sharding   -- ``with nnx.use_eager_sharding(False):`` around the construction (0.12.1+).
  fix_eager_sharding_false -- per-Variable opt-out: ``eager_sharding=False`` metadata on both annotations.
  fix_set_mesh             -- construct under ``with jax.set_mesh(mesh)`` (an Auto mesh over every device): the
                              arrays come out sharded as annotated.
  fix_one_device_mesh      -- the error message's advice: construct under a dummy one-device mesh.
Every variant that returns checks the model against an identically seeded twin built without any annotation
(same arrays), its forward pass against NumPy, and that the annotations are still reported by
``nnx.get_partition_spec``; ``fix_set_mesh`` and ``bug_legacy_mesh_context`` also check that the arrays are
sharded as annotated (on 0.11.2, whose JAX 0.7.1 already has ``jax.set_mesh``, the model is built unsharded).

Run: python repro/eager_sharding_mesh.py
"""

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import flax
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

# in_features: the model's input and output width; hidden_per_device: hidden width per device (the hidden
# dimension is the sharded one, hidden = hidden_per_device * device count).
PROPERTY_SIZES = {
    "in_features": [1, 4],
    "hidden_per_device": [1, 3],
}

KERNEL_SPEC = (None, "model")
W2_SPEC = ("model", None)


class DotReluDot(nnx.Module):
    """The 0.11 guide's DotReluDot (without its activation constraint): two matmuls, annotated weights."""

    def __init__(self, in_features, hidden, rngs: nnx.Rngs, kernel_metadata=None, w2_metadata=None):
        init_fn = nnx.initializers.lecun_normal()
        self.dot1 = nnx.Linear(
            in_features,
            hidden,
            kernel_init=nnx.with_partitioning(init_fn, KERNEL_SPEC, **(kernel_metadata or {})),
            use_bias=False,
            rngs=rngs,
        )
        # The guide writes nnx.Param(init_fn(...), sharding=('model', None)); that spelling warns from 0.12.6
        # ("'sharding' is deprecated"), so w2 is annotated through with_partitioning too (bug_param_sharding
        # keeps the guide's spelling).
        w2_init = nnx.with_partitioning(init_fn, W2_SPEC, **(w2_metadata or {}))
        self.w2 = nnx.Param(w2_init(rngs.params(), (hidden, in_features)))

    def __call__(self, x):
        return jnp.dot(jax.nn.relu(self.dot1(x)), self.w2[...])


class _PlainDotReluDot(nnx.Module):
    """The same model with no annotation at all: the reference for the arrays."""

    def __init__(self, in_features, hidden, rngs: nnx.Rngs):
        init_fn = nnx.initializers.lecun_normal()
        self.dot1 = nnx.Linear(in_features, hidden, kernel_init=init_fn, use_bias=False, rngs=rngs)
        self.w2 = nnx.Param(init_fn(rngs.params(), (hidden, in_features)))


def _hidden(hidden_per_device):
    return hidden_per_device * jax.device_count()


def _mesh(n_devices):
    """A 1-D mesh over the first n_devices devices, axis 'model'. ``jax.sharding.Mesh`` makes Auto axes on every
    JAX release (``jax.make_mesh`` makes Explicit ones from JAX 0.9.0; the FLIP covers Auto mode)."""
    return jax.sharding.Mesh(np.array(jax.devices()[:n_devices]), ("model",))


def _leaf_array(variable):
    """The Variable's array, read through the state (independent of Variable accessors)."""
    (leaf,) = jax.tree.leaves(nnx.state(variable) if isinstance(variable, nnx.Module) else variable)
    return np.asarray(leaf)


def _check(model, in_features, hidden):
    """Arrays equal an unannotated twin's, forward pass equals NumPy, annotations still there."""
    twin = _PlainDotReluDot(in_features, hidden, rngs=nnx.Rngs(0))
    kernel = np.asarray(jax.device_get(model.dot1.kernel[...]))
    w2 = np.asarray(jax.device_get(model.w2[...]))
    assert kernel.shape == (in_features, hidden) and w2.shape == (hidden, in_features), "wrong shapes"
    np.testing.assert_array_equal(kernel, np.asarray(twin.dot1.kernel[...]), err_msg="kernel != unannotated twin")
    np.testing.assert_array_equal(w2, np.asarray(twin.w2[...]), err_msg="w2 != unannotated twin")
    x = np.linspace(-1.0, 1.0, 2 * in_features, dtype=np.float32).reshape(2, in_features)
    want = np.maximum(x @ kernel, 0.0) @ w2
    np.testing.assert_allclose(
        np.asarray(model(jnp.asarray(x))), want, rtol=1e-5, atol=1e-6, err_msg="forward pass != NumPy"
    )
    specs = nnx.get_partition_spec(nnx.state(model))
    got = jax.tree.leaves(specs, is_leaf=lambda s: isinstance(s, PartitionSpec))
    assert sorted(map(tuple, got), key=str) == sorted([KERNEL_SPEC, W2_SPEC], key=str), (
        f"annotations lost: nnx.get_partition_spec gives {got}"
    )


def _check_sharded(model, mesh):
    for name, array, spec in (("kernel", model.dot1.kernel[...], KERNEL_SPEC), ("w2", model.w2[...], W2_SPEC)):
        assert array.sharding.is_equivalent_to(NamedSharding(mesh, PartitionSpec(*spec)), 2), (
            f"{name} is not sharded as annotated\n{array.sharding}"
        )


def bug(*, in_features=4, hidden_per_device=3):
    """The 0.11 guide's ``unsharded_model = DotReluDot(...)``: annotated model created outside any mesh."""
    hidden = _hidden(hidden_per_device)
    unsharded_model = DotReluDot(in_features, hidden, rngs=nnx.Rngs(0))  # 0.12.0+: ValueError, no mesh
    _check(unsharded_model, in_features, hidden)


def bug_param_sharding(*, in_features=4, hidden_per_device=3):
    """A single ``nnx.Param(value, sharding=...)`` created outside any mesh."""
    hidden = _hidden(hidden_per_device)
    value = nnx.initializers.lecun_normal()(jax.random.key(0), (hidden, in_features))
    w2 = nnx.Param(value, sharding=W2_SPEC)  # 0.12.0+: ValueError, no mesh
    np.testing.assert_array_equal(np.asarray(w2[...]), np.asarray(value), err_msg="Param value != its input")


def bug_legacy_mesh_context(*, in_features=4, hidden_per_device=3):
    """The 0.11 guide's sharded init: nnx.jit(create, constrain, update) under the legacy ``with mesh:``."""
    hidden = _hidden(hidden_per_device)
    mesh = _mesh(jax.device_count())

    @nnx.jit
    def create_sharded_model():
        model = DotReluDot(in_features, hidden, rngs=nnx.Rngs(0))  # Unsharded at this moment.
        state = nnx.state(model)  # The model's state, a pure pytree.
        pspecs = nnx.get_partition_spec(state)  # Strip out the annotations from state.
        sharded_state = jax.lax.with_sharding_constraint(state, pspecs)
        nnx.update(model, sharded_state)  # The model is sharded now!
        return model

    with mesh:
        sharded_model = create_sharded_model()  # 0.12.3+: ValueError, the legacy context is not seen
    _check_sharded(sharded_model, mesh)
    _check(sharded_model, in_features, hidden)


def bug_mesh_metadata(*, in_features=4, hidden_per_device=3):
    """The mesh passed as metadata (``mesh=mesh``) instead of a mesh context."""
    hidden = _hidden(hidden_per_device)
    mesh = _mesh(jax.device_count())
    model = DotReluDot(
        in_features, hidden, rngs=nnx.Rngs(0), kernel_metadata={"mesh": mesh}, w2_metadata={"mesh": mesh}
    )  # 0.12.0: RuntimeError, a bare PartitionSpec needs a mesh context
    _check(model, in_features, hidden)


def fix_config_flag(*, in_features=4, hidden_per_device=3):
    """The FLIP's global opt-out: ``flax.config.update('flax_always_shard_variable', False)``."""
    hidden = _hidden(hidden_per_device)
    old = flax.config.flax_always_shard_variable  # before 0.12.0: AttributeError, no such flag
    flax.config.update("flax_always_shard_variable", False)
    try:
        model = DotReluDot(in_features, hidden, rngs=nnx.Rngs(0))
    finally:
        flax.config.update("flax_always_shard_variable", old)
    _check(model, in_features, hidden)


def fix_use_eager_sharding(*, in_features=4, hidden_per_device=3):
    """``with nnx.use_eager_sharding(False):`` around the construction (0.12.1+)."""
    hidden = _hidden(hidden_per_device)
    with nnx.use_eager_sharding(False):
        model = DotReluDot(in_features, hidden, rngs=nnx.Rngs(0))
    _check(model, in_features, hidden)


def fix_eager_sharding_false(*, in_features=4, hidden_per_device=3):
    """The FLIP's per-Variable opt-out: ``eager_sharding=False`` next to each annotation."""
    hidden = _hidden(hidden_per_device)
    model = DotReluDot(
        in_features,
        hidden,
        rngs=nnx.Rngs(0),
        kernel_metadata={"eager_sharding": False},
        w2_metadata={"eager_sharding": False},
    )
    _check(model, in_features, hidden)


def fix_set_mesh(*, in_features=4, hidden_per_device=3):
    """Construct under ``jax.set_mesh`` with an Auto mesh over every device: sharded as annotated."""
    hidden = _hidden(hidden_per_device)
    mesh = _mesh(jax.device_count())
    with jax.set_mesh(mesh):
        model = DotReluDot(in_features, hidden, rngs=nnx.Rngs(0))
    _check_sharded(model, mesh)
    _check(model, in_features, hidden)


def fix_one_device_mesh(*, in_features=4, hidden_per_device=3):
    """The error message's advice: a dummy one-device mesh around the construction."""
    hidden = _hidden(hidden_per_device)
    set_mesh = getattr(jax, "set_mesh", None) or jax.sharding.use_mesh  # JAX >= 0.7.1 / 0.5.0-0.7.1
    with set_mesh(_mesh(1)):
        model = DotReluDot(in_features, hidden, rngs=nnx.Rngs(0))
    _check(model, in_features, hidden)


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
