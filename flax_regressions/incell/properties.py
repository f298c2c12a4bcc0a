"""Property-based conformance: hold a variant to its matrix.yaml rule over generated sizes and settings.

incell/property_tests.py draws keyword arguments for every variant from its repro module's ``PROPERTY_SIZES``
and calls ``check_example`` with each draw. The rule is the one incell/conformance_tests.py holds the documented
call to: a working fix must pass (it checks itself against its own independent reference), a variant
expected to fail must fail with the same exception and message.
Unlike the conformance tests, an expected failure is no xfail here: the property either holds (the test
passes) or hypothesis reports the smallest example where it does not, with the one command that reruns
exactly that example.

Profiles (registered before hypothesis reads ``--hypothesis-profile``): ``ci``, the default, is
derandomized and small so that it fits in every matrix cell; ``thorough`` draws more examples at random.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import pytest
from hypothesis import note, settings

from flax_regressions.core.failure import first_line
from flax_regressions.core.variant import is_bug
from flax_regressions.incell.context import CellContext, cell_context

CI_EXAMPLES = 1
THOROUGH_EXAMPLES = 40
SCOPES = ("all", "workarounds")  # --properties: which variants a cell holds over generated sizes


def register_profiles() -> None:
    """Register ``ci`` and ``thorough`` and load ``ci``; ``--hypothesis-profile`` then overrides it."""
    settings.register_profile(
        "ci", derandomize=True, max_examples=CI_EXAMPLES, deadline=None, database=None, print_blob=True
    )
    settings.register_profile(
        "thorough", derandomize=False, max_examples=THOROUGH_EXAMPLES, deadline=None, database=None, print_blob=True
    )
    settings.load_profile("ci")


def parametrize(metafunc: pytest.Metafunc) -> None:
    """Parametrize a property test by (case, variant), with the conformance tests' ids (incell.plugin), but with
    no xfail: an unknown (no rule for these versions) is skipped, conformance_tests.py reports it.

    ``--properties=workarounds`` (what the main job gives its cells) holds only the workarounds that work here over
    generated sizes, the claims a team's code rests on: that a bug reproduces, or a workaround fails, at other sizes
    too is the catalogue's precision, which every other run (``run --flax``, the sweep, bisect's probes) holds.
    It kept the main job within its time budget as the catalogue grew (docs/development)."""
    workarounds_only = metafunc.config.getoption("--properties") == "workarounds"
    params = []
    for case, variant, rule in cell_context(metafunc.config).expectations:
        skip: str | None
        if rule is None:
            skip = f"unknown: no expectation for {case}-{variant}"
        elif workarounds_only and (is_bug(variant) or rule.expect != "pass"):
            skip = f"{case}-{variant}: held at its documented call alone here (--properties=workarounds)"
        else:
            skip = None
        params.append(pytest.param(case, variant, marks=[pytest.mark.skip(reason=skip)] if skip else []))
    metafunc.parametrize(("case", "variant"), params)


def _arguments(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def reproduce_command(context: CellContext, case: str, variant: str, kwargs: dict[str, Any]) -> str:
    """The shell command that runs this variant with these arguments, in this interpreter, on this backend."""
    code = (
        f"import sys; sys.path.insert(0, {str(context.matrix.repro_dir(case))!r}); "
        f"import {case}; {case}.{variant}({_arguments(kwargs)})"
    )
    return f"JAX_PLATFORMS={context.backend} {shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def check_example(config: pytest.Config, case: str, variant: str, kwargs: dict[str, Any]) -> None:
    """Run one generated example and hold it to its rule; raise (for hypothesis to shrink) where it does not."""
    context = cell_context(config)
    rule = context.rule(case, variant)
    assert rule is not None, "parametrize skips a variant with no rule here"
    note(f"reproduce: {reproduce_command(context, case, variant, kwargs)}")
    exc, _ = context.run(case, variant, kwargs)
    if rule.expect == "pass":
        if exc is not None:
            raise exc  # the fix broke for these sizes: its own assertion or error, with its traceback
        return
    where = f"{case}-{variant}({_arguments(kwargs)})"
    if exc is None:
        raise AssertionError(f"{where} passed, but matrix.yaml expects it to {rule.describe()} on {context.where}")
    if not rule.matches(exc):
        raise AssertionError(
            f"{where} failed differently: {type(exc).__name__}: {first_line(exc)}; "
            f"matrix.yaml expects it to {rule.describe()} on {context.where}"
        ) from exc
