"""No run reports green when it tested nothing, and no failed run loses a good result (issue 28).

Each test is one way a hostile but ordinary user made the newer surfaces (``run``, ``run --here``, ``--lock``,
``--backend cuda``, the pytest plugin) report green for a run that tested nothing, lose a good results file, or
die with a traceback. The made-up cases import no Flax, so the cells here run in seconds with this interpreter.
"""

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flax_regressions.catalogue import reader
from flax_regressions.commands import cli
from flax_regressions.core.errors import one_line
from flax_regressions.core.files import write_json
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import CellId, CellOutcome, CellResult, Versions
from flax_regressions.core.workspace import Workspace
from flax_regressions.running import cells, envs, locks, registry, specs, uv
from flax_regressions.running.runners import LoggedRunner
from tests.test_envs import PUBLISHED
from tests.test_matrix import GOOD, write

pytest_plugins = ["pytester"]

CASES = """\
python: "3.12"
current: "0.10.5"
flax:
  - {version: "0.10.5", jax: "0.5.3"}
backends:
  cpu: {}
  cuda: {jax_extra: cuda12, needs: nvidia-gpu}
cases:
  demo:
    variants:
      fix:
        - {expect: pass}
      fix_other:
        - {expect: pass}
"""

WORKS = '''\
"""A made-up case whose fixes work."""


def fix():
    pass


def fix_other():
    pass
'''


def cases_dir(tmp_path: Path, source: str = WORKS) -> Path:
    directory = tmp_path / "cases"
    (directory / "repro").mkdir(parents=True, exist_ok=True)
    (directory / "matrix.yaml").write_text(CASES)
    (directory / "repro" / "demo.py").write_text(source)
    return directory


def tool(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The flax-regressions command of this checkout, its work directory ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "flax_regressions", "--workdir", str(cwd), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | (env or {}),
    )


def last_line(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.strip().splitlines()[-1]


# 1. A run that recorded nothing keeps the earlier results, says so, and exits 2.


@pytest.mark.integration
@pytest.mark.parametrize(
    ("pytest_args", "why"),
    [  # WORKS has no PROPERTY_SIZES: its property tests run it as it is
        (["--no-such-option"], "pytest exited with status 4 (usage error) and recorded nothing"),
        (["-k", "typo"], "pytest exited with status 5 (no test was collected) and recorded nothing"),
    ],
)
def test_a_here_run_that_records_nothing_keeps_the_last_result_and_exits_2(tmp_path, pytest_args, why):
    directory = cases_dir(tmp_path)
    first = tool("run", "--here", "--backend", "cpu", "--cases", str(directory), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    [path] = (tmp_path / "results" / "cells").glob("*.json")
    before = CellResult.load(path)
    (directory / "repro" / "demo.py").write_text(WORKS.replace("def fix():\n    pass", "def fix():\n    raise OSError"))

    proc = tool("run", "--here", "--backend", "cpu", "--cases", str(directory), "--", *pytest_args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert why in last_line(proc) and last_line(proc).startswith(f"run: error: {before.cell}: not run now: ")
    assert "all 2 results as expected" not in proc.stdout + proc.stderr and "wrote" not in proc.stdout
    after = CellResult.load(path)
    assert after.records == before.records, "the good results are kept"
    assert why in after.rerun_failed, "and every later report says they are not from this run"
    assert "❌ not run now" in proc.stdout


def test_a_cell_whose_pytest_records_nothing_keeps_its_file_marked(tmp_path, monkeypatch):
    """The same with a built environment (run --flax V -- --no-such-option): pytest exits 4, writes nothing."""
    monkeypatch.setattr(specs, "spec_for", lambda *args, **kwargs: None)
    monkeypatch.setattr(envs, "ensure", lambda spec, envs_dir=None, log=print: Path(sys.executable))
    good = CellResult(
        CellId("0.10.5", "cpu"),
        versions=Versions("0.10.5", "0.5.3"),
        records=(VariantRecord("demo", "fix", Outcome.PASSED, expected="pass", as_expected=True),),
    )
    good.write(tmp_path / "flax-0.10.5-cpu.json")
    the_matrix = reader.load(write(tmp_path, GOOD))
    result = cells.run_cell(
        Workspace.at(tmp_path),
        the_matrix,
        "0.10.5",
        "cpu",
        cells_dir=tmp_path,
        log=lambda line: None,
        runner=lambda command, env, cwd: 4,
    )
    assert result.records == good.records and "status 4 (usage error)" in result.rerun_failed
    assert CellResult.load(tmp_path / "flax-0.10.5-cpu.json").rerun_failed == result.rerun_failed


# 2. A backend this machine lacks is refused when asked for, and never overwrites a file of a machine that had it.


@pytest.mark.integration
@pytest.mark.skipif(cells.missing_backend(reader.load(), "cuda") is None, reason="this machine has a GPU")
@pytest.mark.parametrize("here", [True, False])
def test_cuda_on_a_machine_without_a_gpu_is_one_line_and_exit_2(tmp_path, here):
    directory = cases_dir(tmp_path)
    earlier = tmp_path / "results" / "cells" / "flax-0.10.5-cuda.json"
    write_json(earlier, {"made": "on a GPU machine"})
    proc = tool(
        "run",
        *(["--here"] if here else ["--flax", "0.10.5"]),
        "--backend",
        "cuda",
        "--cases",
        str(directory),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "run: error: --backend cuda: no NVIDIA GPU on this machine (nvidia-smi not found or failing)"
    )
    assert json.loads(earlier.read_text()) == {"made": "on a GPU machine"}
    assert sorted(p.name for p in (tmp_path / "results" / "cells").iterdir()) == ["flax-0.10.5-cuda.json"]


@pytest.mark.skipif(cells.missing_backend(reader.load(), "cuda") is None, reason="this machine has a GPU")
def test_a_skipped_cell_leaves_the_file_of_a_machine_that_had_its_backend(tmp_path):
    the_matrix = reader.load(write(tmp_path, GOOD))
    earlier = tmp_path / "flax-0.10.5-cuda.json"
    write_json(earlier, {"made": "on a GPU machine"})
    result = cells.run_cell(
        Workspace.at(tmp_path),
        the_matrix,
        "0.10.5",
        "cuda",
        cells_dir=tmp_path,
        runner=lambda *a: pytest.fail("nothing runs without the backend"),
    )
    assert result.outcome is CellOutcome.SKIPPED
    assert json.loads(earlier.read_text()) == {"made": "on a GPU machine"}


# 3. A variant whose call would not run its body is refused by validation.


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def fix():\n    raise ValueError('x')\n    yield\n",
            "repro/demo.py:5: fix() is a generator function (it yields): calling it runs none of its body",
        ),
        (
            "async def fix():\n    pass\n",
            "repro/demo.py:5: fix() is a coroutine function (async def): calling it runs none of its body",
        ),
    ],
)
def test_a_variant_that_would_not_run_its_body_is_refused(tmp_path, source, message):
    with pytest.raises(reader.MatrixError) as info:
        reader.load(write(tmp_path, GOOD, "def bug():\n    pass\n\n\n" + source))
    assert str(info.value).endswith(message)


# 4. The gate compares the builds it installed, not the versions it was asked for.


def test_a_gate_whose_two_sides_installed_the_same_build_has_no_verdict(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "published", lambda package="flax": PUBLISHED)
    monkeypatch.setattr(registry, "yanked", lambda package="flax": {})

    def run_cell(
        workspace, the_matrix, version, backend, extra=(), *, cells_dir, log=print, runner=None, jax=None, lock=None
    ):
        records = tuple(VariantRecord(c, v, Outcome.PASSED) for c, v in the_matrix.variants())
        return CellResult(CellId(version, backend, jax), versions=Versions(version, "0.6.0", "0.6.0"), records=records)

    monkeypatch.setattr(cells, "run_cell", run_cell)
    assert cli.main(["--workdir", str(tmp_path), "gate", "--from", "0.10.6", "--jax-to", "0.6.0"]) == 2  # its own JAX
    verdict = json.loads((tmp_path / "results" / "gate" / "latest" / "gate.json").read_text())
    assert verdict["reason"] == "both sides installed flax 0.10.6 with jax 0.6.0: the same build, nothing to compare"


# 5. Two narrowed runs of one cell at once each keep the other's records, and each writes its own log.


SLOW = '''\
"""A made-up case whose fixes take a second and break."""

import time


def fix():
    time.sleep(1)
    raise OSError("a broke")


def fix_other():
    time.sleep(1)
    raise OSError("b broke")
'''


@pytest.mark.integration
def test_two_narrowed_runs_of_one_cell_at_once_lose_no_record(tmp_path):
    directory = cases_dir(tmp_path)
    assert tool("run", "--here", "--backend", "cpu", "--cases", str(directory), cwd=tmp_path).returncode == 0
    (directory / "repro" / "demo.py").write_text(SLOW)
    runs = [
        threading.Thread(
            target=tool,
            args=("run", "--here", "--backend", "cpu", "--cases", str(directory), "--", "-k", selected),
            kwargs={"cwd": tmp_path},
        )
        for selected in ("demo-fix and not other", "demo-fix_other")
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    [path] = (tmp_path / "results" / "cells").glob("*.json")
    records = {r.variant: (r.outcome, r.message) for r in CellResult.load(path).records}
    assert records == {"fix": ("failed", "a broke"), "fix_other": ("failed", "b broke")}


@pytest.mark.integration
def test_a_log_another_run_is_writing_is_left_to_it(tmp_path):
    import fcntl

    log = tmp_path / "logs" / "flax-0.10.5-cpu.log"
    log.parent.mkdir()
    with open(log, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("the other run's output\n")
        held.flush()
        runner = LoggedRunner(log)
        assert runner([sys.executable, "-c", "print('mine')"], {}, tmp_path) == 0
    assert runner.path == tmp_path / "logs" / "flax-0.10.5-cpu-run2.log" and runner.path.read_text() == "mine\n"
    assert log.read_text() == "the other run's output\n"


# 6. A lock's cell has its own name; a lock that cannot be installed is the command's error, not the release's.


def test_a_locks_cell_has_its_own_results_and_a_conflict_is_a_lock_error(tmp_path, monkeypatch):
    (tmp_path / "requirements.txt").write_text("numpy==0.0.1\n")
    lock = locks.read(tmp_path / "requirements.txt", "3.12")
    good = CellResult(CellId("0.10.5", "cpu"), versions=Versions("0.10.5", "0.5.3"))
    good.write(tmp_path / "cells" / "flax-0.10.5-cpu.json")

    def refuse(spec, envs_dir=None, log=print):
        raise envs.EnvError("could not install flax-0.10.5-cpu: Because numpy==0.0.1 has no wheels ...")

    monkeypatch.setattr(specs, "spec_for", lambda *args, **kwargs: None)
    monkeypatch.setattr(envs, "ensure", refuse)
    with pytest.raises(
        locks.LockError, match=r"Because numpy==0.0.1 has no wheels ... \(from --lock .*requirements.txt\)$"
    ):
        cells.run_cell(
            Workspace.at(tmp_path),
            reader.load(write(tmp_path, GOOD)),
            "0.10.5",
            "cpu",
            cells_dir=tmp_path / "cells",
            lock=lock,
        )
    assert CellResult.load(tmp_path / "cells" / "flax-0.10.5-cpu.json") == good
    assert sorted(p.name for p in (tmp_path / "cells").glob("*.json")) == ["flax-0.10.5-cpu.json"]
    assert str(CellId("0.10.5", "cpu", None, lock.digest)) == f"flax-0.10.5-lock-{lock.digest}-cpu"
    assert CellId.parse(f"flax-0.10.5-jax-0.6.0-lock-{lock.digest}-cpu") == CellId(
        "0.10.5", "cpu", "0.6.0", lock.digest
    )


# 7. Bad input is one line and exit status 2, never a traceback.


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("pylock.toml", 'packages = ["x"]\n', r"pylock.toml: packages\[1\]: expected a table, found str 'x'$"),
        (
            "pylock.toml",
            '[[packages]]\nname = "numpy"\nversion = "2.2.4"\nmarker = 12\n',
            r"packages\[1\] \(numpy\): its marker is int, not a string$",
        ),
        (
            "uv.lock",
            '[[package]]\nname = "team"\nversion = "0.1.0"\nsource = { virtual = "." }\ndependencies = ["y"]\n',
            r"uv.lock: package\[1\] \(team\): a dependency: expected a table, found str 'y'$",
        ),
        ("requirements.txt", "numpy==2.2.4 ; python_version >< '3'\n", r"requirements.txt:1: not a requirement: "),
    ],
)
def test_a_malformed_lock_is_one_line(tmp_path, name, text, error):
    (tmp_path / name).write_text(text)
    with pytest.raises(locks.LockError, match=error) as info:
        locks.read(tmp_path / name, "3.12")
    assert "\n" not in one_line(str(info.value))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('python: "3.12"\n[x]: 1\n', "matrix.yaml:2: (top level): a key is a plain name, not a list or a mapping"),
        (b'python: "3.12\xff"\n', "matrix.yaml:1: not UTF-8: byte 0xff at offset 13"),
        (
            'python: "3.12"\x00\n',
            "matrix.yaml:1: YAML syntax error: unacceptable character #x0000: special characters are not allowed",
        ),
    ],
)
def test_a_cases_matrix_that_is_not_yaml_text_is_one_line(tmp_path, text, message):
    path = tmp_path / "matrix.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(reader.MatrixError) as info:
        reader.load(path)
    assert str(info.value) == message


@pytest.mark.integration
@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_a_workdir_that_cannot_be_written_is_one_line(tmp_path, where):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    workdir = a_file if where == "a file" else a_file / "work"
    proc = tool("--workdir", str(workdir), "validate", cwd=tmp_path)
    assert proc.returncode == 2
    assert one_line(proc.stderr) == proc.stderr.strip()
    assert proc.stderr.startswith(f"validate: error: --workdir {workdir}: cannot write there (")


@pytest.mark.integration
@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_a_report_log_that_cannot_be_written_is_one_line(tmp_path, where):
    directory = cases_dir(tmp_path)
    (tmp_path / "a-file").write_text("")
    target = tmp_path if where == "a directory" else tmp_path / "a-file" / "log.jsonl"
    proc = tool(
        "run", "--here", "--backend", "cpu", "--cases", str(directory), "--report-log", str(target), cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert last_line(proc).startswith(f"run: error: --report-log {target}: cannot write it (")


def test_run_here_without_jax_is_one_line(monkeypatch):
    from flax_regressions.commands import run

    monkeypatch.setattr(run, "installed_versions", lambda: Versions("0.12.12", "not installed", "not installed"))
    with pytest.raises(run.Error, match=r"^--here: jax and jaxlib are not installed in this interpreter \("):
        run.check_installed()


@pytest.mark.integration
def test_the_plugin_with_a_broken_matrix_is_one_line_and_exit_2(pytester):
    (pytester.path / "cases" / "repro").mkdir(parents=True)
    (pytester.path / "cases" / "matrix.yaml").write_text('python: "3.12"\n[x]: 1\n')
    result = pytester.runpytest_subprocess("-p", "flax_regressions", "--flax-cases", "cases")
    assert result.ret == 2
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert (
        result.stderr.str()
        .strip()
        .endswith("cases/matrix.yaml:2: (top level): a key is a plain name, not a list or a mapping")
    )


HIDE_JAX = """\
import sys


class NoJax:  # as if JAX were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("jax", "jaxlib"):
            raise ModuleNotFoundError(f"No module named {name!r}")


sys.meta_path.insert(0, NoJax())
"""


@pytest.mark.integration
def test_the_plugin_without_jax_is_one_line_and_exit_2(pytester, monkeypatch):
    directory = cases_dir(pytester.path)
    (pytester.path / "site").mkdir()
    (pytester.path / "site" / "sitecustomize.py").write_text(HIDE_JAX)
    monkeypatch.setenv("PYTHONPATH", str(pytester.path / "site"))
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    result = pytester.runpytest_subprocess("-p", "flax_regressions", "--flax-cases", str(directory))
    assert result.ret == 2, result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert (
        result.stderr.str()
        .strip()
        .startswith(
            "Exit: error: no --backend given, and JAX, which would name it, is not installed in this interpreter"
        )
    )


# 8. Installing the package does not break a project whose conftest has its own --cases.


@pytest.mark.integration
def test_a_project_with_its_own_cases_option_still_starts(pytester):
    pytester.makeconftest('def pytest_addoption(parser):\n    parser.addoption("--cases", default="mine")\n')
    pytester.makepyfile(test_mine="def test_it(request):\n    assert request.config.getoption('--cases') == 'mine'\n")
    result = pytester.runpytest_subprocess("-p", "flax_regressions")
    result.assert_outcomes(passed=1)


# 9. Hashes in a lock are honoured: a file whose bytes differ is refused, naming the package.


def test_a_locks_hashes_reach_the_environment_and_its_identity(tmp_path):
    hashed = locks.read(
        write_text(tmp_path / "requirements.txt", "numpy==2.2.4 \\\n    --hash=sha256:aaa \\\n    --hash=sha256:bbb\n"),
        "3.12",
    )
    plain = locks.read(write_text(tmp_path / "other.txt", "numpy==2.2.4\n"), "3.12")
    assert hashed.requirements() == ("numpy==2.2.4 --hash=sha256:aaa --hash=sha256:bbb",)
    assert hashed.digest != plain.digest, "an environment is reused only for the same bytes"
    lock = tmp_path / "requirements.lock"
    lock.write_text("jax==0.5.3\n    # via flax\nnumpy==2.2.4\n    # via jax\n")
    spec = specs.EnvSpec("0.10.5", "0.5.3", "cpu", None, "3.12", None, (), pins=hashed.requirements())
    envs._add_hashes(lock, spec)
    assert lock.read_text() == (
        "jax==0.5.3\n    # via flax\nnumpy==2.2.4 --hash=sha256:aaa --hash=sha256:bbb\n    # via jax\n"
    )


@pytest.mark.integration
def test_uv_refuses_a_file_whose_hash_is_not_the_locks_and_says_which(tmp_path):
    """A real uv: the environment's lock as _add_hashes leaves it, one hash wrong (the registry is needed)."""
    env = tmp_path / "env"
    subprocess.run([uv.uv(), "venv", "--quiet", "--python", sys.executable, str(env)], check=True)
    lock = write_text(tmp_path / "requirements.lock", "six==1.16.0 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(envs.EnvError) as info:
        uv.run("flax-0.10.5-cpu", ["pip", "sync", "--quiet", "--python", str(env / "bin" / "python"), str(lock)])
    assert str(info.value).startswith(
        "could not install flax-0.10.5-cpu: hash mismatch for six==1.16.0: the lock "
        f"accepts sha256:{'0' * 64}, the file has sha256:"
    )


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# 10. uv export's and pip freeze's editable line is left out, saying so once.


@pytest.mark.parametrize("line", ["-e .", "-e git+https://github.com/team/repo@abc#egg=team", "--editable=./sub"])
def test_the_projects_own_editable_line_is_left_out_saying_so(tmp_path, line):
    lock = locks.read(write_text(tmp_path / "requirements.txt", f"{line}\nflax==0.10.5\n"), "3.12")
    assert [str(p) for p in lock.pins] == ["flax==0.10.5"]
    assert lock.notes == (
        f"{tmp_path / 'requirements.txt'}:1: left out {line!r}: an editable install is the project itself, not a pin",
    )


# 11. No Python 3.12 for the cells says so, and how to give one.


NO_PYTHON = """\
error: Request failed after 3 retries in 7.6s
  cause: Failed to download `https://github.com/astral-sh/python-build-standalone/releases/download/20261110/cpython-3.12.16%2B20261110-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz`
  cause: error sending request for url (https://github.com/astral-sh/python-build-standalone/releases/download/...)
  cause: client error (Connect)
  cause: failed to lookup address information: Name or service not known
"""


@pytest.mark.parametrize(
    "stderr",
    [
        NO_PYTHON,
        "error: No interpreter found for Python 3.12 in managed installations "
        "or search path\n\nhint: A managed Python download is available\n",
    ],
)
def test_no_python_for_the_cells_names_the_interpreter_and_how_to_give_it(stderr):
    error = uv.failure("flax-0.10.5-cpu", stderr)
    assert isinstance(error, uv.PythonMissing)
    assert str(error).startswith("no Python 3.12 for the cells: uv found none on PATH and could not download one (")
    assert str(error).endswith("install Python 3.12 and put it on PATH, or set UV_PYTHON to its path")
    assert "registry" not in str(error)


# 13. A variant that timed out is not run again in its cell, and no process a variant starts outlives the cell.


LEAVES = '''\
"""A made-up case whose variants leave processes behind; one of them hangs."""

import subprocess
import time


def fix():
    subprocess.Popen(["sleep", "3141"])  # a child
    subprocess.Popen(["sh", "-c", "sleep 3142 &"]).wait()  # a daemon: its parent is gone at once


def fix_other():
    subprocess.Popen(["sleep", "3143"])
    while True:
        time.sleep(0.05)
'''


def sleeping(*seconds: int) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args[:1] == [b"sleep"] and args[1:2] and int(args[1] or 0) in seconds:
            found.append(args[1].decode())
    return found


@pytest.mark.integration
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find leftover processes")
def test_a_hang_costs_one_timeout_and_no_process_outlives_the_cell(tmp_path):
    directory = cases_dir(tmp_path, LEAVES)
    proc = tool(
        "run", "--here", "--backend", "cpu", "--cases", str(directory), "--", "--variant-timeout", "3", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [path] = (tmp_path / "results" / "cells").glob("*.json")
    cell = CellResult.load(path)
    assert {r.variant: (r.outcome, r.message) for r in cell.records} == {
        "fix": ("passed", None),
        "fix_other": ("error", "timeout after 3 s"),
    }
    skipped = {p.variant: (p.outcome, p.message) for p in cell.properties}["fix_other"]
    assert skipped[0] == "skipped" and "timed out in its conformance test in this cell" in skipped[1]
    assert not sleeping(3141, 3142, 3143), "a variant's processes outlived the cell"


# 14. Results files get the mode the umask gives.


def test_a_results_file_has_the_mode_the_umask_gives(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    write_json(tmp_path / "cell.json", {})
    assert stat.S_IMODE((tmp_path / "cell.json").stat().st_mode) == 0o666 & ~mask


def test_one_line_leaves_out_carets_and_joins_the_rest():
    assert one_line("Expected end\n    python_version >< '3'\n                   ^\n") == (
        "Expected end; python_version >< '3'"
    )


@pytest.mark.integration
def test_uv_python_gives_the_cells_their_interpreter_and_must_be_theirs(tmp_path, monkeypatch):
    spec = specs.EnvSpec("0.10.5", "0.5.3", "cpu", None, "3.12", None, ())
    monkeypatch.setenv("UV_PYTHON", sys.executable)
    envs._venv(spec, tmp_path / "env")
    assert (tmp_path / "env" / "bin" / "python").exists()
    other = specs.EnvSpec("0.10.5", "0.5.3", "cpu", None, "3.10", None, ())
    with pytest.raises(
        uv.PythonMissing,
        match=rf"^UV_PYTHON={sys.executable} is Python 3\.12\.\d+; the cells need "
        r"Python 3\.10$",
    ):
        envs._venv(other, tmp_path / "other")
    assert not (tmp_path / "other").exists()


@pytest.mark.integration
def test_a_teams_own_pytest_settings_stay_out_of_the_cell(tmp_path):
    """The cell runs with the harness's pytest.ini, whatever configuration the cases directory sits under."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "--no-such-option"\npythonpath = ["nowhere"]\n'
    )
    directory = cases_dir(tmp_path)
    proc = tool("run", "--here", "--backend", "cpu", "--cases", str(directory), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
