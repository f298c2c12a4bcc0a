"""What every test of the harness shares: the bytecode the run keeps, and the one tier each test has.

Bytecode: where PYTHONDONTWRITEBYTECODE is set (this machine, CI), every Python process compiles what it imports
from source and throws the bytecode away, and pytest does the same with the modules it rewrites: those of every
plugin that registers itself, all of hypothesis among them. The tests start over a hundred Python processes (pytest,
nox, the tool, cells' controllers), and each did it again: a pytest run of the plugin's made-up cases took 1.1 s of
CPU, 0.5 s with its bytecode kept (measured here). Set before xdist starts its workers, this reaches every process
the run starts; the bytecode goes under the checkout's .envs/bytecode/, never beside a source file.

Tiers (the markers in pyproject.toml), set here and nowhere else: a test marked ``integration`` or ``e2e`` (on the
test or its module) is that; the in-cell tests, which run every case on the dev environment's Flax, are integration;
every other test is ``unit``, and a unit test that starts a process fails, so the tier cannot drift from the truth.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from flax_regressions.running.harness import keep_bytecode
from tests.shared_work import WORKSPACE

TIERS = ("unit", "integration", "e2e")
TESTS = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(keep_bytecode(WORKSPACE))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marked = [tier for tier in TIERS if item.get_closest_marker(tier)]
        if len(marked) > 1:
            raise pytest.UsageError(f"{item.nodeid}: marked {' and '.join(marked)}: a test has one tier")
        if not marked:
            inside = item.path.is_relative_to(TESTS)
            item.add_marker(pytest.mark.unit if inside else pytest.mark.integration)


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("a unit test starts no process: mark it integration (or e2e) in its module")


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("unit"):
        monkeypatch.setattr(subprocess.Popen, "__init__", _refuse)
