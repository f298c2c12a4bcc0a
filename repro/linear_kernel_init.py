"""Flax 0.12.1 layers no longer keep `kernel_init` / `bias_init`: re-initialising from them raises AttributeError.

Upstream: https://github.com/google/flax/pull/4998 (commit d81ce1db "Removed *_init atttributes from layers",
released in Flax 0.12.1), which fixes https://github.com/google/flax/issues/4994 ("kernel_init and bias_init part
of nnx.Linear graphdef and affect jit").

What goes wrong: up to Flax 0.12.0, ``nnx.Linear``, ``nnx.Conv``, ``nnx.Einsum`` (and LinearGeneral,
ConvTranspose, Embed, MultiHeadAttention and the normalisation layers) stored their initialisers as static
attributes. Issue #4994: they are part of the layer's GraphDef, so two Linears that differ only in ``kernel_init``
have different GraphDefs and ``nnx.jit`` traces and compiles once per initialiser. PR #4998 stopped storing them
(the constructor still takes them), so from 0.12.1 code that reads them back, e.g. to re-initialise a layer
in place with ``layer.kernel_init(key, layer.kernel.shape, layer.param_dtype)``, raises ``AttributeError: 'Linear'
object has no attribute 'kernel_init'`` (likewise ``'Conv'`` / ``'Einsum'``, and ``bias_init``). The attributes
``in_features``, ``out_features``, ``use_bias``, ``param_dtype`` etc. are still there. The workaround is to keep
the initialisers yourself, outside the layer.

Versions named in the report: the issue (2025-10-02) was against Flax 0.12.0; PR #4998 is in 0.12.1
(2025-11-19). The PR's description and test name the layers changed; the CHANGELOG does not mention it.

Variants:
  bug                    -- ``reset_parameters(layer, key)`` for an ``nnx.Linear``: new kernel and bias from
                            ``layer.kernel_init`` / ``layer.bias_init``, written back with ``nnx.update``.
  bug_conv               -- the same for an ``nnx.Conv`` (kernel_size 3).
  bug_einsum             -- the same for an ``nnx.Einsum('ik,kj->ij', (in, out), (out,))``.
  bug_graphdef_retrace   -- issue #4994: two Linears that differ only in ``kernel_init`` go through one
                            ``nnx.jit`` function; it must trace once (silent: AssertionError when it traces twice).
  fix_keep_initializers  -- keep the initialisers in your own dict next to the layer and reset from them (works
                            for Linear, Conv and Einsum alike; the layer is built from the same dict).
Each reset checks the new kernel against ``jax.random.normal(key, shape) * STDDEV`` and the bias against
``np.full(shape, BIAS)`` (jax.random and NumPy, no Flax initialiser; the parameters were moved away from their
initial values first, as training would), and the layer's forward pass against NumPy (a 'SAME' 1-D convolution
for Conv).

Run: python repro/linear_kernel_init.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "in_features": [1, 3],
    "out_features": [1, 4],
}

STDDEV = 0.5
BIAS = 0.25


def _initializers():
    """The initialisers the layers are built with: a normal kernel and a constant bias."""
    return {"kernel": nnx.initializers.normal(STDDEV), "bias": nnx.initializers.constant(BIAS)}


def _make(kind, in_features, out_features, inits):
    rngs = nnx.Rngs(0)
    kwargs = {"kernel_init": inits["kernel"], "bias_init": inits["bias"], "rngs": rngs}
    if kind == "linear":
        return nnx.Linear(in_features, out_features, **kwargs)
    if kind == "conv":
        return nnx.Conv(in_features, out_features, kernel_size=(3,), **kwargs)
    return nnx.Einsum("ik,kj->ij", (in_features, out_features), (out_features,), **kwargs)


def _perturb(layer):
    """Stand-in for training: move every parameter away from its initial value."""
    nnx.update(layer, jax.tree.map(lambda a: a * 3.0 - 1.0, nnx.state(layer)))


def _write(layer, kernel, bias):
    """Write a new kernel and bias through nnx.update (the bias is the only 1-D leaf)."""
    leaves, treedef = jax.tree.flatten(nnx.state(layer))
    nnx.update(layer, jax.tree.unflatten(treedef, [bias if np.ndim(a) == 1 else kernel for a in leaves]))


def _forward_reference(kind, x, kernel, bias):
    if kind == "conv":  # 'SAME' padding, stride 1, kernel size 3, x: (batch, length, in_features)
        xp = np.pad(x, ((0, 0), (1, 1), (0, 0)))
        return sum(xp[:, i : i + x.shape[1]] @ kernel[i] for i in range(3)) + bias
    return x @ kernel + bias


def _check_reset(kind, layer, key, in_features, out_features):
    leaves = [np.asarray(a) for a in jax.tree.leaves(nnx.state(layer))]
    (kernel,) = [a for a in leaves if a.ndim > 1]
    (bias,) = [a for a in leaves if a.ndim == 1]
    kkey, _ = jax.random.split(key)
    want_kernel = np.asarray(jax.random.normal(kkey, kernel.shape, jnp.float32)) * STDDEV
    np.testing.assert_allclose(
        kernel, want_kernel, rtol=1e-6, atol=1e-7, err_msg="reset kernel != jax.random.normal(key, shape) * STDDEV"
    )
    np.testing.assert_array_equal(
        bias, np.full((out_features,), BIAS, np.float32), err_msg="reset bias != NumPy constant"
    )
    shape = (2, 5, in_features) if kind == "conv" else (2, in_features)
    x = np.linspace(-1.0, 1.0, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    np.testing.assert_allclose(
        np.asarray(layer(jnp.asarray(x))),
        _forward_reference(kind, x, kernel, bias),
        rtol=1e-5,
        atol=1e-5,
        err_msg="forward pass after the reset != NumPy",
    )


def reset_parameters(layer, key):
    """The pre-0.12.1 idiom: re-initialise a layer from the initialisers it keeps."""
    kkey, bkey = jax.random.split(key)
    kernel = layer.kernel_init(kkey, layer.kernel.shape, layer.param_dtype)  # 0.12.1+: AttributeError
    bias = layer.bias_init(bkey, layer.bias.shape, layer.param_dtype)
    _write(layer, kernel, bias)


def _bug(kind, in_features, out_features):
    layer = _make(kind, in_features, out_features, _initializers())
    _perturb(layer)
    key = jax.random.key(7)
    reset_parameters(layer, key)
    _check_reset(kind, layer, key, in_features, out_features)


def bug(*, in_features=3, out_features=4):
    """Re-initialise an nnx.Linear from ``layer.kernel_init`` / ``layer.bias_init``."""
    _bug("linear", in_features, out_features)


def bug_conv(*, in_features=3, out_features=4):
    """Re-initialise an nnx.Conv from ``layer.kernel_init`` / ``layer.bias_init``."""
    _bug("conv", in_features, out_features)


def bug_einsum(*, in_features=3, out_features=4):
    """Re-initialise an nnx.Einsum from ``layer.kernel_init`` / ``layer.bias_init``."""
    _bug("einsum", in_features, out_features)


def bug_graphdef_retrace(*, in_features=3, out_features=4):
    """Issue #4994: Linears that differ only in kernel_init must share one nnx.jit trace."""
    traces = []

    @nnx.jit
    def forward(model, x):
        traces.append(None)
        return model(x)

    x = jnp.asarray(np.linspace(-1.0, 1.0, 2 * in_features, dtype=np.float32).reshape(2, in_features))
    for kernel_init in (nnx.initializers.zeros, nnx.initializers.ones):
        layer = nnx.Linear(in_features, out_features, kernel_init=kernel_init, rngs=nnx.Rngs(0))
        kernel, bias = np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])
        np.testing.assert_allclose(
            np.asarray(forward(layer, x)),
            np.asarray(x) @ kernel + bias,
            rtol=1e-5,
            atol=1e-6,
            err_msg="forward pass != NumPy",
        )
    assert len(traces) == 1, "nnx.jit traced again for a Linear that differs only in kernel_init"


def fix_keep_initializers(*, in_features=3, out_features=4):
    """Keep the initialisers yourself (a dict next to the layer) and reset from them."""
    for kind in ("linear", "conv", "einsum"):
        inits = _initializers()
        layer = _make(kind, in_features, out_features, inits)
        _perturb(layer)
        key = jax.random.key(7)
        kkey, bkey = jax.random.split(key)
        kernel = inits["kernel"](kkey, layer.kernel.shape, layer.param_dtype)
        bias = inits["bias"](bkey, layer.bias.shape, layer.param_dtype)
        _write(layer, kernel, bias)
        _check_reset(kind, layer, key, in_features, out_features)


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
