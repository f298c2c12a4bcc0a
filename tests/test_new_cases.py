"""A team's own case from its first line: `new`, "not measured yet", and bisect --write declaring and measuring it.
No Flax: bisect's cell runs are a fake prober's."""

import ast

import pytest

from flax_regressions.analysis.gate import refuse_unmeasured
from flax_regressions.analysis.verdict import GateError
from flax_regressions.catalogue import case_dirs, edit, measured, new_case
from flax_regressions.catalogue.rules import Rule, SpecifierSet
from flax_regressions.commands import bisect as bisect_command
from flax_regressions.commands import cli
from flax_regressions.core.records import NOT_MEASURED
from flax_regressions.running import registry
from tests.test_bisect import FLAX_JAX, JAX, FakeProber
from tests.test_matrix import REPRO


def main(tmp_path, *argv):
    return cli.main(["--workdir", str(tmp_path / "work"), *argv])


def test_new_writes_a_module_in_the_house_format_and_declares_it_unmeasured(tmp_path, capsys):
    mine = tmp_path / "mine"
    assert main(tmp_path, "new", "my_case", "--cases", str(mine), "--upstream", "google/flax#4590") == 0
    module = (mine / "repro" / "my_case.py").read_text()
    tree = ast.parse(module)
    assert "https://github.com/google/flax/issues/4590" in ast.get_docstring(tree)
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["bug", "fix", "main"]
    assert "PROPERTY_SIZES" in module and 'if __name__ == "__main__":' in module
    assert (mine / "matrix.yaml").read_text() == (
        "include: builtin\ncases:\n  my_case:\n    upstream: google/flax#4590\n    variants:\n"
        "      bug: []\n      fix: []\n"
    )
    the_matrix = case_dirs.load([mine])
    assert the_matrix.cases["my_case"] == {"bug": [], "fix": []} and "rnn_jit" in the_matrix.cases
    capsys.readouterr()
    assert main(tmp_path, "validate", "--cases", str(mine)) == 0
    assert (
        f"{mine}/matrix.yaml: my_case: unmeasured: no rules for bug, fix (bisect my_case --cases {mine} --write measures it)"
        in capsys.readouterr().out.splitlines()
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["my_case"], "new: error: case 'my_case' exists (in "),
        (["rnn_jit"], "new: error: case 'rnn_jit' exists (in "),
        (["class"], "new: error: 'class': a case id is a Python identifier"),
        (["other", "--upstream", "flax#1"], "new: error: --upstream 'flax#1': write it owner/repo#number"),
    ],
)
def test_new_refuses_an_id_that_exists_or_cannot_be_one(tmp_path, capsys, argv, message):
    mine = tmp_path / "mine"
    assert main(tmp_path, "new", "my_case", "--cases", str(mine)) == 0
    before = (mine / "matrix.yaml").read_text()
    capsys.readouterr()
    assert main(tmp_path, "new", *argv, "--cases", str(mine)) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert (mine / "matrix.yaml").read_text() == before and not (mine / "repro" / "other.py").exists()


def test_modules_no_matrix_declares_are_cases_not_measured_yet(tmp_path, capsys):
    """Two modules in an empty cases directory: read as unmeasured cases, named by validate, exit 0."""
    (tmp_path / "repro").mkdir()
    for case in ("first", "second"):
        (tmp_path / "repro" / f"{case}.py").write_text(REPRO)
    (tmp_path / "repro" / "_helpers.py").write_text(REPRO)
    the_matrix = case_dirs.load([tmp_path])
    assert the_matrix.undeclared == {"first", "second"} and ("first", "fix") in the_matrix.unmeasured()
    assert the_matrix.declared_in["first"] == (tmp_path / "matrix.yaml").resolve()
    capsys.readouterr()
    assert main(tmp_path, "validate", "--cases", str(tmp_path)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == [
        f"{tmp_path}/repro/{case}.py: {case}: unmeasured: no matrix.yaml declares it "
        f"(bisect {case} --cases {tmp_path} --write measures it)"
        for case in ("first", "second")
    ]


def test_an_empty_cases_directory_is_one_line(tmp_path, capsys):
    assert main(tmp_path, "validate", "--cases", str(tmp_path)) == 2
    assert capsys.readouterr().err == (
        f"validate: error: {tmp_path}/matrix.yaml: no matrix.yaml and no repro/ here "
        "(flax-regressions new CASE --cases DIR starts one)\n"
    )


def test_a_run_cannot_go_green_on_an_unmeasured_variant_and_the_gate_cannot_tell():
    with pytest.raises(GateError, match=rf"^demo-fix: {NOT_MEASURED.replace('(', '[(]').replace(')', '[)]')}, so"):
        refuse_unmeasured([("demo", "fix")])
    refuse_unmeasured([])  # measured: nothing to refuse


def test_bisect_refuses_a_variant_still_as_new_wrote_it(tmp_path, capsys):
    mine = tmp_path / "mine"
    main(tmp_path, "new", "my_case", "--cases", str(mine))
    capsys.readouterr()
    assert main(tmp_path, "bisect", "my_case", "--cases", str(mine)) == 2
    assert "has a variant still as `new` wrote it: write it first" in capsys.readouterr().err
    assert new_case.unwritten(mine / "repro" / "my_case.py")


def fake_registry(monkeypatch):
    monkeypatch.setattr(
        registry, "releases", lambda python, package="flax": JAX if package == "jax" else list(FLAX_JAX)
    )
    monkeypatch.setattr(registry, "resolve", lambda v, python: list(FLAX_JAX)[-1] if v == "latest" else v)
    monkeypatch.setattr(
        registry, "between", lambda python, a, b="latest": [v for v in FLAX_JAX if a <= v and (b == "latest" or v <= b)]
    )


class FakeBisectProber(FakeProber):
    """The test_bisect world behind the command: the bug follows JAX 0.6.0, the fix breaks in Flax 0.11.0."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.cost = {"runs": 0.0, "built": 0.0, "remembered": 0.0, "seconds": 0.0}


def test_bisect_write_declares_an_undeclared_module_with_its_measured_rules(tmp_path, monkeypatch, capsys):
    (tmp_path / "repro").mkdir()
    (tmp_path / "repro" / "demo.py").write_text(REPRO)
    fake_registry(monkeypatch)
    monkeypatch.setattr(bisect_command, "Prober", FakeBisectProber)
    assert main(tmp_path, "bisect", "demo", "--cases", str(tmp_path), "--between", "0.10.0", "latest", "--write") == 0
    written = case_dirs.load([tmp_path])
    assert "demo" not in {case for case, _ in written.unmeasured()} and not written.undeclared
    expect = {v: [(str(r.flax), str(r.jax), r.expect) for r in rules] for v, rules in written.cases["demo"].items()}
    assert expect["bug"] == [
        ("<0.10.1,>=0.10.0", "", "fail"),
        (">=0.10.1", "<0.6.0", "fail"),
        (">=0.10.1", ">=0.6.0", "pass"),
    ]
    assert expect["fix"] == [
        ("<0.10.1,>=0.10.0", "", "fail"),
        ("<0.11.0,>=0.10.1", "", "pass"),
        (">=0.11.0", "", "fail"),
    ]
    assert "+include: builtin" in capsys.readouterr().out, "the diff of the file it wrote"


def test_bisect_without_write_prints_the_rules_as_matrix_yaml(tmp_path, monkeypatch, capsys):
    (tmp_path / "repro").mkdir()
    (tmp_path / "repro" / "demo.py").write_text(REPRO)
    fake_registry(monkeypatch)
    monkeypatch.setattr(bisect_command, "Prober", FakeBisectProber)
    assert main(tmp_path, "bisect", "demo", "--cases", str(tmp_path), "--between", "0.10.0", "latest") == 0
    out = capsys.readouterr().out
    yaml_text = out[out.index("  demo:\n") :]
    pasted = edit.NEW_MATRIX + yaml_text
    (tmp_path / "matrix.yaml").write_text(pasted)
    assert "demo" not in {c for c, _ in case_dirs.load([tmp_path]).unmeasured()}, (
        "what it prints is what --write writes"
    )


def test_jax_rules_hold_the_flax_release_and_keep_the_other_releases_rules():
    old = [Rule(SpecifierSet(">=0.10.0"), SpecifierSet(), None, "fail", "ValueError", "rank", None)]
    segments = [
        measured.Segment("0.5.3", "0.5.3", "fail", "ValueError", ["rank should be 2"]),
        measured.Segment("0.6.1", "0.6.1", "pass"),
    ]
    assert measured.jax_rules_for("bug", "0.10.5", segments, old) == [
        {"flax": ">=0.10.0,!=0.10.5", "expect": "fail", "raises": "ValueError", "match": "rank"},
        {"flax": "==0.10.5", "jax": "<0.6.1", "expect": "fail", "raises": "ValueError", "match": "rank"},
        {"flax": "==0.10.5", "jax": ">=0.6.1", "expect": "pass", "note": "fixed by JAX 0.6.1, measured on flax 0.10.5"},
    ]


def test_jax_bisect_writes_rules_for_the_flax_release_held_unless_they_say_it_already(tmp_path, monkeypatch, capsys):
    (tmp_path / "repro").mkdir()
    (tmp_path / "repro" / "demo.py").write_text(REPRO)
    fake_registry(monkeypatch)
    monkeypatch.setattr(bisect_command, "Prober", FakeBisectProber)
    jax_bisect = ["bisect", "demo", "--cases", str(tmp_path), "--flax", "0.10.5", "--jax-between", "0.5.3", "0.6.2"]
    (tmp_path / "matrix.yaml").write_text(
        edit.NEW_MATRIX
        + '  demo:\n    variants:\n      bug:\n        - {flax: ">=0.10.0", expect: fail, raises: ValueError,'
        ' match: "got axis spec"}\n      fix:\n        - {flax: ">=0.10.0", expect: pass}\n'
    )
    assert main(tmp_path, *jax_bisect, "--write") == 0
    out = capsys.readouterr().out
    assert "change at jax 0.5.3 -> 0.6.0 with flax 0.10.5: JAX" in out
    assert "demo-fix: matrix.yaml already says what was measured with flax 0.10.5" in out
    bug = case_dirs.load([tmp_path]).cases["demo"]["bug"]
    assert [(str(r.flax), str(r.jax), r.expect) for r in bug] == [
        ("!=0.10.5,>=0.10.0", "", "fail"),
        ("==0.10.5", "<0.6.0", "fail"),
        ("==0.10.5", ">=0.6.0", "pass"),
    ]
    written = (tmp_path / "matrix.yaml").read_text()
    assert main(tmp_path, *jax_bisect, "--write") == 0, "measured again: the same answer"
    assert "already says" in capsys.readouterr().out and (tmp_path / "matrix.yaml").read_text() == written


def test_rules_written_over_an_empty_list_leave_no_blank_line():
    text = edit.NEW_MATRIX + "  demo:\n    variants:\n      bug:\n        []\n      fix: []\n"
    for variant in ("bug", "fix"):
        text = edit.set_rules(text, "demo", variant, [{"flax": ">=0.10.0", "expect": "pass"}])
    assert "\n\n" not in text and text.count('- {flax: ">=0.10.0", expect: pass}') == 2
