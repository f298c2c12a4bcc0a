"""The property machinery on a made-up case: what passes, what fails and how, profiles, the results file.

The made-up variants take one size ``n`` (drawn from 1..6) and misbehave from n = 3 on, so each test shows
what a property failure looks like (the shrunk example and the one command that reruns it) without Flax.
The ``ci`` profile only tries n = 1 and passes; ``thorough`` finds the failures and shrinks them to n = 3.
"""

import re
import subprocess
import textwrap

import pytest

from flax_regressions.core.results import CellResult
from tests.test_plugin import MATRIX

pytest_plugins = ["pytester"]

REPRO = '''\
"""A made-up case: each call appends its n to calls.txt."""

from pathlib import Path


def _log(n):
    with open(Path(__file__).parent.parent / "calls.txt", "a") as f:
        f.write(f"{n}\\n")


def bug(*, n=1):
    _log(n)
    raise ValueError(f"rank should be at least 1, but is only 0 (n={n})")


def bug_gone_for_big(*, n=1):
    _log(n)
    if n < 3:
        raise ValueError("rank should be at least 1, but is only 0")


def bug_other_for_big(*, n=1):
    _log(n)
    raise ValueError("rank should be at least 1" if n < 3 else "something else")


def fix(*, n=1):
    _log(n)


def fix_broken_for_big(*, n=1):
    _log(n)
    assert n < 3, f"cell {n - 1} differs from the reference"


def fix_unknown(*, n=1):
    _log(n)
'''

RULES = """\
bug: [{expect: fail, raises: ValueError, match: "rank should be at least 1"}]
bug_gone_for_big: [{expect: fail, raises: ValueError, match: "rank should be at least 1"}]
bug_other_for_big: [{expect: fail, raises: ValueError, match: "rank should be at least 1"}]
fix: [{expect: pass}]
fix_broken_for_big: [{expect: pass}]
fix_unknown: [{flax: "<0.1", expect: pass}]
"""

CONFORMANCE = """\
from flax_regressions.incell.plugin import check_variant


def test_variant(case, variant, request):
    check_variant(case, variant, request.node)
"""

PROPERTIES = """\
import pytest
from hypothesis import given, strategies as st

from flax_regressions.incell.properties import check_example, parametrize


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("property"):
        parametrize(metafunc)


@pytest.mark.property
@given(data=st.data())
def test_property(case, variant, pytestconfig, data):
    kwargs = data.draw(st.fixed_dictionaries({"n": st.sampled_from([1, 2, 3, 4, 5, 6])}), label="kwargs")
    check_example(pytestconfig, case, variant, kwargs)


def test_not_a_cell_test():
    pass
"""


def run(pytester, *args, case: str = "demo"):
    (pytester.path / "repro").mkdir()
    (pytester.path / "repro" / f"{case}.py").write_text(REPRO)
    text = MATRIX.format(rules=textwrap.indent(RULES, " " * 6)).replace("  demo:\n", f"  {case}:\n")
    (pytester.path / "matrix.yaml").write_text(text)
    pytester.makepyfile(test_cases=CONFORMANCE, test_properties=PROPERTIES)
    return pytester.runpytest_subprocess(
        "-p",
        "flax_regressions.incell.plugin",
        "--matrix",
        str(pytester.path / "matrix.yaml"),
        "--backend",
        "cpu",
        "--results-file",
        str(pytester.path / "cell.json"),
        "-p",
        "no:cacheprovider",
        "-rs",
        "-vv",
        *args,
    )


def calls(pytester) -> list[int]:
    path = pytester.path / "calls.txt"
    return [int(n) for n in path.read_text().split()] if path.exists() else []


@pytest.mark.integration
def test_the_ci_profile_is_the_default_one_derandomized_example(pytester):
    result = run(pytester, "test_properties.py")
    result.assert_outcomes(passed=6, skipped=1)  # test_not_a_cell_test included
    assert calls(pytester) == [1] * 5  # each variant once, with the first value of the set


@pytest.mark.integration
def test_properties_hold_or_show_the_shrunk_example_and_its_command(pytester):
    result = run(pytester, "test_properties.py", "--hypothesis-profile=thorough")
    out = result.stdout.str()
    result.assert_outcomes(passed=3, failed=3, skipped=1)  # test_not_a_cell_test included
    for id_ in ("demo-bug", "demo-fix"):
        assert re.search(rf"test_property\[{id_}\] PASSED", out)
    assert re.search(r"test_property\[demo-fix_unknown\] SKIPPED", out)
    assert "unknown: no expectation for demo-fix_unknown" in out

    # fix_broken_for_big: the variant's own error, shrunk to the smallest n that breaks it,
    # with the command that reruns exactly that example
    assert "AssertionError: cell 2 differs from the reference" in out
    assert re.search(r"'n': 3", out)
    assert "demo-bug_gone_for_big(n=3) passed, but matrix.yaml expects it to fail with ValueError" in out
    assert "demo-bug_other_for_big(n=3) failed differently: ValueError: something else" in out
    commands = re.findall(r"^E +reproduce: (.*)$", out, re.MULTILINE)
    assert len(commands) == 3 and all("demo." in c and "(n=3)" in c and "JAX_PLATFORMS=cpu" in c for c in commands)
    broken = next(c for c in commands if "fix_broken_for_big" in c)
    rerun = subprocess.run(broken, shell=True, capture_output=True, text=True, cwd=pytester.path)
    assert rerun.returncode == 1 and "AssertionError: cell 2 differs from the reference" in rerun.stderr

    cell = CellResult.load(pytester.path / "cell.json")
    assert cell.records == ()  # property tests never stand in for a variant's conformance record
    props = {p.variant: p for p in cell.properties}
    assert {v: p.outcome for v, p in props.items()} == {
        "bug": "passed",
        "bug_gone_for_big": "failed",
        "bug_other_for_big": "failed",
        "fix": "passed",
        "fix_broken_for_big": "failed",
        "fix_unknown": "skipped",
    }
    assert props["fix_broken_for_big"].message == "AssertionError: cell 2 differs from the reference"
    assert props["fix_broken_for_big"].reproduce == broken


@pytest.mark.integration
def test_the_main_jobs_scope_holds_the_workarounds_that_work_alone(pytester):
    """--properties=workarounds: a workaround that works here is held over sizes (and can fail there); a bug is
    held at its documented call alone, its property test skipped, saying why, and recorded as skipped."""
    result = run(pytester, "test_properties.py", "--properties=workarounds", "--hypothesis-profile=thorough")
    out = result.stdout.str()
    result.assert_outcomes(passed=2, failed=1, skipped=4)  # test_not_a_cell_test passes; fix_unknown is skipped
    assert "demo-bug_gone_for_big: held at its documented call alone here (--properties=workarounds)" in out
    props = {p.variant: p.outcome for p in CellResult.load(pytester.path / "cell.json").properties}
    assert props == {
        "bug": "skipped",
        "bug_gone_for_big": "skipped",
        "bug_other_for_big": "skipped",
        "fix": "passed",
        "fix_broken_for_big": "failed",
        "fix_unknown": "skipped",
    }


@pytest.mark.integration
def test_thorough_draws_every_value_of_a_small_set(pytester):
    result = run(
        pytester, "test_properties.py", "-k", "demo-fix and not broken and not unknown", "--hypothesis-profile=thorough"
    )
    result.assert_outcomes(passed=1)
    assert sorted(set(calls(pytester))) == [1, 2, 3, 4, 5, 6]


@pytest.mark.integration
def test_conformance_and_property_records_stay_apart(pytester):
    result = run(pytester, "-k", "demo-fix and not broken and not unknown or not_a_cell")
    result.assert_outcomes(passed=3)
    cell = CellResult.load(pytester.path / "cell.json")
    assert [(r.variant, r.outcome) for r in cell.records] == [("fix", "passed")]
    assert [(p.variant, p.outcome) for p in cell.properties] == [("fix", "passed")]


@pytest.mark.integration
def test_a_non_ascii_case_id_is_the_same_in_its_property_and_conformance_records(pytester):
    """pytest would escape the test id (d\\xe9mo); a record read back from it would be another case's, one the
    report never looks up, and the property failure would not show."""
    result = run(pytester, "-k", "fix_broken_for_big", "--hypothesis-profile=thorough", case="démo")
    result.assert_outcomes(passed=1, failed=1)  # the documented call (n=1) works; n=3 does not
    assert "test_properties.py::test_property[démo-fix_broken_for_big] FAILED" in result.stdout.str()
    cell = CellResult.load(pytester.path / "cell.json")
    assert [(r.case, r.variant, r.outcome) for r in cell.records] == [("démo", "fix_broken_for_big", "passed")]
    assert [(p.case, p.variant, p.outcome) for p in cell.properties] == [("démo", "fix_broken_for_big", "failed")]
