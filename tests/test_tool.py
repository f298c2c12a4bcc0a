"""The installed tool, end to end: a wheel built from this checkout, installed in a fresh virtual environment,
run from a directory outside the repository on the built-in catalogue and on the fixture user repository's own
cases (tests/fixtures/user_repo), in this interpreter (--here), and inside a user's own pytest run.

Nothing here is mocked: every test runs the installed ``flax-regressions`` or that environment's pytest. The
environment holds the wheel, and this environment's own Flax and JAX for --here and the pytest plugin; it is
built once and kept while the wheel's bytes are the same (tests.shared_work). No cell environment is built, but
the two sides of the gate on the user repository's own lock (--lock), in the checkout's .envs/ (SHARED).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from flax_regressions.catalogue import reader
from flax_regressions.running import locks
from tests.shared_work import ROOT, SHARED, UV, WORKSPACE, kept_venv

pytestmark = pytest.mark.e2e  # every test runs the installed tool, in an environment built on the first run

USER_REPO = ROOT / "tests" / "fixtures" / "user_repo"
# The fixture's case as measured (cases/repro/train_step.py: passes on Flax 0.10.5, fails on 0.11.0 and later).
STANDALONE = """\
python: "3.12"
current: "0.10.5"
flax:
  - {version: "0.10.5", jax: "0.5.3"}
backends:
  cpu: {}
cases:
  train_step:
    variants:
      fix:
        - {flax: "<0.11.0", expect: pass}
        - {flax: ">=0.11.0", expect: fail, raises: TypeError, match: "Missing required argument `wrt`"}
"""


@pytest.fixture(scope="session")
def tool_env(tmp_path_factory) -> Path:
    """A virtual environment with the wheel of this checkout, and this environment's Flax and JAX. hatchling's
    wheels are reproducible: the same bytes, the same environment, kept from the last run."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([UV, "build", "--wheel", "--quiet", "-o", str(dist), str(ROOT)], check=True, capture_output=True)
    wheel = next(dist.glob("flax_regressions-*.whl"))
    pins = [f"{name}=={version(name)}" for name in ("flax", "jax", "jaxlib")]
    key = hashlib.sha256(wheel.read_bytes() + " ".join(pins).encode()).hexdigest()
    return kept_venv("tests-tool", [str(wheel), *pins], key)


@pytest.fixture
def user_repo(tmp_path) -> Path:
    """A copy of the fixture user repository, outside this checkout."""
    shutil.copytree(USER_REPO, tmp_path / "repo")
    return tmp_path / "repo"


def tool(env: Path, *args: str, cwd: Path, shared: bool = True) -> subprocess.CompletedProcess:
    """The installed tool; ``shared=False``: with none of SHARED, not even from this process (the in-cell plugin
    that the harness's own pytest loads sets the checkout's compilation cache)."""
    own = {name: value for name, value in os.environ.items() if name not in SHARED}
    return subprocess.run(
        [str(env / "bin" / "flax-regressions"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=own | (SHARED if shared else {}),
    )


def installed_package(env: Path) -> Path:
    return next(env.glob("lib/python*/site-packages/flax_regressions"))


def test_the_installed_tool_validates_its_built_in_catalogue_with_no_clone(tool_env, tmp_path):
    proc = tool(tool_env, "validate", cwd=tmp_path)
    builtin = reader.load()
    assert proc.returncode == 0, proc.stderr
    packaged = installed_package(tool_env) / "builtin"
    assert (
        proc.stdout.strip() == f"the built-in catalogue: valid: {len(builtin.cases)} cases, "
        f"{len(builtin.variants())} variants, flax {', '.join(v.version for v in builtin.flax)}"
    )
    assert (packaged / "repro" / "rnn_jit.py").is_file()
    assert not list(installed_package(tool_env).rglob("pyproject.toml")), "the wheel ships no pyproject.toml"
    assert list(tmp_path.iterdir()) == [], "validate builds and writes nothing"


def test_validate_reads_the_users_cases_beside_the_built_in_ones(tool_env, user_repo):
    proc = tool(tool_env, "validate", "--cases", "cases", cwd=user_repo)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(reader.load().cases) + 1} cases" in proc.stdout


def test_a_broken_user_matrix_is_one_line_naming_its_file_and_line(tool_env, user_repo):
    text = (user_repo / "cases" / "matrix.yaml").read_text()
    (user_repo / "cases" / "matrix.yaml").write_text(text.replace("expect: pass", "expect: maybe"))
    proc = tool(tool_env, "validate", "--cases", "cases", cwd=user_repo)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "validate: error: cases/matrix.yaml:9: cases.train_step.variants.fix[0].expect: "
        "must be pass, fail or warn, not 'maybe'"
    )


def test_a_case_id_declared_twice_names_both_files(tool_env, user_repo):
    (user_repo / "more" / "repro").mkdir(parents=True)
    shutil.copy(user_repo / "cases" / "repro" / "train_step.py", user_repo / "more" / "repro")
    (user_repo / "more" / "matrix.yaml").write_text(STANDALONE)
    proc = tool(tool_env, "validate", "--cases", "cases", "--cases", "more", cwd=user_repo)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "validate: error: more/matrix.yaml:8: cases.train_step: case id already declared in cases/matrix.yaml"
    )


def test_here_runs_in_this_interpreter_and_records_what_is_installed(tool_env, user_repo):
    """The fixture's own case on the environment's Flax (0.11.0 or later): its workaround broke, and the run says so."""
    proc = tool(tool_env, "run", "--here", "--cases", "cases", "--", "-m", "conformance", cwd=user_repo)
    flax = version("flax")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        f"train_step-fix on flax {flax} (cpu): ❌ fix broken: TypeError: Missing required argument `wrt`" in proc.stdout
    ), "listed under the table"
    total = len(reader.load().variants()) + 1
    assert f"1 of {total} results not as expected" in proc.stderr, "the built-in cases are as expected here"
    results = json.loads((user_repo / "results" / "cells" / f"flax-{flax}-cpu.json").read_text())
    assert results["versions"] == {"flax": flax, "jax": version("jax"), "jaxlib": version("jaxlib")}
    assert results["backend"] == "cpu" and "optax" in results["packages"], "every installed package is recorded"
    assert {r["case"] for r in results["results"]} == set(reader.load().cases) | {"train_step"}
    assert not any(p.name in ("results", ".envs", ".jax-cache") for p in installed_package(tool_env).iterdir())


def test_here_with_a_standalone_matrix_and_a_workdir_exits_0_when_all_is_as_expected(tool_env, user_repo, tmp_path):
    (user_repo / "cases" / "matrix.yaml").write_text(STANDALONE)
    proc = tool(
        tool_env, "--workdir", str(tmp_path / "work"), "run", "--here", "--cases", "cases", cwd=user_repo, shared=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fix broken, as recorded (TypeError)" in proc.stdout
    written = json.loads((tmp_path / "work" / "results" / "cells" / f"flax-{version('flax')}-cpu.json").read_text())
    assert [(r["case"], r["variant"], r["as_expected"]) for r in written["results"]] == [("train_step", "fix", True)]
    assert written["compile_cache"]["directory"] == str(tmp_path / "work" / ".jax-cache")
    assert not (user_repo / "results").exists(), "--workdir: nothing under the directory it ran in"


def test_the_pytest_plugin_runs_the_cases_among_the_users_tests_only_when_asked(tool_env, user_repo):
    (user_repo / "cases" / "matrix.yaml").write_text(STANDALONE)
    (user_repo / "tests").mkdir()
    (user_repo / "tests" / "test_mine.py").write_text("def test_mine():\n    assert 1 + 1 == 2\n")
    pytest_run = [str(tool_env / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-v", "tests"]
    alone = subprocess.run(pytest_run, cwd=user_repo, capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0 and "1 passed" in alone.stdout and "test_variant" not in alone.stdout, alone.stdout
    assert not (user_repo / ".jax-cache").exists(), "installed but not asked for: the plugin does nothing"
    asked = subprocess.run(
        pytest_run + ["-p", "flax_regressions", "--flax-cases", "cases"],
        cwd=user_repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "test_mine PASSED" in asked.stdout
    assert "test_variant[train_step-fix] XFAIL" in asked.stdout
    assert "1 passed, 1 xfailed" in asked.stdout


def test_the_installed_tool_gates_the_user_repository_on_its_lock_and_names_its_own_variant(tool_env, user_repo):
    """The wheel in a fresh environment, run in a copy of the fixture repository: the team pins flax 0.10.5 and jax
    0.5.3; Flax 0.11.0 needs a newer JAX, so that side's JAX is the resolver's (said in one line), and the team's own
    workaround stops working there: exit 1, naming it. Real environments (uv's cache makes them seconds), the team's
    case only (-k); uv finds Python 3.12 where a runner's setup would put it (the interpreter behind this one)."""
    path = os.pathsep.join([str(Path(os.path.realpath(sys.executable)).parent), os.environ["PATH"]])
    proc = subprocess.run(
        [
            str(tool_env / "bin" / "flax-regressions"),
            "gate",
            "--cases",
            "cases",
            "--lock",
            "requirements.txt",
            "--to",
            "0.11.0",
            "-k",
            "train_step",
        ],
        cwd=user_repo,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | SHARED | {"PATH": path},
    )
    if proc.returncode == 2 and "cannot reach the package registry" in proc.stderr:
        pytest.skip("the package registry cannot be reached")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        "gate: train_step-fix: the fix stops working on flax 0.11.0 (failed: TypeError: Missing required argument "
        "`wrt`" in proc.stderr
    )
    assert (
        "gate: the lock's jax==0.5.3 jaxlib==0.5.3 cannot install with flax 0.11.0, so the resolver chose JAX"
        in proc.stderr
    )
    gate_dir = user_repo / "results" / "gate" / "latest"
    verdict = json.loads((gate_dir / "gate.json").read_text())
    assert (verdict["from"]["flax"], verdict["from"]["jax"]) == ("0.10.5", "0.5.3")  # --from: the release the lock pins
    digest = locks.read(user_repo / "requirements.txt", "3.12").digest
    before = json.loads((gate_dir / "cells" / f"flax-0.10.5-lock-{digest}-cpu.json").read_text())
    assert {name: before["packages"][name] for name in ("optax", "numpy", "chex")} == {
        "optax": "0.2.4",
        "numpy": "2.2.4",
        "chex": "0.1.89",
    }  # the team's own pins, recorded as installed
    lock_envs = WORKSPACE.envs / f"lock-{digest}"
    assert sorted(p.name for p in lock_envs.iterdir() if p.is_dir()) == [
        "flax-0.10.5-cpu",
        "flax-0.11.0-cpu",
        "jax-0.7.0",
    ]  # the lock's own environments, never the catalogue's
    # JAX moved too (0.5.3 -> 0.7.0): flax 0.10.5 with jax 0.7.0, from the same lock, keeps the workaround: Flax's change
    assert [c["cause"] for c in verdict["changes"] if c["breaking"]] == ["flax"]
