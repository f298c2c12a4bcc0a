"""The docs site builds with every link and anchor checked (mkdocs --strict), its command-line reference generated
from the real parsers and its history page drawn from the committed history."""

import subprocess
import sys

import pytest

from flax_regressions.commands import cli
from tests.shared_work import ROOT

pytestmark = pytest.mark.integration


def test_the_site_builds_strictly_with_the_reference_and_the_history_page(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = (site / "reference" / "cli" / "index.html").read_text()
    for command in cli.COMMANDS:
        assert f"usage: flax-regressions {command}" in reference, f"{command} is missing from the CLI reference"
    page = (site / "history.html").read_text()
    assert "<table" in page and "rnn_jit" in page and "http" not in page.split("<body", 1)[1].split("title=")[0]
