"""`from flax import nnx` fails on Flax 0.12.9 with JAX 0.11.2: jax.experimental.hijax has no HiPrimitive.

Upstream: https://github.com/google/flax/issues/5596 (open when filed; Flax 0.12.10 no longer names
``hjx.HiPrimitive``: it uses ``getattr(hjx, 'HiPrim', None) or hjx.VJPHiPrimitive``).

What goes wrong: flax/nnx/variablelib.py defines its hijax primitives as subclasses of
``jax.experimental.hijax.HiPrimitive`` at import time (Flax 0.12.1-0.12.9). JAX 0.11.2 renamed that class
(``HiPrim``), so importing ``flax.nnx`` raises ``AttributeError: module 'jax.experimental.hijax' has no attribute
'HiPrimitive'``. ``import flax``, ``flax.linen`` and ``flax.struct`` still import. Flax declares no upper bound on
jax (0.12.9: ``jax>=0.11.1``), so a fresh ``pip install flax==0.12.9`` after 2026-09-17 gets the broken pair; the
outcome is decided by the JAX version, not by Flax alone. Measured: 0.12.8 with jax 0.11.2 fails the same way;
0.12.5 with jax 0.11.2 fails earlier (``jax.core.Effect`` was removed in JAX 0.11.0). The real fixes are
environment changes, ``jax<0.11.2`` or ``flax>=0.12.10``, so this case has no ``fix_*`` function.

Variants run their imports in a fresh interpreter (``sys.executable -c ...``): once ``flax.nnx`` is imported (or
half-imported) in this process, the other variants could not observe the import again. A child's exception is
re-raised here with the same built-in type and message (RuntimeError for non-built-in types). A process that
has already imported ``flax.nnx`` runs the check itself: there the import is known to have worked.

Versions named in the report: Flax 0.12.9, jax/jaxlib 0.11.2, Python 3.14 (macOS). Reproduced here with
Python 3.12 on Linux (environment ``flax==0.12.9 jax==0.11.2 jaxlib==0.11.2``).

Variants:
  bug  -- ``from flax import nnx``, then an nnx.Linear forward pass checked against NumPy.

Run: python repro/hijax_jax.py
"""

import builtins
import subprocess
import sys
import textwrap

PROPERTY_SIZES = {
    "features": [1, 3],
    "batch": [1, 4],
}

_FORWARD_CHECK = """
import numpy as np
import jax, jax.numpy as jnp
from flax import nnx
features, batch = {features}, {batch}
layer = nnx.Linear(features, 2, rngs=nnx.Rngs(0))
x = np.linspace(-1.0, 1.0, batch * features, dtype=np.float32).reshape(batch, features)
want = x.astype(np.float64) @ np.asarray(layer.kernel[...], np.float64) + np.asarray(layer.bias[...], np.float64)
np.testing.assert_allclose(np.asarray(layer(jnp.asarray(x))), want, rtol=1e-5, atol=1e-6, err_msg="forward != NumPy")
"""


def _run_isolated(code):
    """Run `code` in a fresh interpreter; re-raise its exception (built-in type, same message) here.

    Where this process has imported ``flax.nnx`` already (a test run of many repro modules), the import is known to
    work here, and the check runs in this process instead: the same observation, without a second interpreter.
    """
    if "flax.nnx" in sys.modules:
        exec(code, {})
        return
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if proc.returncode == 0:
        return
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit status {proc.returncode}"
    name, sep, message = last.partition(": ")
    exc_type = getattr(builtins, name, None) if sep else None
    if isinstance(exc_type, type) and issubclass(exc_type, Exception):
        raise exc_type(message)
    raise RuntimeError(last)


def bug(*, features=3, batch=4):
    """`from flax import nnx` in a fresh interpreter, then a forward pass against NumPy."""
    _run_isolated(textwrap.dedent(_FORWARD_CHECK.format(features=features, batch=batch)))


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
    import jax

    print(f"flax {version('flax')}  jax {version('jax')}  jaxlib {version('jaxlib')}  backend {jax.default_backend()}")


if __name__ == "__main__":
    main()
