"""nnx.jit(backend=...) and nnx.jit(device=...) always raise: nnx.jit passes out_shardings to jax.jit.

Upstream: https://github.com/google/flax/issues/4774 (open, "Priority: P1 - soon").

What goes wrong: ``nnx.jit`` forwards ``backend``/``device`` to ``jax.jit`` but always also passes its own
``out_shardings`` (a tuple for its internal state outputs), and jax.jit refuses the combination:
``ValueError: If backend or device is specified on jit, then out_shardings should not be specified.`` -- for any
function, at the first call. JAX itself deprecates ``backend``/``device`` on jit (``DeprecationWarning: backend
and device argument on jit is deprecated. You can use `jax.device_put(..., jax.local_devices(backend=...)[0])`
...``), so the workarounds place the data instead.

This module sets ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` before JAX is imported (unless XLA_FLAGS
already sets a device count) so that on CPU the target device, ``jax.devices()[-1]``, is not the default one and
the fixes' placement check means something. If JAX was imported before this module, run it as its own process.

Versions named in the report: Flax 0.10.6, jax 0.6.0 (CUDA). Measured on every release: still open.

Variants:
  bug                 -- the issue's code: an nnx.Linear(3, 4) called through ``nnx.jit(..., backend=...)``
                         (the backend of the target device, 'cpu' here).
  bug_device          -- the same with ``device=jax.devices()[-1]``.
  fix_device_put      -- no backend/device argument: ``jax.device_put`` the module's state and the input onto the
                         target device, then call the plain ``nnx.jit`` function (computation follows the data).
  fix_default_device  -- no backend/device argument: build the module and the input and call the plain ``nnx.jit``
                         function inside ``with jax.default_device(target)``.
Each fix checks the result against NumPy (``x @ kernel + bias``) and that the result lives on the target device.

Run: python repro/jit_backend.py
"""

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

PROPERTY_SIZES = {
    "in_features": [1, 3],
    "out_features": [1, 4],
    "batch": [1, 2],
}


def _target():
    return jax.devices()[-1]


def _forward(model, x):
    return model(x)


def _check(y, model, x, target):
    """y must be x @ kernel + bias (NumPy) and live on the target device."""
    w, b = np.asarray(model.kernel[...], np.float64), np.asarray(model.bias[...], np.float64)
    np.testing.assert_allclose(
        np.asarray(y),
        np.asarray(x, np.float64) @ w + b,
        rtol=1e-5,
        atol=1e-6,
        err_msg="output != NumPy x @ kernel + bias",
    )
    assert set(y.devices()) == {target}, f"output is on {set(y.devices())}, not on {target}"


def bug(*, in_features=3, out_features=4, batch=1):
    """The issue's call: nnx.jit with backend=..."""
    model = nnx.Linear(in_features, out_features, rngs=nnx.Rngs(0))
    forward = nnx.jit(_forward, backend=_target().platform)
    forward(model, jnp.ones((batch, in_features)))  # ValueError: ... out_shardings should not be specified.


def bug_device(*, in_features=3, out_features=4, batch=1):
    """nnx.jit with device=..."""
    model = nnx.Linear(in_features, out_features, rngs=nnx.Rngs(0))
    forward = nnx.jit(_forward, device=_target())
    forward(model, jnp.ones((batch, in_features)))


def fix_device_put(*, in_features=3, out_features=4, batch=1):
    """Put the module's state and the input on the target device; jit without backend/device."""
    target = _target()
    model = nnx.Linear(in_features, out_features, rngs=nnx.Rngs(0))
    nnx.update(model, jax.device_put(nnx.state(model), target))
    x = jax.device_put(jnp.linspace(-1.0, 1.0, batch * in_features).reshape(batch, in_features), target)
    y = nnx.jit(_forward)(model, x)
    _check(y, model, x, target)


def fix_default_device(*, in_features=3, out_features=4, batch=1):
    """Build and call everything under jax.default_device(target); jit without backend/device."""
    target = _target()
    with jax.default_device(target):
        model = nnx.Linear(in_features, out_features, rngs=nnx.Rngs(0))
        x = jnp.linspace(-1.0, 1.0, batch * in_features).reshape(batch, in_features)
        y = nnx.jit(_forward)(model, x)
    _check(y, model, x, target)


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
    print(
        f"flax {version('flax')}  jax {version('jax')}  jaxlib {version('jaxlib')}  backend {jax.default_backend()}"
        f"  devices {jax.device_count()}"
    )


if __name__ == "__main__":
    main()
