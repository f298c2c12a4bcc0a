"""Bad input and faults: a broken matrix.yaml or repro module, a release that cannot be installed, a variant that
hangs or crashes, an interrupted run, an unreachable registry, a megabyte message. Each test fails if its
guarantee breaks.

No Flax: the faulty cells run tests/fixtures/faulty/ (variants that fail, hang, segfault, abort and pass,
kept out of the default matrix) with this interpreter, and registries are faked, except for two real uv
runs (an unreachable index, an unsatisfiable JAX pin).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from flax_regressions.analysis import report
from flax_regressions.analysis.verdict import Change, Seen, Side, Verdict
from flax_regressions.catalogue import reader
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import CellId, CellOutcome, CellResult, Versions
from flax_regressions.core.workspace import Workspace
from flax_regressions.incell import faults
from flax_regressions.render import gate as gate_markdown
from flax_regressions.render import matrix_table
from flax_regressions.running import cells, envs, harness, registry, specs
from tests.shared_work import ROOT, WORKSPACE
from tests.test_envs import PUBLISHED
from tests.test_matrix import GOOD, write

FAULTY = ROOT / "tests" / "fixtures" / "faulty" / "matrix.yaml"


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


# 1. matrix.yaml validation: every session checks it first, `nox -s validate` does only that.


def nox_copy(tmp_path: Path, old: str = "", new: str = "") -> Path:
    """A copy of the project's nox entry point, with ``old`` replaced by ``new`` in its matrix.yaml."""
    for name in ("noxfile.py", "matrix.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("flax_regressions", "repro"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    text = (tmp_path / "matrix.yaml").read_text()
    assert old in text
    (tmp_path / "matrix.yaml").write_text(text.replace(old, new, 1))
    return tmp_path


def nox(project: Path, *args: str) -> subprocess.CompletedProcess:
    # cwd first on sys.path: the copy's flax_regressions, reading the copy's matrix.yaml
    return subprocess.run(
        [sys.executable, "-m", "nox", *args], cwd=project, capture_output=True, text=True, timeout=120
    )


@pytest.mark.integration
@pytest.mark.parametrize("session", ["validate", "tests(flax='0.10.5', backend='cpu')"])
def test_a_broken_matrix_stops_every_nox_session_with_one_line_and_status_2(tmp_path, session):
    project = nox_copy(tmp_path, "\nbackends:", "\ncolour: blue\nbackends:")
    run = nox(project, "-s", session)
    assert run.returncode == 2
    line = one_line(run.stdout + run.stderr)
    assert line.startswith("error: matrix.yaml:") and ": colour: unknown key" in line
    assert not (project / ".envs").exists() and not (project / "results").exists(), "nothing runs"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("problem", "session", "message"),
    [
        ("syntax", "validate", "cases.rnn_jit: repro/rnn_jit.py:3: does not compile: invalid syntax"),
        ("not UTF-8", "validate", "cases.rnn_jit: repro/rnn_jit.py:3: does not compile: (unicode error) 'utf-8' codec"),
        ("long id", "validate", "cases." + "x" * 300 + ": a case id names files: at most 100 bytes, not 300"),
        ("path", "validate", "cases.repro/rnn_jit: a case id is a Python identifier"),
        ("syntax", "report", "repro/rnn_jit.py:3: does not compile"),
        ("syntax", "gate", "repro/rnn_jit.py:3: does not compile"),
        ("syntax", "bugreport", "repro/rnn_jit.py:3: does not compile"),
    ],
)
def test_a_repro_module_that_cannot_be_read_or_named_stops_every_nox_session_with_one_line(
    tmp_path, problem, session, message
):
    """Checked with the matrix, without importing the module: every session stops before anything runs."""
    project = nox_copy(
        tmp_path,
        *{"long id": ("\n  rnn_jit:", "\n  " + "x" * 300 + ":"), "path": ("\n  rnn_jit:", "\n  repro/rnn_jit:")}.get(
            problem, ("", "")
        ),
    )
    source = {"syntax": b'"""A title."""\n\ndef bug(:\n', "not UTF-8": b'"""A title."""\n\nCAFE = "caf\xe9"\n'}
    if problem in source:
        (project / "repro" / "rnn_jit.py").write_bytes(source[problem])
    run = nox(project, "-s", session, *(["--", "rnn_jit"] if session == "bugreport" else []))
    assert run.returncode == 2
    line = one_line(run.stdout + run.stderr)
    assert line.startswith("error: matrix.yaml:") and message in line
    assert not (project / ".envs").exists() and not (project / "results").exists(), "nothing runs"


@pytest.mark.integration
def test_nox_validate_checks_the_matrix_and_builds_nothing(tmp_path):
    project = nox_copy(tmp_path)
    run = nox(project, "-s", "validate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "matrix.yaml: valid: " in run.stdout + run.stderr
    assert not (project / ".envs").exists()


def test_validation_takes_under_a_second():
    took = []
    for _ in range(3):
        start = time.perf_counter()
        reader.load()
        took.append(time.perf_counter() - start)
    assert min(took) < 1.0


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--backend=tpu"], {}, "error: --backend tpu: unknown backend (matrix.yaml has cpu, cuda)"),
        ([], {faults.TIMEOUT_ENV: "ten"}, f"error: {faults.TIMEOUT_ENV}='ten' is not a number of seconds"),
    ],
)
def test_bad_command_line_input_is_one_line_and_status_2(tmp_path, args, env, message):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "flax_regressions.incell.plugin", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | env,
    )
    assert run.returncode == 2
    assert one_line(run.stdout + run.stderr).endswith(message)


# 2. A release that does not exist, or cannot be installed with its JAX: an error cell, the others still run.


def run_id_of(command: list[str]) -> str:
    """The run id a cell's pytest command gives the results file it writes (running.cells.run_pytest)."""
    return next(arg.split("=", 1)[1] for arg in command if arg.startswith("--run-id="))


def test_a_release_that_does_not_exist_is_an_error_cell_and_the_others_run(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "published", lambda package="flax": PUBLISHED)
    monkeypatch.setattr(registry, "yanked", lambda package="flax": {})
    monkeypatch.setattr(envs, "ensure", lambda spec, envs_dir=None, log=print: Path("/envs") / spec.name / "python")
    the_matrix = reader.load(write(tmp_path))
    cells_dir = tmp_path / "cells"
    ran = []

    def runner(command, env, cwd):  # stands for pytest in the cell's environment: a cell where all went as expected
        ran.append(command[0])
        CellResult(
            CellId("0.10.5", "cpu"),
            versions=Versions("0.10.5", "0.5.3"),
            records=tuple(
                VariantRecord("demo", v, Outcome.PASSED, expected="pass", as_expected=True) for v in ("bug", "fix")
            ),
            run_id=run_id_of(command),
        ).write(cells_dir / "flax-0.10.5-cpu.json")
        return 0

    for version in ("0.10.55", "0.10.5"):
        cells.run_cell(
            Workspace.at(tmp_path),
            the_matrix,
            version,
            "cpu",
            cells_dir=cells_dir,
            log=lambda line: None,
            runner=runner,
        )

    assert ran == ["/envs/flax-0.10.5-cpu/python"]
    rows = report.write_report([CellId("0.10.55", "cpu"), CellId("0.10.5", "cpu")], the_matrix, cells_dir, tmp_path)
    reason = (
        "could not install flax-0.10.55-cpu: flax 0.10.55 is not a release on the registry "
        "(nearest: 0.10.2, 0.10.5, 0.10.6)"
    )
    assert [(str(r.cell), r.record.outcome, r.record.message) for r in rows if str(r.cell) == "flax-0.10.55-cpu"] == [
        ("flax-0.10.55-cpu", "error", reason)
    ] * 2
    md = matrix_table.render(rows)
    assert f"❌ error: {reason}" in md and "✅ bug absent" in md


@pytest.mark.integration
def test_a_release_that_cannot_be_installed_with_its_jax_is_an_error_cell(tmp_path, monkeypatch):
    """A real uv resolution (PyPI): flax 0.10.5 requires jax >= 0.5.1, the matrix pins 0.4.1."""
    monkeypatch.setattr(registry, "published", lambda package="flax": PUBLISHED)

    text = GOOD.replace('{version: "0.10.5", jax: "0.5.3"}', '{version: "0.10.5", jax: "0.4.1"}')
    the_matrix = reader.load(write(tmp_path, text))
    cell = cells.run_cell(
        Workspace.at(tmp_path),
        the_matrix,
        "0.10.5",
        "cpu",
        cells_dir=tmp_path / "cells",
        log=lambda line: None,
        runner=lambda command, env, cwd: pytest.fail("pytest must not run without an environment"),
    )
    assert cell.outcome is CellOutcome.ERROR
    assert one_line(cell.reason).startswith("could not install flax-0.10.5-cpu: Because ")
    assert "jax" in cell.reason and "unsatisfiable" in cell.reason


# 3. A variant that hangs or kills the interpreter: an error naming the timeout or the signal; the rest runs.


@pytest.mark.parametrize(
    ("dump", "status", "message"),
    [
        ("Timeout (0:00:02)!\nThread 0x1 (most recent call first):\n  File x.py", 1, "timeout after 2 s"),
        ("Fatal Python error: Segmentation fault\n\nCurrent thread 0x1", -11, "crashed (signal SIGSEGV)"),
        ("Fatal Python error: Aborted\n\nThread 0x2", None, "crashed (signal SIGABRT)"),
        ("", -9, "crashed (signal SIGKILL)"),
        ("", 3, "crashed (exit status 3)"),
        ("", None, "crashed (the worker died without a signal or exit status on record)"),
    ],
)
def test_what_killed_a_worker(dump, status, message):
    assert faults.what_killed(dump, status, 2.0) == message


@pytest.mark.integration
def test_sigterm_gives_the_live_workers_the_sigint_of_ctrl_c():
    """Without it, xdist asks a worker to stop and execnet waits 5 s for a hanging variant before interrupting it."""
    worker = subprocess.Popen(["sleep", "60"])
    node = SimpleNamespace(gateway=SimpleNamespace(_io=SimpleNamespace(popen=worker)))
    previous = faults.sigterm_as_interrupt([node])
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the handler raises here
        assert worker.wait(timeout=30) == -signal.SIGINT
    finally:
        signal.signal(signal.SIGTERM, previous)
        worker.kill()


def test_the_timeout_defaults_to_600_s_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv(faults.TIMEOUT_ENV, raising=False)
    assert faults.default_timeout() == 600.0
    monkeypatch.setenv(faults.TIMEOUT_ENV, "2.5")
    assert faults.default_timeout() == 2.5


def faulty_cell(tmp_path, monkeypatch, *extra: str) -> CellResult:
    """Run the faulty matrix as a cell, through cells.run_cell and its real pytest command, in this interpreter."""
    monkeypatch.setattr(specs, "spec_for", lambda *args, **kwargs: None)
    monkeypatch.setattr(envs, "ensure", lambda spec, envs_dir=None, log=print: Path(sys.executable))
    return cells.run_cell(
        Workspace.at(tmp_path),
        reader.load(FAULTY),
        "0.10.5",
        "cpu",
        ["--matrix", str(FAULTY), "-m", "conformance", *extra],
        cells_dir=tmp_path / "cells",
        log=lambda line: None,
    )


@pytest.mark.e2e
def test_a_hang_and_two_crashes_cost_only_their_own_variants(tmp_path, monkeypatch):
    cell = faulty_cell(tmp_path, monkeypatch, "--variant-timeout", "1")
    assert cell.complete is True
    got = {r.variant: (r.outcome, r.message, r.as_expected) for r in cell.records}
    assert got == {
        "bug": ("failed", "the bug", True),
        "bug_hang": ("error", "timeout after 1 s", False),
        "bug_segfault": ("error", "crashed (signal SIGSEGV)", False),
        "bug_abort": ("error", "crashed (signal SIGABRT)", False),
        "fix": ("passed", None, True),
    }
    assert {r.variant: r.expected for r in cell.records}["bug_hang"] == "fail"

    rows = report.write_report([CellId("0.10.5", "cpu")], reader.load(FAULTY), tmp_path / "cells", tmp_path)
    texts = {r.record.variant: matrix_table.verdict_text(r) for r in rows}
    assert texts["bug_hang"] == "❌ error: timeout after 1 s"
    assert texts["bug_segfault"] == "❌ error: crashed (signal SIGSEGV)"
    assert texts["bug"] == "✅ bug reproduces" and texts["fix"] == "✅ fix works"
    junit = (tmp_path / "junit" / "flax-0.10.5-cpu.xml").read_text()
    assert "timeout after 1 s" in junit and "faulty.py" in junit, "the report keeps where the variant hung"


# 4. An interrupted run: what was written stays readable, the report names what is missing.


def processes_in_group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def start_as_a_foreground_job(command: list[str], **kwargs) -> subprocess.Popen:
    """Popen, with SIGINT at its default in the child, as a shell gives a foreground job (Ctrl-C reaches it).

    A shell without job control starts a background job (``uv run pytest &`` in a script) with SIGINT ignored,
    and an ignored signal stays ignored across fork and exec: the cell would ignore the test's Ctrl-C and run
    until its variant timeout. A handled signal is reset to its default at exec, so handle it here meanwhile.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(command, **kwargs)
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find leftover processes")
@pytest.mark.parametrize("how", ["SIGINT to the group (Ctrl-C)", "SIGTERM to pytest (kill, a cancelled CI job)"])
def test_an_interrupted_cell_leaves_a_readable_partial_file_and_no_processes(tmp_path, how):
    cells_dir = tmp_path / "cells"
    command = harness.pytest_command(
        sys.executable,
        CellId("0.10.5", "cpu"),
        [
            "--matrix",
            str(FAULTY),
            "-m",
            "conformance",
            "-k",
            "not segfault and not abort",
            "--variant-timeout",
            "120",
        ],
        WORKSPACE,
        cells_dir,
    )
    path = cells_dir / "flax-0.10.5-cpu.json"
    proc = start_as_a_foreground_job(
        command,
        cwd=harness.harness(WORKSPACE),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ | {"JAX_PLATFORMS": "cpu"},
    )
    try:
        deadline = time.monotonic() + 60
        while not path.exists():  # the first variant is recorded; the second one hangs
            assert proc.poll() is None and time.monotonic() < deadline, "the cell never wrote its first record"
            time.sleep(0.1)
        time.sleep(0.5)
        if how.startswith("SIGINT"):
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 10
        while processes_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not processes_in_group(proc.pid), "the xdist worker outlived the interrupted run"
    finally:
        if proc.poll() is None or processes_in_group(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)

    cell = CellResult.load(path)
    assert cell.complete is False
    assert [(r.variant, r.outcome) for r in cell.records] == [("bug", "failed")]
    rows = report.write_report(
        [CellId("0.10.2", "cpu"), CellId("0.10.5", "cpu")], reader.load(FAULTY), cells_dir, tmp_path
    )
    by = {(str(r.cell), r.record.variant): r for r in rows}
    assert matrix_table.verdict_text(by["flax-0.10.5-cpu", "bug"]) == (  # right, but its run did not finish
        "❌ unfinished: the run stopped before its property test: bug reproduces"
    )
    assert not by["flax-0.10.5-cpu", "bug"].as_expected
    assert matrix_table.verdict_text(by["flax-0.10.5-cpu", "fix"]) == "❌ missing: the run stopped before this variant"
    assert matrix_table.verdict_text(by["flax-0.10.2-cpu", "fix"]) == "❌ missing: no results file"
    assert "❌ missing" in matrix_table.render(rows)


# 5. A registry that cannot be reached while an environment is built: one line that says so.


@pytest.mark.integration
def test_an_unreachable_registry_while_building_is_one_line(tmp_path, monkeypatch):
    """A real uv run against an index nothing listens on (no cache, no retries: it fails at once)."""
    for name in ("UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_OFFLINE", "UV_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_NO_CACHE", "1")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    spec = specs.EnvSpec(
        flax="0.10.5",
        jax="0.5.3",
        backend="cpu",
        jax_extra=None,
        python="3.12",
        cutoff=date(2025, 4, 1),
        tools=specs.cell_tools(),
    )
    with pytest.raises(registry.RegistryUnreachable) as info:  # not an EnvError: it says nothing of the release
        envs.ensure(spec, tmp_path / ".envs", log=lambda line: None)
    message = one_line(str(info.value))
    assert message.startswith("could not install flax-0.10.5-cpu: cannot reach the package registry (")
    assert "Connection refused" in message and "cause:" not in message


def test_an_unreachable_registry_never_destroys_the_last_good_result(tmp_path, monkeypatch):
    the_matrix = reader.load(write(tmp_path, GOOD))
    cells_dir = tmp_path / "cells"
    good = CellResult(
        CellId("latest", "cpu"),
        versions=Versions("0.12.12", "0.12.0.1", "0.12.0.1"),
        updated="2026-11-20T10:00:00+00:00",
        records=(
            VariantRecord("demo", "bug", Outcome.FAILED, "ValueError", "rank", "fail", as_expected=True),
            VariantRecord("demo", "fix", Outcome.PASSED, expected="pass", as_expected=True),
        ),
    )
    good.write(cells_dir / "flax-latest-cpu.json")

    def unreachable(package="flax"):
        raise registry.RegistryUnreachable("cannot reach the package registry (https://pypi.org): timed out")

    monkeypatch.setattr(registry, "published", unreachable)
    result = cells.run_cell(
        Workspace.at(tmp_path),
        the_matrix,
        "latest",
        "cpu",
        cells_dir=cells_dir,
        log=lambda _: None,
        runner=lambda *a: pytest.fail("nothing can run"),
    )
    assert (
        result.records == good.records and CellResult.load(cells_dir / "flax-latest-cpu.json").records == good.records
    )
    assert "cannot reach the package registry" in result.rerun_failed
    rows = report.write_report([CellId("latest", "cpu")], the_matrix, cells_dir, tmp_path)
    assert not any(row.as_expected for row in rows)
    assert matrix_table.verdict_text(rows[0]).startswith(
        "❌ not run now (could not install flax-latest-cpu: cannot reach the package registry"
    )
    assert matrix_table.verdict_text(rows[0]).endswith("last result, from 2026-11-20T10:00:00+00:00: bug reproduces")


# 6. A very long exception message: cut in every Markdown document, whole in the JSON files.


def test_a_megabyte_message_is_cut_in_markdown_and_kept_whole_in_json(tmp_path):
    huge = "shapes differ: " + "[1.0 2.0 3.0]" * 80_000  # one line, about a megabyte: an array printed whole
    cells_dir = tmp_path / "cells"
    CellResult(
        CellId("0.10.5", "cpu"),
        versions=Versions("0.10.5", "0.5.3"),
        records=(
            VariantRecord("demo", "bug", Outcome.FAILED, "ValueError", "rank", "fail", as_expected=True),
            VariantRecord("demo", "fix", Outcome.FAILED, "ValueError", huge, "pass", as_expected=False),
        ),
    ).write(cells_dir / "flax-0.10.5-cpu.json")
    rows = report.write_report([CellId("0.10.5", "cpu")], reader.load(write(tmp_path, GOOD)), cells_dir, tmp_path)
    md = matrix_table.render(rows)
    assert "❌ fix broken: ValueError: shapes differ: [1.0 2.0 3.0]" in md and len(md) < 2_000
    assert huge in (tmp_path / "matrix.json").read_text()

    change = Change("demo", "fix", "fix_breaks", Seen("passed"), Seen("failed", "ValueError", huge))
    gate_md = gate_markdown.render(
        Verdict(Side("0.10.5", flax="0.10.5"), Side("0.11.0", flax="0.11.0"), "cpu", (change,))
    )
    assert "failed: ValueError: shapes differ: [1.0 2.0 3.0]" in gate_md and len(gate_md) < 2_000
