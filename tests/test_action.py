"""The Action (action.yml), the report log and the example scheduled workflow, run on this machine.

Neither the Action nor the example workflow has run on GitHub, so the tests below run their own ``run:`` steps,
read from the YAML, as the runners would: each job in its own fresh clone of a team's repository (a git
repository made here from tests/fixtures/user_repo), with the tool from a copy of this working tree (``TOOL``).
The ``uses:`` steps are replaced by their effect: checkout is the clone, setup-uv and setup-python are no-ops
(uv is installed), an artifact is a directory handed from job to job (upload-artifact's rule for the root of
several paths included), and the issue action's input is read the way that action reads it (pytest's own
report classes). Every ``${{ }}`` expression is substituted from an explicit table; an unknown one fails. The
jobs share the checkout's environments and compilation cache (tests.shared_work), as a cache step would.
"""

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from _pytest.reports import CollectReport, TestReport

from flax_regressions.analysis import report
from flax_regressions.catalogue import case_dirs
from flax_regressions.core.cells import CellId
from flax_regressions.core.merged import Row
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import Versions
from flax_regressions.render import reportlog
from flax_regressions.running import locks
from tests.shared_work import ROOT, SHARED

ACTION = ROOT / "action.yml"
EXAMPLE = ROOT / "examples" / "workflows" / "flax-upgrade.yml"
USER_REPO = ROOT / "tests" / "fixtures" / "user_repo"
REPORT_TYPES = {"SessionStart", "CollectReport", "TestReport", "SessionFinish"}


def load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # BaseLoader: `on` stays a key, every scalar a string


# --- action.yml's structure (actionlint checks workflows, not actions) -------------------------------------------


def test_the_action_is_composite_and_uses_only_inputs_it_declares():
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"from", "to", "cases", "lock", "backend"}
    steps = action["runs"]["steps"]
    assert all("shell" in step for step in steps if "run" in step)  # a composite action's run step must name its shell
    used = set(re.findall(r"\$\{\{\s*inputs\.([\w-]+)", ACTION.read_text()))
    assert used == set(action["inputs"]), "every input used is declared, and every declared one used"
    ids = {step.get("id") for step in steps}
    assert set(re.findall(r"steps\.([\w-]+)\.", ACTION.read_text())) <= ids
    uses = [step["uses"].split("@")[0] for step in steps if "uses" in step]
    assert uses == ["astral-sh/setup-uv", "github/codeql-action/upload-sarif", "actions/upload-artifact"]
    gate = next(step for step in steps if step.get("id") == "gate")
    assert (
        'uvx --from "$TOOL" flax-regressions gate' in gate["run"] and gate["env"]["TOOL"] == "${{ github.action_path }}"
    )
    upload = next(step for step in steps if "upload-artifact" in step.get("uses", ""))
    assert steps.index(upload) < len(steps) - 1 and upload["if"] == "${{ !cancelled() }}"  # uploaded before failing


# --- the report log ---------------------------------------------------------------------------------------------


def _row(cell, case, variant, outcome, as_expected, exception=None, message=None):
    record = VariantRecord(
        case, variant, Outcome(outcome), exception, message, "pass", as_expected=as_expected, duration_s=0.5
    )
    return Row(CellId.parse(cell), Versions(CellId.parse(cell).flax, "0.5.3", "0.5.3"), record)


def read_log(path: Path) -> list:
    """The report log as the issue action reads it: pytest's own report classes for the tests, nothing unknown."""
    events = [json.loads(line) for line in Path(path).read_text().splitlines()]
    assert {e["$report_type"] for e in events} <= REPORT_TYPES
    assert events[0].keys() == {"pytest_version", "$report_type"} and events[-1].keys() == {
        "exitstatus",
        "$report_type",
    }
    kinds = {"TestReport": TestReport, "CollectReport": CollectReport}
    return [kinds[e["$report_type"]]._from_json(e) for e in events if e["$report_type"] in kinds]


def test_the_report_log_has_one_test_report_per_cell_and_variant(tmp_path):
    rows = [
        _row("flax-0.10.5-cpu", "lstm", "fix", "passed", True),
        _row("flax-0.11.0-cpu", "lstm", "fix", "failed", False, "ValueError", "RNGs must be provided"),
        _row("flax-0.11.0-cpu", "lstm", "bug", "skipped", True, message="no such backend"),
    ]
    reportlog.write(tmp_path / "log.jsonl", rows, 1)
    reports = read_log(tmp_path / "log.jsonl")
    tests = {r.nodeid: r for r in reports if isinstance(r, TestReport)}
    assert {k: r.outcome for k, r in tests.items()} == {
        "repro/lstm.py::fix[flax-0.10.5-cpu]": "passed",
        "repro/lstm.py::fix[flax-0.11.0-cpu]": "failed",
        "repro/lstm.py::bug[flax-0.11.0-cpu]": "skipped",
    }
    assert tests["repro/lstm.py::fix[flax-0.11.0-cpu]"].longrepr == "❌ fix broken: ValueError: RNGs must be provided"
    assert dict(tests["repro/lstm.py::fix[flax-0.11.0-cpu]"].user_properties)["jax"] == "0.5.3"
    assert json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])["exitstatus"] == 1


@pytest.mark.e2e
def test_run_here_writes_the_report_log_of_a_real_run(tmp_path):
    """The fixture's case alone on this environment's Flax (0.11.0 or later, where the team's fix is broken)."""
    cases_dir = tmp_path / "cases"
    shutil.copytree(USER_REPO / "cases", cases_dir)
    (cases_dir / "matrix.yaml").write_text(
        'python: "3.12"\ncurrent: "0.10.5"\nflax:\n  - {version: "0.10.5"}\n'
        "backends:\n  cpu: {}\ncases:\n  train_step:\n    variants:\n      fix:\n"
        '        - {flax: ">=0.10.0", expect: pass}\n'
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flax_regressions",
            "--workdir",
            str(tmp_path / "work"),
            "run",
            "--here",
            "--cases",
            str(cases_dir),
            "--report-log",
            str(tmp_path / "log.jsonl"),
            "--",
            "-m",
            "conformance",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [test] = [r for r in read_log(tmp_path / "log.jsonl") if isinstance(r, TestReport)]
    assert test.nodeid.startswith("repro/train_step.py::fix[flax-") and test.outcome == "failed"
    assert "Missing required argument `wrt`" in test.longrepr


# --- running a workflow's steps here ----------------------------------------------------------------------------


class Runner:
    """One job's steps in its own workspace: run steps in bash, uses steps by their effect, expressions by table."""

    def __init__(self, workspace: Path, artifacts: Path, values: dict, env: dict):
        self.workspace, self.artifacts, self.values, self.env = workspace, artifacts, values, env
        self.failed, self.outputs, self.issue_logs, self.log = False, {}, [], ""
        self.summary = workspace.parent / f"{workspace.name}-summary.md"

    def value(self, expression: str):
        expression = expression.strip()
        if expression == "!cancelled()":
            return True
        if " && " in expression:
            return all(self.value(part) for part in expression.split(" && "))
        if expression in ("failure()", "success()"):
            return self.failed == (expression == "failure()")
        if match := re.fullmatch(r"fromJSON\((.+)\)", expression):
            return json.loads(self.value(match[1]))
        if match := re.fullmatch(r"(.+?) != '(.*)'", expression):
            return self.value(match[1]) != match[2]
        if match := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression):
            return self.outputs[match[1]][match[2]]
        return self.values[expression]  # KeyError: an expression this table does not know

    def text(self, text: str) -> str:
        return re.sub(r"\$\{\{(.+?)\}\}", lambda m: str(self.value(m[1])), text)

    def run(self, steps: list[dict]) -> bool:
        for step in steps:
            if not self.value(re.sub(r"^\$\{\{(.*)\}\}$", r"\1", step.get("if", "success()").strip())):
                continue
            if "uses" in step:
                self.uses(step["uses"].split("@")[0], {k: self.text(v) for k, v in (step.get("with") or {}).items()})
                continue
            env = {k: self.text(v) for k, v in (self.env | (step.get("env") or {})).items()}
            output = self.workspace.parent / f"{self.workspace.name}-output-{len(self.outputs)}"
            output.write_text("")
            shell = (
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
                if step.get("shell") == "bash"
                else ["bash", "-e", "-c"]
            )
            proc = subprocess.run(
                [*shell, self.text(step["run"])],
                cwd=self.workspace,
                capture_output=True,
                text=True,
                timeout=600,
                env=os.environ | env | {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(self.summary)},
            )
            self.log += proc.stdout + proc.stderr
            self.outputs[step.get("id", f"step{len(self.outputs)}")] = dict(
                line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
            )
            self.failed |= proc.returncode != 0
        return not self.failed

    def uses(self, action: str, given: dict) -> None:
        if action in ("astral-sh/setup-uv", "actions/setup-python", "actions/checkout"):
            return  # uv is installed; Python too; the workspace is already the clone
        if action == "github/codeql-action/upload-sarif":  # code scanning: kept with the artifacts, for the test
            self.artifacts.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.workspace / given["sarif_file"], self.artifacts / "code-scanning.sarif")
            return
        if action == "actions/upload-artifact":
            paths = [self.workspace / p for p in given["path"].split()]
            found = [p for p in paths if p.exists()]
            assert found or given.get("if-no-files-found") != "error", f"upload-artifact: no files in {given['path']}"
            root = found[0] if len(found) == 1 else Path(os.path.commonpath(found))  # upload-artifact's rule
            for path in found:
                target = self.artifacts / given["name"] / path.relative_to(root)
                (
                    shutil.copytree(path, target, dirs_exist_ok=True)
                    if path.is_dir()
                    else (target.parent.mkdir(parents=True, exist_ok=True), shutil.copy2(path, target))
                )
            return
        if action == "actions/download-artifact":
            assert given["merge-multiple"] == "true"
            for artifact in sorted(self.artifacts.iterdir()):
                if fnmatch.fnmatch(artifact.name, given["pattern"]):
                    shutil.copytree(artifact, self.workspace / given["path"], dirs_exist_ok=True)
            return
        if action == "scientific-python/issue-from-pytest-log-action":
            self.issue_logs.append(read_log(self.workspace / given["log-path"]))
            return
        raise AssertionError(f"no effect known for the action {action}")


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A team's repository (git, one commit): its cases on flax 0.10.5 and 0.11.0 alone, its lock, the example
    workflow; and the tool, a copy of this working tree (what the Action's checkout or TOOL's git URL gives)."""
    base = tmp_path_factory.mktemp("team")
    repo = base / "repo"
    shutil.copytree(USER_REPO, repo)
    (repo / "cases" / "matrix.yaml").write_text(
        'python: "3.12"\ncurrent: "0.10.5"\nflax:\n  - {version: "0.10.5"}\n  - {version: "0.11.0"}\n'
        'backends:\n  cpu: {}\ncases:\n  train_step:\n    variants:\n      fix:\n        - {flax: ">=0.10.0", expect: pass}\n'
        # a detection rule of the team's own, so that the Action's scan has something to find in its code
        '    detect:\n      message: "nnx.Optimizer without wrt (our train_step)"\n'
        '      rule: {pattern: "nnx.Optimizer($M, $TX)"}\n'
    )
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(EXAMPLE, repo / ".github" / "workflows" / "flax-upgrade.yml")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "our cases"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    tool = base / "tool"
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (tool / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tool / name)
    # uv and a Python 3.12 the way a runner has them: this environment's uv, the interpreter behind it
    path = os.pathsep.join(
        [str(Path(os.path.realpath(sys.executable)).parent), str(Path(sys.executable).parent), os.environ["PATH"]]
    )
    return {"base": base, "repo": repo, "tool": tool, "path": path}


def clone(team: dict, name: str) -> Path:
    workspace = team["base"] / "runners" / name
    workspace.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", str(team["repo"]), str(workspace)], check=True, capture_output=True)
    return workspace


@pytest.mark.e2e
def test_the_example_workflow_fans_out_one_clone_per_cell_and_the_report_merges_them_as_nox_does(team):
    workflow = load(EXAMPLE)
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    jobs = workflow["jobs"]
    artifacts = team["base"] / "artifacts"
    common = {
        "inputs.pytest_args": "-m conformance",
        "github.token": "t",
        "github.server_url": "https://github.com",
        "github.repository": "team/repo",
        "github.run_id": "1",
    }
    env = workflow["env"] | {"TOOL": str(team["tool"]), "PATH": team["path"]} | SHARED

    listing = Runner(clone(team, "list"), artifacts, common, env)
    assert listing.run(jobs["list"]["steps"]), listing.log
    cells = listing.text(jobs["list"]["outputs"]["cells"])
    include = json.loads(cells)["include"]
    assert [job["cell"] for job in include] == ["flax-0.10.5-cpu", "flax-0.11.0-cpu"]

    def cell_job(job: dict) -> Runner:
        values = common | {
            "matrix.cell": job["cell"],
            "matrix.flax": job["flax"],
            "matrix.backend": job["backend"],
            "matrix.runs-on": job["runs-on"],
            "needs.list.outputs.cells": cells,
        }
        runner = Runner(clone(team, job["cell"]), artifacts, values, env)
        runner.run(jobs["cell"]["steps"])
        return runner

    with ThreadPoolExecutor(max_workers=2) as pool:  # two runners at once, on two cores
        ran = list(pool.map(cell_job, include))
    assert [r.failed for r in ran] == [False, True], ran[1].log  # 0.11.0 breaks the team's fix: that cell's job fails
    assert sorted(p.name for p in artifacts.iterdir()) == ["cell-flax-0.10.5-cpu", "cell-flax-0.11.0-cpu"]

    merging = Runner(
        clone(team, "report"), artifacts, common | {"env.ISSUE_TITLE": workflow["env"]["ISSUE_TITLE"]}, env
    )
    merging.run(jobs["report"]["steps"])
    assert (
        merging.failed and "**1 of 2 results as expected** (1 variant in 2 cells)." in merging.summary.read_text()
    )  # the table, in the summary

    # The same merge as nox's report makes of the same cells in one checkout (analysis.report, the matrix's default cells,
    # each named by the lock they were built from).
    the_matrix = case_dirs.load([merging.workspace / "cases"])
    digest = locks.read(merging.workspace / workflow["env"]["LOCK"], the_matrix.python).digest
    together = team["base"] / "together"
    for runner in ran:
        shutil.copytree(runner.workspace / "results" / "cells", together / "cells", dirs_exist_ok=True)
    report.write_report(
        [replace(c, lock=digest) for c in report.default_cells(the_matrix)], the_matrix, together / "cells", together
    )
    merged = json.loads((merging.workspace / "results" / "matrix.json").read_text())
    expected = json.loads((together / "matrix.json").read_text())
    assert merged["cells"] == expected["cells"] and merged["environments"] == expected["environments"]
    assert [(c["cell"], c["outcome"], c["as_expected"]) for c in merged["cells"]] == [
        (f"flax-0.10.5-lock-{digest}-cpu", "passed", True),
        (f"flax-0.11.0-lock-{digest}-cpu", "failed", False),
    ]

    [issue_log] = merging.issue_logs  # the issue step ran, on a log pytest's own classes read
    failed = [r.nodeid for r in issue_log if isinstance(r, TestReport) and r.outcome == "failed"]
    assert failed == [f"repro/train_step.py::fix[flax-0.11.0-lock-{digest}-cpu]"]


@pytest.mark.e2e
def test_the_action_runs_the_gate_uploads_its_results_and_fails_the_step_on_exit_1(team):
    action = load(ACTION)
    artifacts = team["base"] / "action-artifacts"
    given = {"from": "", "to": "0.11.0", "cases": "cases", "lock": "requirements.txt", "backend": "cpu", "scan": "."}
    values = {f"inputs.{name}": given.get(name, spec.get("default", "")) for name, spec in action["inputs"].items()}
    runner = Runner(
        clone(team, "action"),
        artifacts,
        values | {"github.action_path": str(team["tool"])},
        {"PATH": team["path"]} | SHARED,
    )
    runner.run(action["runs"]["steps"])
    assert runner.outputs["gate"] == {"exit-code": "1"}, runner.log
    assert runner.failed and "the Flax upgrade breaks a variant" in runner.log
    verdict = json.loads((artifacts / "flax-upgrade-gate" / "gate.json").read_text())
    assert verdict["from"]["flax"] == "0.10.5" and verdict["changes"][0]["variant"] == "fix"  # --from: the lock's Flax
    assert "❌ **The upgrade breaks 1 variant(s)**" in runner.summary.read_text()
    sarif = json.loads((artifacts / "code-scanning.sarif").read_text())
    assert sarif["version"] == "2.1.0" and runner.outputs["scan"]["exit-code"] in ("0", "1", "2"), runner.log
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]]
    assert "train.py" in uris, uris  # the team's own rule found the team's own line
