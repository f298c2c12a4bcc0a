"""nnx.metrics.Average with a mask smaller than the values counts the unbroadcast mask: the average is too large.

Upstream: https://github.com/google/flax/pull/5588 (open; masks were added to ``Average``, ``Accuracy`` and
``MultiMetric`` by https://github.com/google/flax/pull/5326, released in Flax 0.12.6).

What goes wrong: ``Average.update(values=..., mask=...)`` documents that the mask "should be broadcastable to the
shape of values". The total is ``(values * mask).sum()``, which broadcasts, but the count is ``mask.sum()``, which
does not: a ``(cols,)`` mask over ``(rows, cols)`` values counts each kept column once instead of ``rows`` times,
so ``compute()`` returns a silently wrong, too large average (the PR's example: values ``arange(6).reshape(2, 3)``,
mask ``[True, False, True]`` gives 5.0 instead of 2.5). ``Accuracy`` and ``MultiMetric`` forward their masks to
``Average.update`` and are wrong the same way. Before 0.12.6 ``update`` has no ``mask`` parameter and its
``**kwargs`` swallow the keyword: the mask is ignored and the average is the unmasked mean, also silently.

Versions named in the report: the PR (2026-09-17) reports it against main; ``mask`` exists from Flax 0.12.6.

Variants:
  bug                 -- the PR's example: ``Average().update(values=values, mask=mask)`` with a ``(cols,)`` mask
                         over ``(rows, cols)`` values, checked against the NumPy masked mean (the values are the
                         PR's ``arange`` squared: with ``arange`` and its mask the masked mean happens to equal
                         the unmasked one, which hides the ignored mask before 0.12.6).
  bug_accuracy        -- ``nnx.metrics.Accuracy().update(logits=..., labels=..., mask=mask)``, same shapes.
  bug_multimetric     -- ``nnx.MultiMetric(loss=nnx.metrics.Average('loss')).update(loss=values, mask=mask)``.
  fix_broadcast_mask  -- the PR's fix applied by the caller: ``mask=jnp.broadcast_to(mask, values.shape)``.
  fix_select_values   -- portable, outside jit: ``update(values=values[full_mask])``, no mask argument.
Every variant compares ``compute()`` with the mean of the kept entries computed by NumPy.

Run: python repro/average_broadcast_mask.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PROPERTY_SIZES = {
    "rows": [2, 5],
    "cols": [2, 3],
}


def _data(rows, cols):
    """The PR's values squared (so that the masked mean is not the unmasked one) and a mask keeping even columns."""
    values = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) ** 2
    mask = np.arange(cols) % 2 == 0
    return values, mask


def _check(got, values, mask):
    full = np.broadcast_to(mask, values.shape)
    want = np.asarray(values, np.float64)[full].mean()
    got = float(got)
    if np.isclose(got, np.asarray(values, np.float64).mean(), rtol=1e-6) and not np.isclose(got, want, rtol=1e-6):
        raise AssertionError("the mask was ignored: the metric equals the unmasked mean, not the NumPy masked mean")
    assert np.isclose(got, want, rtol=1e-6), "metric with a broadcast mask != NumPy masked mean (count too small)"


def bug(*, rows=2, cols=3):
    """The PR's example: a (cols,) mask over (rows, cols) values."""
    values, mask = _data(rows, cols)
    average = nnx.metrics.Average()
    average.update(values=jnp.asarray(values), mask=jnp.asarray(mask))
    _check(average.compute(), values, mask)


def bug_accuracy(*, rows=2, cols=3):
    """Accuracy forwards the same mask to Average.update."""
    values, mask = _data(rows, cols)
    correct = (np.arange(rows * cols).reshape(rows, cols) % 3 != 1).astype(np.float32)  # the right predictions
    labels = np.zeros((rows, cols), np.int32)
    logits = np.stack([correct, 1.0 - correct], axis=-1)  # argmax == 0 exactly where correct
    accuracy = nnx.metrics.Accuracy()
    accuracy.update(logits=jnp.asarray(logits), labels=jnp.asarray(labels), mask=jnp.asarray(mask))
    _check(accuracy.compute(), correct, mask)


def bug_multimetric(*, rows=2, cols=3):
    """MultiMetric passes its mask on to each metric."""
    values, mask = _data(rows, cols)
    metrics = nnx.MultiMetric(loss=nnx.metrics.Average("loss"))
    metrics.update(loss=jnp.asarray(values), mask=jnp.asarray(mask))
    _check(metrics.compute()["loss"], values, mask)


def fix_broadcast_mask(*, rows=2, cols=3):
    """Broadcast the mask to the values' shape before passing it."""
    values, mask = _data(rows, cols)
    average = nnx.metrics.Average()
    average.update(values=jnp.asarray(values), mask=jnp.broadcast_to(jnp.asarray(mask), values.shape))
    _check(average.compute(), values, mask)


def fix_select_values(*, rows=2, cols=3):
    """Select the kept entries with a full-shape boolean mask (eager code only: the shape depends on the mask)."""
    values, mask = _data(rows, cols)
    average = nnx.metrics.Average()
    average.update(values=jnp.asarray(values)[np.broadcast_to(mask, values.shape)])
    _check(average.compute(), values, mask)


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
