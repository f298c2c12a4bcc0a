"""Flax 0.10.6 removed the NNX class transforms (nnx.Scan, nnx.Jit, nnx.Vmap, nnx.Remat, nnx.Pmap): AttributeError.

Upstream: https://github.com/google/flax/pull/4627 ("[nnx] remove deprecated APIs": removes
``nnx.transforms.deprecated``, which defined the class transforms), released in Flax 0.10.6.

What goes wrong: up to Flax 0.10.5 a Module class could be lifted with ``nnx.Scan.constructor(Block, length=n,
...)``, ``nnx.Jit.constructor(Module)``, ``nnx.Vmap.constructor(...)``, ``nnx.Remat.constructor(...)`` (and
``nnx.Pmap``): each returns a factory that builds a wrapper Module whose calls run under the transform. They
lived in ``flax/nnx/transforms/deprecated.py`` but emitted no warning. PR #4627 deleted that file, so from
0.10.6 ``nnx.Scan`` raises ``AttributeError: module 'flax.nnx' has no attribute 'Scan'``. Code that followed
the Flax test ``test_basic_combinator`` or the 2024 "Haiku and Linen vs NNX" guide ("In NNX, we use
``nnx.Scan.constructor()`` to define a stack of Block modules") can no longer build its model. The function
transforms (``nnx.vmap`` to create a stack of layers, ``nnx.scan`` to apply it, ``nnx.jit``, ``nnx.remat``)
exist on every release measured and replace them. ``nnx.Pmap`` is gone too but is not exercised here.

Versions named in the report: removed by PR #4627 (2025-03-15), first absent in Flax 0.10.6.

Variants:
  bug          -- ``nnx.Scan.constructor(Block, state_axes={nnx.Param: 0}, length=layers)(rngs=...)`` then
                  ``y, _ = module(x)`` (Flax's test_basic_combinator).
  bug_jit      -- ``nnx.Jit.constructor(nnx.Linear)(din, dout, rngs=...)`` then a call.
  bug_vmap     -- ``nnx.Vmap.constructor(nnx.Linear, axis_size=layers)(...)`` then a call over stacked inputs.
  bug_remat    -- ``nnx.Remat.constructor(nnx.Linear)(...)``, a call and ``nnx.grad`` through it.
  fix_vmap_scan -- the function transforms: ``nnx.split_rngs`` + ``nnx.vmap`` to create the stack of Blocks,
                  ``nnx.scan`` with ``in_axes=(nnx.Carry, 0)`` to apply it.
  fix_jit      -- ``nnx.jit`` over a function that calls the Linear.
  fix_vmap     -- ``nnx.vmap`` to create the stacked Linear and ``nnx.vmap(..., in_axes=(0, 0))`` to call it.
  fix_remat    -- ``nnx.remat`` over a function that calls the Linear, with ``nnx.grad`` through it.
Every variant checks its outputs (and gradients, for remat) against NumPy computed from the module's own
weights: a loop over the stacked layers for scan, one matrix product per stacked layer for vmap.

Run: python repro/class_transforms_removed.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "features": [1, 3],
    "layers": [1, 3],
    "batch": [1, 2],
}


def _block_class(features):
    class Block(nnx.Module):
        """A Linear layer and tanh; returns (y, None) as the scan class transform expects."""

        def __init__(self, *, rngs: nnx.Rngs):
            self.linear = nnx.Linear(features, features, rngs=rngs)

        def __call__(self, x):
            return jnp.tanh(self.linear(x)), None

    return Block


def _x(*shape):
    return np.linspace(-1.0, 1.0, int(np.prod(shape)), dtype=np.float32).reshape(shape)


def _check_stack(y, linear, x, layers, features):
    """y must be the NumPy loop over the stacked kernels/biases of `linear`."""
    w, b = np.asarray(linear.kernel[...]), np.asarray(linear.bias[...])
    assert w.shape == (layers, features, features), f"stacked kernel has shape {w.shape}"
    assert b.shape == (layers, features), f"stacked bias has shape {b.shape}"
    assert layers == 1 or not np.allclose(w[0], w[-1]), "every layer got the same kernel"
    want = x
    for i in range(layers):
        want = np.tanh(want @ w[i] + b[i])
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-6, err_msg="scan output != NumPy loop")


def _check_linear(y, linear, x):
    w, b = np.asarray(linear.kernel[...]), np.asarray(linear.bias[...])
    np.testing.assert_allclose(np.asarray(y), x @ w + b, rtol=1e-5, atol=1e-6, err_msg="output != NumPy x @ w + b")


def _check_vmapped(y, linear, x, layers):
    w, b = np.asarray(linear.kernel[...]), np.asarray(linear.bias[...])
    assert w.shape[0] == layers and b.shape[0] == layers, f"kernel {w.shape}, bias {b.shape}: not stacked"
    want = np.stack([x[i] @ w[i] + b[i] for i in range(layers)])
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-6, err_msg="vmapped output != NumPy")


def _check_grads(grads, linear, x):
    """Gradient of sum((x @ w + b) ** 2) against NumPy: dw = x.T @ 2y, db = sum(2y)."""
    w, b = np.asarray(linear.kernel[...]), np.asarray(linear.bias[...])
    dy = 2.0 * (x @ w + b)
    leaves = [np.asarray(a) for a in jax.tree.leaves(grads)]
    kernels = [a for a in leaves if a.ndim == 2]
    biases = [a for a in leaves if a.ndim == 1]
    assert len(kernels) == 1 and len(biases) == 1, f"gradient leaves: {[a.shape for a in leaves]}"
    np.testing.assert_allclose(kernels[0], x.T @ dy, rtol=1e-5, atol=1e-5, err_msg="kernel gradient != NumPy")
    np.testing.assert_allclose(biases[0], dy.sum(axis=0), rtol=1e-5, atol=1e-5, err_msg="bias gradient != NumPy")


def bug(*, features=3, layers=3, batch=2):
    """Flax's test_basic_combinator: nnx.Scan.constructor builds a stack of Blocks (removed in 0.10.6)."""
    Block = _block_class(features)
    MLP = nnx.Scan.constructor(Block, state_axes={nnx.Param: 0}, length=layers)  # 0.10.6+: AttributeError
    module = MLP(rngs=nnx.Rngs(0))
    x = _x(batch, features)
    y, out = module(jnp.asarray(x))
    assert out is None
    _check_stack(y, module.scan_module.linear, x, layers, features)


def bug_jit(*, features=3, layers=3, batch=2):
    """nnx.Jit.constructor(nnx.Linear): a Linear whose calls are jitted."""
    module = nnx.Jit.constructor(nnx.Linear)(features, features, rngs=nnx.Rngs(0))  # 0.10.6+: AttributeError
    x = _x(batch, features)
    _check_linear(module(jnp.asarray(x)), module.jit_module, x)


def bug_vmap(*, features=3, layers=3, batch=2):
    """nnx.Vmap.constructor(nnx.Linear, axis_size=layers): a stack of Linears called on stacked inputs."""
    module = nnx.Vmap.constructor(nnx.Linear, axis_size=layers)(features, features, rngs=nnx.Rngs(0))
    x = _x(layers, batch, features)
    _check_vmapped(module(jnp.asarray(x)), module.vmap_module, x, layers)


def bug_remat(*, features=3, layers=3, batch=2):
    """nnx.Remat.constructor(nnx.Linear): a rematerialized Linear, differentiated with nnx.grad."""
    module = nnx.Remat.constructor(nnx.Linear)(features, features, rngs=nnx.Rngs(0))  # 0.10.6+: AttributeError
    x = _x(batch, features)
    _check_linear(module(jnp.asarray(x)), module.remat_module, x)
    grads = nnx.grad(lambda m: jnp.sum(m(jnp.asarray(x)) ** 2))(module)
    _check_grads(grads, module.remat_module, x)


def fix_vmap_scan(*, features=3, layers=3, batch=2):
    """nnx.split_rngs + nnx.vmap create the stack, nnx.scan applies it."""
    Block = _block_class(features)

    @nnx.split_rngs(splits=layers)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def create_blocks(rngs: nnx.Rngs):
        return Block(rngs=rngs)

    blocks = create_blocks(nnx.Rngs(0))

    @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
    def forward(x, block):
        y, _ = block(x)
        return y

    x = _x(batch, features)
    _check_stack(forward(jnp.asarray(x), blocks), blocks.linear, x, layers, features)


def fix_jit(*, features=3, layers=3, batch=2):
    """nnx.jit over a function of the module."""
    linear = nnx.Linear(features, features, rngs=nnx.Rngs(0))

    @nnx.jit
    def forward(model, x):
        return model(x)

    x = _x(batch, features)
    _check_linear(forward(linear, jnp.asarray(x)), linear, x)


def fix_vmap(*, features=3, layers=3, batch=2):
    """nnx.vmap to create a stack of Linears and to call it."""

    @nnx.split_rngs(splits=layers)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def create(rngs: nnx.Rngs):
        return nnx.Linear(features, features, rngs=rngs)

    linear = create(nnx.Rngs(0))

    @nnx.vmap(in_axes=(0, 0), out_axes=0)
    def forward(model, x):
        return model(x)

    x = _x(layers, batch, features)
    _check_vmapped(forward(linear, jnp.asarray(x)), linear, x, layers)


def fix_remat(*, features=3, layers=3, batch=2):
    """nnx.remat over a function of the module, differentiated with nnx.grad."""
    linear = nnx.Linear(features, features, rngs=nnx.Rngs(0))

    @nnx.remat
    def forward(model, x):
        return model(x)

    x = _x(batch, features)
    _check_linear(forward(linear, jnp.asarray(x)), linear, x)
    grads = nnx.grad(lambda m: jnp.sum(forward(m, jnp.asarray(x)) ** 2))(linear)
    _check_grads(grads, linear, x)


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
