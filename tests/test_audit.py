"""audit: which cases bite at a lock's versions and what changes on an upgrade, from measured rules only.
No Flax and no cell runs: a made-up cases directory and its measured history (tests/test_scan.py's)."""

import json

from flax_regressions.analysis import audit
from flax_regressions.analysis.audit import Point
from flax_regressions.catalogue import case_dirs, history
from flax_regressions.commands import cli
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import CellId, CellResult, Versions
from flax_regressions.core.workspace import Workspace
from tests.test_scan import cases_dir


def run_audit(tmp_path, capsys, *argv):
    code = cli.main(["--workdir", str(tmp_path / "work"), "audit", "--cases", str(tmp_path / "cases"), *argv])
    return code, capsys.readouterr().out


def test_an_upgrade_that_breaks_a_case_is_named_with_the_workaround_that_works_on_both_sides(tmp_path, capsys):
    cases_dir(tmp_path)
    code, out = run_audit(tmp_path, capsys, "--flax", "0.10.5", "--to", "0.12.12")
    assert code == 1
    rows = [line for line in out.splitlines() if line.startswith("| demo") or line.startswith("| modules")]
    assert rows == [
        "| demo | ❌ gets worse | appears: bug; workaround starts working: fix_wrt | fix_portable | google/flax#4842 |",
        "| modules | ⚠️ bites | reproduces: bug | none measured to work on both sides |  |",
    ]
    assert out.splitlines()[-1] == "1 gets worse, 1 bites, 0 not measured, 0 gets better; 0 case(s) fine, not listed."


def test_the_versions_alone_say_what_bites_now(tmp_path, capsys):
    cases_dir(tmp_path)
    (tmp_path / "requirements.txt").write_text("flax==0.12.12\njax==0.12.0\njaxlib==0.12.0\nnumpy==2.0.0\n")
    code, out = run_audit(tmp_path, capsys, "--lock", str(tmp_path / "requirements.txt"), "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["from"] == {"flax": "0.12.12", "jax": "0.12.0", "backend": "cpu"}
    assert {c["case"]: c["verdict"] for c in report["cases"]} == {"demo": "bites", "modules": "bites"}
    assert report["cases"][0]["from"]["works"] == ["fix_wrt", "fix_portable"]


def test_what_was_not_measured_is_unknown_with_the_command_that_measures_it(tmp_path, capsys):
    cases_dir(tmp_path)
    code, out = run_audit(tmp_path, capsys, "--flax", "0.10.5", "--to", "0.12.13")
    assert code == 2
    assert "flax 0.12.13 is newer than the last release measured (measured: 0.10.5 to 0.12.12; measure it: " in out
    code, out = run_audit(tmp_path, capsys, "--flax", "0.10.5", "--jax", "0.6.0")
    assert code == 2 and "flax 0.10.5 was measured with jax 0.5.3, not 0.6.0" in out
    assert "flax-regressions run --flax 0.10.5 --jax 0.6.0 -- -k demo" in out


def test_a_run_of_the_work_directory_counts_as_measured(tmp_path, capsys):
    cases_dir(tmp_path)
    cell = CellId("0.12.13", "cpu")
    records = tuple(
        VariantRecord("demo", variant, outcome, exception, "msg")
        for variant, outcome, exception in [
            ("bug", Outcome.FAILED, "TypeError"),
            ("fix_wrt", Outcome.PASSED, None),
            ("fix_portable", Outcome.PASSED, None),
        ]
    )
    result = CellResult(cell, versions=Versions("0.12.13", "0.12.1", "0.12.1"), records=records, updated="2026-12-04")
    result.write(tmp_path / "work" / "results" / "cells" / f"{cell}.json")
    code, out = run_audit(tmp_path, capsys, "--flax", "0.10.5", "--to", "0.12.13", "--format", "json")
    verdicts = {c["case"]: (c["verdict"], c["to"]["jax"]) for c in json.loads(out)["cases"]}
    assert verdicts["demo"] == ("worse", "0.12.1") and verdicts["modules"][0] == "unknown", "modules did not run"


def test_where_the_run_and_the_rule_disagree_the_answer_is_unknown(tmp_path):
    root = cases_dir(tmp_path)
    cells = history.read(root / history.FILE)
    cells[1].results["demo"]["bug"] = "passed"
    history.write(root / history.FILE, cells)
    the_matrix = case_dirs.load([root])
    state = audit.state(the_matrix, "demo", Point("0.12.12"), audit.evidence(the_matrix, Workspace.at(tmp_path)))
    assert state.unknown == (
        "demo-bug on flax 0.12.12 + jax 0.12.0: the rule says fail with TypeError matching /wrt/, "
        "the run passed: measure it again"
    )


def test_the_history_keeps_what_an_earlier_run_measured_of_other_cases():
    old = [history.MeasuredCell("0.10.5", "0.5.3", "cpu", False, "d1", {"a": {"bug": "passed"}})]
    new = [history.MeasuredCell("0.10.5", "0.5.3", "cpu", False, "d2", {"b": {"bug": "failed: E"}})]
    [merged] = history.merge(old, new)
    assert merged.results == {"a": {"bug": "passed"}, "b": {"bug": "failed: E"}} and merged.date == "d2"
