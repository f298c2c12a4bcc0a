"""The conformance tests: every case and variant in matrix.yaml, run against the installed Flax and JAX.

Ids read ``<case>-<variant>`` (``rnn_jit-bug``). A variant expected to fail on these versions is a strict
xfail bound to the exception and message matrix.yaml names; a bug that stops reproducing fails the run as a
strict XPASS, and a fix that breaks fails with its own exception (see flax_regressions/incell/plugin.py).
"""

import pytest

from flax_regressions.incell.plugin import check_variant


def test_variant(case: str, variant: str, request: pytest.FixtureRequest) -> None:
    check_variant(case, variant, request.node)
