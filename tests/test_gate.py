"""The upgrade gate: comparing two cells (synthetic results, no Flax), its command line and exit status, and two
end-to-end runs on real releases (a few variants each; skipped when the environments cannot be built)."""

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from flax_regressions.analysis import verdict as gate_verdict
from flax_regressions.commands import cli
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import CellId, CellOutcome, CellResult, Versions
from flax_regressions.render import gate as gate_markdown
from flax_regressions.running import cells, registry
from tests.shared_work import ROOT, WORKSPACE

PUBLISHED = {
    v: (datetime(2025, 1, 1, tzinfo=UTC), ">=3.10") for v in ("0.10.2", "0.10.4", "0.10.5", "0.11.0", "0.12.12")
}


def rec(case, variant, outcome, exception=None, message=None):
    return VariantRecord(case, variant, Outcome(outcome), exception, message, "pass", as_expected=True, duration_s=0.1)


def cell(flax, records, complete=True, jax="0.5.3", pinned=None):
    return CellResult(
        CellId(flax, "cpu", pinned),
        complete=complete,
        versions=Versions(flax, jax, jax),
        python="3.12.1",
        platform="Linux",
        records=tuple(records),
    )


FOLD = "fold_in accepts a single key, but was given a key array of shape (3,)"
AXIS = "axis 0 is out of bounds for array of dimension 0"
BEFORE = [
    rec("dropout", "bug", "failed", "ValueError", AXIS),
    rec("dropout", "fix_resplit", "passed"),
    rec("dropout", "fix_stacked", "failed", "ValueError", AXIS),
    rec("lstm", "bug", "failed", "ValueError", "rank should be at least 1"),
    rec("lstm", "fix", "passed"),
    rec("rnn", "bug", "passed"),
    rec("rnn", "fix_nnx_jit", "passed"),
    rec("while", "bug", "failed", "ValueError", "got axis spec None at 0x7f3a2c"),
]
AFTER = [
    rec("dropout", "bug", "passed"),
    rec("dropout", "fix_resplit", "failed", "ValueError", FOLD),
    rec("dropout", "fix_stacked", "passed"),
    rec("lstm", "bug", "failed", "ValueError", "RNGs must be provided to initialize the cell carry."),
    rec("lstm", "fix", "failed", "ValueError", "RNGs must be provided to initialize the cell carry."),
    rec("rnn", "bug", "failed", "TraceContextError", "Cannot mutate RngCount from a different trace level"),
    rec("rnn", "fix_nnx_jit", "passed"),
    rec("while", "bug", "failed", "ValueError", "got axis spec None at 0x55d0e1"),
]


@pytest.mark.parametrize(
    ("variant", "before", "after", "change"),
    [
        ("fix", rec("c", "fix", "passed"), rec("c", "fix", "failed", "ValueError", "x"), "fix_breaks"),
        ("fix_other", rec("c", "fix_other", "failed", "ValueError", "x"), rec("c", "fix_other", "passed"), "fix_works"),
        ("bug", rec("c", "bug", "passed"), rec("c", "bug", "failed", "ValueError", "x"), "bug_appears"),
        ("bug_reuse", rec("c", "bug_reuse", "failed", "ValueError", "x"), rec("c", "bug_reuse", "passed"), "bug_gone"),
        (
            "bug",
            rec("c", "bug", "failed", "ValueError", "x"),
            rec("c", "bug", "failed", "TypeError", "x"),
            "error_changes",
        ),
        (
            "fix",
            rec("c", "fix", "failed", "ValueError", "x"),
            rec("c", "fix", "failed", "ValueError", "y"),
            "error_changes",
        ),
        (
            "bug",
            rec("c", "bug", "failed", "ValueError", "at 0x7f00"),
            rec("c", "bug", "failed", "ValueError", "at 0x5500"),
            None,
        ),
        ("fix", rec("c", "fix", "passed"), rec("c", "fix", "passed"), None),
        ("fix", rec("c", "fix", "passed"), rec("c", "fix", "error", None, "crashed (signal SIGSEGV)"), "fix_breaks"),
        ("bug", rec("c", "bug", "error", None, "timeout after 600 s"), rec("c", "bug", "passed"), "bug_gone"),
        (
            "bug",
            rec("c", "bug", "failed", "ValueError", "x"),
            rec("c", "bug", "error", None, "timeout after 600 s"),
            "error_changes",
        ),
        (
            "bug",
            rec("c", "bug", "error", None, "timeout after 9 s"),
            rec("c", "bug", "error", None, "timeout after 9 s"),
            None,
        ),
    ],
)
def test_classify_compares_what_happens_on_each_side(variant, before, after, change):
    assert gate_verdict.classify(variant, before, after) == change


def test_compare_names_every_change_and_breaks_on_a_broken_fix_or_a_new_bug():
    verdict = gate_verdict.compare(cell("0.10.5", BEFORE), cell("0.11.0", AFTER)).to_json()
    by = {(c["case"], c["variant"]): c for c in verdict["changes"]}
    assert verdict["exit_code"] == 1 and verdict["verdict"] == "breaks" and verdict["breaking"] == 3
    assert {k: c["change"] for k, c in by.items()} == {
        ("dropout", "bug"): "bug_gone",
        ("dropout", "fix_resplit"): "fix_breaks",
        ("dropout", "fix_stacked"): "fix_works",
        ("lstm", "bug"): "error_changes",
        ("lstm", "fix"): "fix_breaks",
        ("rnn", "bug"): "bug_appears",
    }
    assert by["dropout", "bug"]["droppable"] == ["fix_resplit", "fix_stacked"]
    assert by["dropout", "fix_resplit"]["after"] == {"outcome": "failed", "exception": "ValueError", "message": FOLD}
    assert verdict["unchanged"] == ["rnn-fix_nnx_jit", "while-bug"]  # a changed address is not a changed error


def test_a_bug_gone_keeps_its_workarounds_while_another_bug_variant_fails():
    before = [rec("c", "bug", "failed", "E", "m"), rec("c", "bug_reuse", "failed", "E", "m"), rec("c", "fix", "passed")]
    after = [rec("c", "bug", "passed"), rec("c", "bug_reuse", "failed", "E", "m"), rec("c", "fix", "passed")]
    verdict = gate_verdict.compare(cell("0.10.4", before), cell("0.10.5", after))
    assert verdict.exit_code == 0 and verdict.changes[0].droppable == ()
    assert "another bug variant of this case still fails" in gate_markdown.render(verdict)


def test_a_fix_that_crashes_breaks_and_says_how():
    verdict = gate_verdict.compare(
        cell("0.10.5", [rec("c", "fix", "passed")]),
        cell("0.11.0", [rec("c", "fix", "error", None, "crashed (signal SIGSEGV)")]),
    )
    assert verdict.exit_code == 1
    md = gate_markdown.render(verdict)
    assert "| c | fix | passes | error: crashed (signal SIGSEGV) |" in md


def test_no_change_exits_0():
    verdict = gate_verdict.compare(cell("0.10.2", BEFORE), cell("0.10.4", BEFORE))
    assert verdict.exit_code == 0 and verdict.changes == () and len(verdict.unchanged) == len(BEFORE)


def test_cells_that_cannot_be_compared_are_refused():
    with pytest.raises(gate_verdict.GateError, match="ran on only one of the two cells"):
        gate_verdict.compare(cell("0.10.5", BEFORE), cell("0.11.0", AFTER[:-1]))
    with pytest.raises(
        gate_verdict.GateError, match=r"^flax 0.11.0 \(cpu\): the cell's run stopped before it finished"
    ):
        gate_verdict.check_cell(cell("0.11.0", AFTER, complete=False), "0.11.0", "cpu")
    with pytest.raises(gate_verdict.GateError, match=r"^flax 0.11.0 \(cpu\): no variant ran"):
        gate_verdict.check_cell(cell("0.11.0", []), "0.11.0", "cpu")
    gate_verdict.check_cell(
        cell("0.11.0", [rec("lstm", "fix", "error", None, "crashed (signal SIGSEGV)")]), "0.11.0", "cpu"
    )
    with pytest.raises(gate_verdict.GateError, match=r"^flax 0.11.0 \(cpu\): error: could not install"):
        gate_verdict.check_cell(
            CellResult.not_run(CellId("0.11.0", "cpu"), CellOutcome.ERROR, "could not install flax-0.11.0-cpu: ..."),
            "0.11.0",
            "cpu",
        )


# ---- the command line, with the cells faked: no environment, no network ----------------------------------


def gate_cli(tmp_path, argv):
    """`flax-regressions gate ARGV` with tmp_path as the work directory."""
    return cli.main(["--workdir", str(tmp_path), "gate", *argv])


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Gate outputs under tmp_path, a registry of five releases, and run_cell writing the results given here."""
    monkeypatch.setattr(registry, "published", lambda package="flax": PUBLISHED)
    monkeypatch.setattr(registry, "yanked", lambda package="flax": {})
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    outcomes, calls = {}, []

    def run_cell(
        workspace, the_matrix, version, backend, extra=(), *, cells_dir, log=print, runner=None, jax=None, lock=None
    ):
        """``outcomes[version]`` (records, or (records, its own JAX)), ``outcomes["<version>+jax<J>"]`` with JAX pinned."""
        calls.append((version, backend, list(extra)) + ((jax,) if jax else ()))
        given = outcomes[version if jax is None else f"{version}+jax{jax}"]
        if isinstance(given, str):
            return CellResult.not_run(CellId(version, backend, jax), CellOutcome.ERROR, given)
        records, own_jax = given if isinstance(given, tuple) else (given, "0.5.3")
        return cell(version, records, jax=jax or own_jax, pinned=jax)

    monkeypatch.setattr(cells, "run_cell", run_cell)
    return outcomes, calls


def test_a_broken_fix_exits_1_names_it_and_writes_the_verdict(fake, tmp_path, monkeypatch, capsys):
    outcomes, calls = fake
    outcomes.update({"0.10.5": BEFORE, "0.11.0": AFTER})
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    assert gate_cli(tmp_path, ["--to", "0.11.0", "-k", "dropout or lstm"]) == 1  # --from: matrix.yaml's current, 0.10.5
    extra = ["-m", "conformance", "-k", "dropout or lstm"]
    assert sorted(calls) == [("0.10.5", "cpu", extra), ("0.11.0", "cpu", extra)]  # the two run at once
    out, err = capsys.readouterr()
    assert "gate: dropout-fix_resplit: the fix stops working on flax 0.11.0 (failed: ValueError: fold_in" in err
    assert "gate: lstm-fix: the fix stops working on flax 0.11.0" in err
    assert "gate: rnn-bug: the bug starts reproducing on flax 0.11.0" in err
    md = (tmp_path / "results" / "gate" / "latest" / "gate.md").read_text()
    assert md in out
    assert md.startswith("## Flax upgrade gate: 0.10.5 → 0.11.0 (cpu)")
    assert "❌ **The upgrade breaks 3 variant(s)** (exit 1): 2 fix(es) stop working, 1 bug(s) start reproducing." in md
    assert (
        "### ❌ Fixes that stop working" in md
        and "| dropout | fix_resplit | passes | failed: ValueError: fold_in" in md
    )
    assert "workarounds no longer needed: fix_resplit, fix_stacked" in md
    assert summary.read_text() == "earlier step\n" + md + "\n"
    saved = json.loads((tmp_path / "results" / "gate" / "latest" / "gate.json").read_text())
    assert saved["exit_code"] == 1 and saved["from"]["flax"] == "0.10.5" and saved["to"]["requested"] == "0.11.0"


def test_no_change_exits_0_and_latest_is_resolved(fake, tmp_path, capsys):
    outcomes, calls = fake
    outcomes.update({"0.10.2": BEFORE, "0.12.12": BEFORE})
    assert gate_cli(tmp_path, ["--from", "0.10.2"]) == 0
    assert sorted(c[0] for c in calls) == ["0.10.2", "0.12.12"]
    assert "✅ **The upgrade breaks nothing** (exit 0)." in capsys.readouterr().out
    assert json.loads((tmp_path / "results" / "gate" / "latest" / "gate.json").read_text())["to"] == {
        "requested": "latest",
        "cell": "flax-0.12.12-cpu",
        "flax": "0.12.12",
        "jax": "0.5.3",
        "jaxlib": "0.5.3",
        "python": "3.12.1",
        "platform": "Linux",
    }


def test_a_downgrade_says_so_in_its_first_line(fake, tmp_path, capsys):
    outcomes, _ = fake
    outcomes.update({"0.12.12": BEFORE, "0.10.2": AFTER})
    assert gate_cli(tmp_path, ["--from", "0.12.12", "--to", "0.10.2"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "## Flax downgrade gate: 0.12.12 → 0.10.2 (cpu)"
    assert "❌ **The downgrade breaks 3 variant(s)** (exit 1)" in out


def test_a_jax_upgrade_with_flax_held(fake, tmp_path, capsys):
    outcomes, calls = fake
    outcomes.update({"0.10.5+jax0.5.3": BEFORE, "0.10.5+jax0.6.0": AFTER})
    assert gate_cli(tmp_path, ["--from", "0.10.5", "--jax-from", "0.5.3", "--jax-to", "0.6.0"]) == 1  # --to: --from's
    assert sorted(calls) == [
        ("0.10.5", "cpu", ["-m", "conformance"], "0.5.3"),
        ("0.10.5", "cpu", ["-m", "conformance"], "0.6.0"),
    ]
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "## JAX upgrade gate: 0.5.3 → 0.6.0 with Flax 0.10.5 (cpu)"
    assert "| dropout | fix_resplit | passes | failed: ValueError: fold_in" in out
    assert "gate: dropout-fix_resplit: the fix stops working on flax 0.10.5 + jax 0.6.0 (failed: ValueError" in err


def test_when_flax_and_jax_both_move_each_break_names_its_cause(fake, tmp_path, capsys):
    """The older Flax runs once more with the newer JAX: the same failure there is JAX's change, a pass there is
    Flax's, another failure there (the older Flax not even importing, say) tells nothing."""
    outcomes, calls = fake
    mixed = {
        ("rnn", "bug"): rec("rnn", "bug", "passed"),
        ("lstm", "fix"): rec("lstm", "fix", "failed", "ImportError", "cannot import name 'core' from 'jax'"),
    }
    with_newer_jax = [mixed.get((r.case, r.variant), r) for r in AFTER]
    outcomes.update({"0.10.5": (BEFORE, "0.5.3"), "0.11.0": (AFTER, "0.7.0"), "0.10.5+jax0.7.0": with_newer_jax})
    assert gate_cli(tmp_path, ["--to", "0.11.0"]) == 1
    assert ("0.10.5", "cpu", ["-m", "conformance"], "0.7.0") in calls
    out, err = capsys.readouterr()
    assert (
        "gate: rnn-bug: the bug starts reproducing on flax 0.11.0 (failed: TraceContextError: Cannot mutate RngCount "
        "from a different trace level); Flax's change (flax 0.10.5 with jax 0.7.0 does not do this)" in err
    )
    assert (
        "gate: dropout-fix_resplit: the fix stops working on flax 0.11.0 (failed: ValueError: fold_in accepts a single "
        "key, but was given a key array of shape (3,)); JAX's change (flax 0.10.5 with jax 0.7.0 already does this)"
        in err
    )
    assert (
        "gate: lstm-fix: the fix stops working on flax 0.11.0 (failed: ValueError: RNGs must be provided to initialize "
        "the cell carry.); cause not told (flax 0.10.5 with jax 0.7.0 failed: ImportError: cannot import name 'core' "
        "from 'jax')" in err
    )
    causes = {
        c["variant"]: c.get("cause")
        for c in json.loads((tmp_path / "results" / "gate" / "latest" / "gate.json").read_text())["changes"]
        if c["breaking"]
    }
    assert causes == {"fix_resplit": "jax", "fix": None, "bug": "flax"}
    assert (
        "| rnn | bug | passes | failed: TraceContextError: Cannot mutate RngCount from a different trace level | Flax |"
        in out
    )
    assert (
        "| lstm | fix | passes | failed: ValueError: RNGs must be provided to initialize the cell carry. | not told |"
        in out
    )
    assert "Flax and JAX both move: flax 0.10.5 was run again with jax 0.7.0" in out


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--from", "0.10.55"], "flax 0.10.55 is not a release on the registry (nearest: 0.10.2, 0.10.4, 0.10.5)"),
        (["--to", "0.10.55"], "flax 0.10.55 is not a release on the registry (nearest: 0.10.2, 0.10.4, 0.10.5)"),
        (
            ["--from", "0.10.5", "--to", "current"],
            "--from and --to are the same build (flax 0.10.5 with jax 0.5.3): nothing to compare",
        ),
        (
            ["--jax-from", "0.5.3", "--jax-to", "0.5.3"],
            "--from and --to are the same build (flax 0.10.5 with jax 0.5.3): nothing to compare",
        ),
        (
            ["--from", "0.10.5", "--jax-from", "0.5.3"],  # that release's own JAX: both sides the same build
            "--from and --to are the same build (flax 0.10.5 with jax 0.5.3): nothing to compare",
        ),
        (["--backend", "tpu"], "unknown backend 'tpu' (matrix.yaml has: cpu, cuda)"),
        (
            ["--to", "0.11.0"],
            "flax 0.11.0 (cpu): error: could not install flax-0.11.0-cpu: no jaxlib for this platform",
        ),
    ],
)
def test_usage_and_environment_errors_exit_2_with_one_line(fake, tmp_path, capsys, argv, reason):
    outcomes, calls = fake
    outcomes.update({"0.10.5": BEFORE, "0.11.0": "could not install flax-0.11.0-cpu: no jaxlib for this platform"})
    assert gate_cli(tmp_path, argv) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"gate: error: {reason}"
    if "0.10.55" in argv:
        assert calls == []  # both releases are named before any environment is built
    verdict = json.loads((tmp_path / "results" / "gate" / "latest" / "gate.json").read_text())
    assert verdict["exit_code"] == 2 and verdict["reason"] == reason
    assert f"⚠️ **No verdict** (exit 2): {reason}" in (tmp_path / "results" / "gate" / "latest" / "gate.md").read_text()


def test_a_bad_argument_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        gate_cli(tmp_path, ["--form", "0.10.5"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("flax-regressions: error: unrecognized arguments: --form 0.10.5")


@pytest.mark.integration
def test_nox_session_exits_with_the_gates_own_status():
    """nox turns every failed session into 1; the gate session keeps 2 (and 1) for CI."""
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "gate", "--", "--no-such-option"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "error: unrecognized arguments: --no-such-option" in proc.stderr


# ---- end to end: real environments, a few variants each --------------------------------------------------

ENV_PROBLEMS = ("could not install", "cannot reach the package registry")


def _real_gate(tmp_path, monkeypatch, argv):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    code = cli.main(["--workdir", str(tmp_path), "--envdir", str(WORKSPACE.envs), "gate", *argv])
    verdict = json.loads((tmp_path / "results" / "gate" / "latest" / "gate.json").read_text())
    if code == 2 and any(p in verdict["reason"] for p in ENV_PROBLEMS):
        pytest.skip(f"environment not available here: {verdict['reason']}")
    return code, verdict


@pytest.mark.e2e
def test_end_to_end_0_10_5_to_0_11_0_breaks_the_dropout_and_lstm_fixes(tmp_path, monkeypatch, capsys):
    keyword = (
        "dropout_split_rngs-fix_resplit or dropout_split_rngs-fix_stateaxes "
        "or (lstm_vmap-fix and not lstm_vmap-fix_) or layernorm_vmap-fix"
    )
    code, verdict = _real_gate(tmp_path, monkeypatch, ["--from", "0.10.5", "--to", "0.11.0", "-k", keyword])
    assert code == 1, verdict.get("reason")
    broken = {f"{c['case']}-{c['variant']}" for c in verdict["changes"] if c["change"] == "fix_breaks"}
    assert broken == {"dropout_split_rngs-fix_resplit", "dropout_split_rngs-fix_stateaxes", "lstm_vmap-fix"}
    assert verdict["unchanged"] == ["layernorm_vmap-fix"] and len(verdict["changes"]) == 3
    err = capsys.readouterr().err
    for name in broken:
        assert f"gate: {name}: the fix stops working on flax 0.11.0" in err
    # JAX moved too (0.5.3 -> 0.7.0): flax 0.10.5 with jax 0.7.0 keeps every fix, so each break is Flax's
    assert verdict["mixed"]["jax"] == "0.7.0" and {c["cause"] for c in verdict["changes"] if c["breaking"]} == {"flax"}


@pytest.mark.e2e
def test_end_to_end_0_10_2_to_0_10_4_changes_nothing(tmp_path, monkeypatch):
    code, verdict = _real_gate(tmp_path, monkeypatch, ["--from", "0.10.2", "--to", "0.10.4", "-k", "layernorm_vmap"])
    assert code == 0, verdict.get("reason") or verdict["changes"]
    assert verdict["changes"] == [] and verdict["unchanged"] == ["layernorm_vmap-bug", "layernorm_vmap-fix"]


@pytest.mark.e2e
def test_end_to_end_a_jax_upgrade_with_flax_held_makes_the_while_loop_bug_go_away(tmp_path, monkeypatch):
    """vmap_while_loop's bug is JAX's: flax 0.10.5 with its own jax 0.5.3 reproduces it, with jax 0.6.0 it is gone."""
    code, verdict = _real_gate(
        tmp_path, monkeypatch, ["--from", "0.10.5", "--jax-to", "0.6.0", "-k", "vmap_while_loop-bug"]
    )
    assert code == 0, verdict.get("reason") or verdict["changes"]
    assert (verdict["from"]["flax"], verdict["from"]["jax"], verdict["to"]["flax"], verdict["to"]["jax"]) == (
        "0.10.5",
        "0.5.3",
        "0.10.5",
        "0.6.0",
    )
    assert {f"{c['case']}-{c['variant']}": c["change"] for c in verdict["changes"]} == {
        "vmap_while_loop-bug": "bug_gone",
        "vmap_while_loop-bug_nested": "bug_gone",
    }
    assert (
        (tmp_path / "results" / "gate" / "latest" / "gate.md")
        .read_text()
        .startswith("## JAX upgrade gate: 0.5.3 → 0.6.0 with Flax 0.10.5 (cpu)")
    )
