"""The pre-commit hook a team adds (`.pre-commit-hooks.yaml`): pre-commit installs this repository and the hook
fails a commit whose Python files hit a case that gets worse or bites (pre-commit's own try-repo, a real install)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.shared_work import ROOT

pytestmark = pytest.mark.e2e


def test_the_hook_runs_scan_on_the_files_of_a_commit(tmp_path):
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "flax-regressions scan" and hook["types"] == ["python"]
    repo = tmp_path / "team"
    repo.mkdir()
    (repo / "train.py").write_text(
        "import optax\nfrom flax import nnx\n\n\ndef make(model):\n    return nnx.Optimizer(model, optax.adam(1e-3))\n"
    )
    env = os.environ | {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "GIT_CONFIG_GLOBAL": os.devnull}
    for command in (["git", "init", "-q"], ["git", "add", "train.py"]):
        subprocess.run(command, cwd=repo, check=True, env=env)
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook["id"], "--all-files"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "train.py:6:12: optimizer_wrt" in out and "gets worse" in out, out
    assert Path(repo / "train.py").read_text().count("nnx.Optimizer(model, optax.adam(1e-3))") == 1, "not rewritten"
