"""The conformance plugin on made-up cases: strict xfail, strict XPASS, broken fixes, unknowns, the results file.

The made-up cases need no Flax: their variants raise or return on their own, so each test shows what the
plugin does with one kind of outcome.
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from packaging.specifiers import SpecifierSet

from flax_regressions.catalogue.rules import Rule
from flax_regressions.core.records import NOT_MEASURED, Outcome
from flax_regressions.core.results import CellId, CellResult
from flax_regressions.incell import recorder
from flax_regressions.incell.repros import ReproImportError, run_variant

pytest_plugins = ["pytester"]

MATRIX = """\
python: "3.12"
current: "0.10.5"
flax:
  - {{version: "0.10.5", jax: "0.5.3"}}
backends:
  cpu: {{}}
cases:
  demo:
    variants:
{rules}
"""

REPRO = '''\
"""A made-up case."""


def bug():
    raise ValueError("vmap was requested to map its argument along axis 0, rank 0")


def bug_gone():
    pass


def fix():
    pass


def fix_broken():
    raise AssertionError("cell 3 differs from the reference")
'''

TEST_FILE = """\
from flax_regressions.incell.plugin import check_variant


def test_variant(case, variant, request):
    check_variant(case, variant, request.node)
"""


def run(pytester, rules: str, *args, modules: dict[str, str] | None = None, cases: str = ""):
    """A cell's run of the demo case with these rules; ``modules`` replace or add repro modules, ``cases`` adds
    cases to matrix.yaml."""
    (pytester.path / "repro").mkdir(exist_ok=True)  # a second run in the same test writes them again
    for name, source in ({"demo": REPRO} | (modules or {})).items():
        (pytester.path / "repro" / f"{name}.py").write_text(source)
    (pytester.path / "matrix.yaml").write_text(MATRIX.format(rules=textwrap.indent(rules, " " * 6)) + cases)
    pytester.makepyfile(test_cases=TEST_FILE)
    return pytester.runpytest_subprocess(
        "-p",
        "flax_regressions.incell.plugin",
        "--matrix",
        str(pytester.path / "matrix.yaml"),
        "--backend",
        "cpu",
        "--results-file",
        str(pytester.path / "cell.json"),
        "-rxXf",
        "-vv",
        *args,
    )


EXPECTED = """\
bug: [{expect: fail, raises: ValueError, match: "rank 0"}]
bug_gone: [{expect: fail, raises: ValueError, match: "rank 0"}]
fix: [{expect: pass}]
fix_broken: [{expect: pass}]
"""


@pytest.mark.integration
def test_outcomes_and_their_reports(pytester):
    result = run(pytester, EXPECTED)
    result.assert_outcomes(passed=1, xfailed=1, failed=2)
    out = result.stdout.str()
    assert "XPASS(strict)" in out and "demo-bug_gone: expected to fail with ValueError" in out
    assert "the bug no longer reproduces on this Flax/JAX: update matrix.yaml" in out
    assert "FAILED test_cases.py::test_variant[demo-fix_broken] - AssertionError: cell 3 differs" in out

    cell = CellResult.load(pytester.path / "cell.json")
    assert cell.complete is True and None not in (cell.versions.flax, cell.versions.jax, cell.versions.jaxlib)
    assert "pytest" in cell.packages
    got = {r.variant: (r.outcome, r.exception, r.expected, r.as_expected) for r in cell.records}
    assert got == {
        "bug": (Outcome.FAILED, "ValueError", "fail", True),
        "bug_gone": (Outcome.PASSED, None, "fail", False),
        "fix": (Outcome.PASSED, None, "pass", True),
        "fix_broken": (Outcome.FAILED, "AssertionError", "pass", False),
    }


@pytest.mark.integration
def test_an_expected_failure_shows_the_variants_traceback_under_runxfail_only(pytester):
    """An xfail's report shows its reason alone, so the plugin does not chain the variant's exception to it: pytest
    would format that traceback for nothing, parsing the source of every frame deep in JAX. --runxfail reports it
    as a failure, and there the variant's own traceback is what a developer needs."""
    pytester.makeconftest("""
        def pytest_runtest_logreport(report):
            if hasattr(report, "wasxfail"):
                with open("xfail-report.txt", "a") as out:
                    out.write(str(report.longrepr))
    """)
    run(pytester, EXPECTED, "-k", "demo-bug and not gone").assert_outcomes(xfailed=1)
    assert "ExpectedFailure: ValueError: vmap was requested" in (pytester.path / "xfail-report.txt").read_text()
    assert "direct cause" not in (pytester.path / "xfail-report.txt").read_text()
    result = run(pytester, EXPECTED, "-k", "demo-bug and not gone", "--runxfail")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "The above exception was the direct cause of the following exception" in out
    assert 'raise ValueError("vmap was requested to map its argument along axis 0, rank 0")' in out


@pytest.mark.integration
def test_a_failure_with_another_message_is_not_the_expected_bug(pytester):
    rules = EXPECTED.replace(
        'bug: [{expect: fail, raises: ValueError, match: "rank 0"}]',
        'bug: [{expect: fail, raises: ValueError, match: "keyword arguments"}]',
    )
    result = run(pytester, rules, "-k", "demo-bug and not gone")
    result.assert_outcomes(failed=1)
    assert "ValueError: vmap was requested" in result.stdout.str()


@pytest.mark.integration
def test_a_failure_of_another_type_is_not_the_expected_bug(pytester):
    rules = EXPECTED.replace("bug: [{expect: fail, raises: ValueError", "bug: [{expect: fail, raises: TypeError")
    result = run(pytester, rules, "-k", "demo-bug and not gone")
    result.assert_outcomes(failed=1)


@pytest.mark.integration
def test_a_version_without_expectation_fails_as_unknown(pytester):
    rules = EXPECTED.replace("fix: [{expect: pass}]", 'fix: [{flax: "<0.1", expect: pass}]')
    result = run(pytester, rules, "-k", "demo-fix and not broken")
    result.assert_outcomes(failed=1)
    assert "unknown: demo-fix: matrix.yaml has no expectation for it on flax" in result.stdout.str()
    record = CellResult.load(pytester.path / "cell.json").records[0]
    assert (record.expected, record.expected_detail) == ("unknown", None)


@pytest.mark.integration
def test_a_variant_not_measured_yet_is_unknown_and_says_how_to_measure_it(pytester):
    """No rules at all (a case just written): never as expected, and the record says so for the tables."""
    result = run(pytester, EXPECTED.replace("fix: [{expect: pass}]", "fix: []"), "-k", "demo-fix and not broken")
    result.assert_outcomes(failed=1)
    assert "unknown: demo-fix: not measured yet (bisect --write measures it); the variant passed" in result.stdout.str()
    record = CellResult.load(pytester.path / "cell.json").records[0]
    assert (record.expected, record.expected_detail, record.as_expected) == ("unknown", NOT_MEASURED, False)


@pytest.mark.integration
def test_an_invalid_matrix_stops_the_run_with_one_line(pytester):
    result = run(pytester, EXPECTED.replace("fix: [{expect: pass}]", "fix: [{expect: perhaps}]"))
    assert result.ret == 2
    out = result.stdout.str() + result.stderr.str()
    assert "error: matrix.yaml:12: cases.demo.variants.fix[0].expect: must be pass, fail or warn" in out


@pytest.mark.integration
def test_xdist_workers_report_to_one_results_file(pytester):
    result = run(pytester, EXPECTED, "-n", "2")
    result.assert_outcomes(passed=1, xfailed=1, failed=2)
    cell = CellResult.load(pytester.path / "cell.json")
    assert len(cell.records) == 4


@pytest.mark.integration
def test_the_cell_id_comes_from_the_command_line_not_the_file_name(pytester):
    run(pytester, EXPECTED, "--cell", "flax-0.10.5-jax-0.5.3-cpu", "-k", "demo-fix and not broken")
    data = json.loads((pytester.path / "cell.json").read_text())
    assert data["cell"] == "flax-0.10.5-jax-0.5.3-cpu" and data["backend"] == "cpu" and data["schema"] == 1
    assert CellResult.load(pytester.path / "cell.json").cell == CellId("0.10.5", "cpu", "0.5.3")


@pytest.mark.integration
@pytest.mark.parametrize("cell", ["flax-0.10.5", "flax-0.10.5-cuda"])
def test_a_bad_cell_id_stops_the_run_with_one_line(pytester, cell):
    result = run(pytester, EXPECTED, "--cell", cell)
    assert result.ret == 2
    assert "error: --cell" in result.stdout.str() + result.stderr.str()


BREAKS_AT_IMPORT = '''\
"""A made-up case whose module needs a package this cell lacks."""

import numpy as np
import flax_regressions_no_such_package


def bug():
    pass


def fix():
    pass
'''


def test_a_repro_that_fails_at_import_shows_its_own_error_every_time(tmp_path):
    """A half-imported module left in sys.modules would turn the second call into a false AttributeError."""
    (tmp_path / "breaks.py").write_text(BREAKS_AT_IMPORT)
    for variant in ("bug", "fix", "bug"):
        with pytest.raises(ReproImportError) as info:
            run_variant(tmp_path, "breaks", variant)
        assert str(info.value) == (
            "repro/breaks.py:4: import failed: ModuleNotFoundError: No module named 'flax_regressions_no_such_package'"
        )
        assert "repro_breaks" not in sys.modules


@pytest.mark.integration
def test_a_repro_module_edited_to_the_same_size_within_the_second_runs_as_edited(tmp_path):
    """A cell keeps its bytecode, which Python trusts while the source keeps its size and its modification time in
    whole seconds: an edit like this one (a test's, a team's script's) must not run the module as it was."""
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(tmp_path / "bytecode")}
    call = f"from flax_regressions.incell.repros import run_variant; print(run_variant({str(tmp_path)!r}, 'edited', 'fix')[0])"
    seen = []
    for cell in (3, 4):
        (tmp_path / "edited.py").write_text(f"def fix():\n    raise AssertionError('cell {cell} differs')\n")
        os.utime(tmp_path / "edited.py", (1_700_000_000, 1_700_000_000))  # both in the same second
        proc = subprocess.run([sys.executable, "-c", call], env=env, capture_output=True, text=True, timeout=60)
        seen.append(proc.stdout.strip() or proc.stderr)
    assert seen == ["cell 3 differs", "cell 4 differs"]


WARNS = """\
import warnings


def bug():
    warnings.warn("'.value' access is now deprecated", DeprecationWarning)
    return 42
"""


def test_a_watched_warning_is_what_the_variant_raised_and_an_unwatched_one_is_not(tmp_path):
    (tmp_path / "warns.py").write_text(WARNS)
    exc, _ = run_variant(tmp_path, "warns", "bug", watched=("DeprecationWarning",))
    assert type(exc) is DeprecationWarning and str(exc) == "'.value' access is now deprecated"
    rule = Rule(SpecifierSet(), SpecifierSet(), None, "warn", "DeprecationWarning", "access is now deprecated")
    record = recorder.ran("warns", "bug", rule, exc, 0.1)
    assert record.as_expected and record.expected == "warn" and record.exception == "DeprecationWarning"
    assert run_variant(tmp_path, "warns", "bug", watched=("FutureWarning",))[0] is None
    assert run_variant(tmp_path, "warns", "bug")[0] is None


@pytest.mark.integration
def test_a_module_that_fails_at_import_is_one_line_for_each_of_its_variants_and_the_rest_runs(pytester):
    """What validation cannot see without importing (a package missing from the cell): the case's variants are
    errors naming the real import error, one line each, and the other cases run."""
    result = run(
        pytester,
        EXPECTED,
        modules={"breaks": BREAKS_AT_IMPORT},
        cases=(
            '  breaks:\n    variants:\n      bug: [{expect: fail, raises: ValueError, match: "x"}]\n      fix: [{expect: pass}]\n'
        ),
    )
    result.assert_outcomes(passed=1, xfailed=1, failed=4)
    error = "repro/breaks.py:4: import failed: ModuleNotFoundError: No module named 'flax_regressions_no_such_package'"
    lines, cell = result.stdout.lines, CellResult.load(pytester.path / "cell.json")
    for variant in ("bug", "fix"):  # each failure's report is that one line, and so is its record
        at = next(i for i, line in enumerate(lines) if re.fullmatch(rf"_+ test_variant\[breaks-{variant}\] _+", line))
        assert lines[at + 1].endswith(error) and lines[at + 2].startswith(("_", "="))
        record = cell.record("breaks", variant)
        assert record.outcome is Outcome.ERROR and record.message.endswith(error)
    assert cell.record("demo", "fix").outcome is Outcome.PASSED


@pytest.mark.integration
@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param("def bug(:\n", "repro/demo.py:1: does not compile: invalid syntax", id="syntax"),
        pytest.param(
            REPRO.replace("def fix():\n    pass", "def fix():\n    pass\nreturn"),
            "does not compile: 'return' outside function",
            id="compiles-not",
        ),
    ],
)
def test_a_repro_module_that_does_not_compile_stops_the_run_with_one_line(pytester, source, message):
    result = run(pytester, EXPECTED, modules={"demo": source})
    assert result.ret == 2
    out = (result.stdout.str() + result.stderr.str()).strip()
    assert len(out.splitlines()) == 1 and "error: matrix.yaml:8: cases.demo: " in out and message in out


@pytest.mark.integration
def test_a_narrowed_run_merges_into_the_cells_file_and_an_empty_one_keeps_it(pytester):
    run(pytester, EXPECTED).assert_outcomes(passed=1, xfailed=1, failed=2)
    whole = CellResult.load(pytester.path / "cell.json")
    (pytester.path / "repro" / "demo.py").write_text(REPRO.replace("cell 3 differs", "cell 4 differs"))

    narrowed = pytester.runpytest_subprocess(
        "-p",
        "flax_regressions.incell.plugin",
        "--matrix",
        str(pytester.path / "matrix.yaml"),
        "--backend",
        "cpu",
        "--results-file",
        str(pytester.path / "cell.json"),
        "-k",
        "fix_broken",
    )
    narrowed.assert_outcomes(failed=1)
    merged = CellResult.load(pytester.path / "cell.json")
    assert [r.variant for r in merged.records] == [r.variant for r in whole.records]  # nothing lost
    assert merged.record("demo", "fix_broken").message == "cell 4 differs from the reference"  # the rerun's own
    assert merged.record("demo", "bug") == whole.record("demo", "bug")
    assert merged.complete is True and merged.started == whole.started

    before = (pytester.path / "cell.json").read_text()
    nothing = pytester.runpytest_subprocess(
        "-p",
        "flax_regressions.incell.plugin",
        "--matrix",
        str(pytester.path / "matrix.yaml"),
        "--backend",
        "cpu",
        "--results-file",
        str(pytester.path / "cell.json"),
        "-k",
        "nosuchthing",
    )
    assert nothing.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert (pytester.path / "cell.json").read_text() == before
