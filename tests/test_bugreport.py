"""Bug reports: the standalone script (ast, no Flax), the versions table, the template, the command line; and one
real report whose embedded script is run in its release's environment (skipped when it cannot be built)."""

import ast
import builtins
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flax_regressions.analysis.bugreport import environment
from flax_regressions.analysis.bugreport.known import Recorded, known_outcomes
from flax_regressions.analysis.bugreport.script import problem_text, standalone_script
from flax_regressions.catalogue import reader
from flax_regressions.commands import cli
from flax_regressions.core.files import write_json
from flax_regressions.core.merged import Row, write_merged
from flax_regressions.core.records import Outcome, VariantRecord
from flax_regressions.core.results import CellId, CellResult, Versions
from flax_regressions.core.workspace import Workspace
from flax_regressions.render.bugreport import render
from flax_regressions.running import cells, envs, registry, specs
from tests.shared_work import ROOT, WORKSPACE

REPRO_DIR = ROOT / "repro"

SYNTHETIC = '''\
"""A synthetic case: the title line.

Upstream: https://github.com/google/flax/issues/1

What goes wrong: the first paragraph.

Versions: the second paragraph.

Variants:
  bug -- the call.

Run: python repro/demo.py
"""

from __future__ import annotations

import functools
import os, json as js
import numpy as np
from collections import OrderedDict, defaultdict as dd

SIZE = 3
UNUSED = 4
np.seterr(all="raise")


def _unused():
    return UNUSED


def _leaf():
    # a comment that must survive
    return js.dumps(SIZE)


class Helper:
    def go(self):
        return _leaf()


def _make():
    return Helper()


@functools.cache
def bug(*, n=SIZE):
    """Calls the helpers."""
    return _make().go(), dd(list), n


def fix():
    """The workaround: uses the same helper."""
    return _unused(), np.zeros(1), _leaf()


def main():
    bug()


if __name__ == "__main__":
    main()
'''


def undefined_names(script: str) -> set[str]:
    """Names a script reads that nothing in it binds (a missing import or helper): a static check, no import."""
    tree = ast.parse(script)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def test_the_script_keeps_exactly_what_bug_needs(tmp_path):
    module = tmp_path / "demo.py"
    module.write_text(SYNTHETIC)
    script = standalone_script(module)
    assert script.startswith(
        '"""A synthetic case: the title line.\n\nUpstream: https://github.com/google/flax/issues/1\n'
    )
    body = script.split('"""', 2)[2]
    assert body.splitlines()[2:7] == [
        "from __future__ import annotations",
        "import functools",
        "import json as js",
        "import numpy as np",
        "from collections import defaultdict as dd",
    ]
    for kept in (
        "SIZE = 3",
        'np.seterr(all="raise")',
        "def _leaf():",
        "# a comment that must survive",
        "class Helper:",
        "def _make():",
        "@functools.cache\ndef bug(*, n=SIZE):",
    ):
        assert kept in body
    for dropped in ("UNUSED", "_unused", "def fix", "def main", "__main__", "import os", "OrderedDict"):
        assert dropped not in body
    assert body.index("def _leaf") < body.index("class Helper") < body.index("def _make") < body.index("def bug")
    assert script.endswith("\n\nbug()\n")
    assert undefined_names(script) == set()


@pytest.mark.parametrize("case", sorted(p.stem for p in REPRO_DIR.glob("*.py")))
def test_every_repro_gives_a_standalone_bug_script(case):
    module = REPRO_DIR / f"{case}.py"
    script = standalone_script(module)
    compile(script, f"repro_{case}.py", "exec")
    assert undefined_names(script) == set(), "the script reads a name it does not define or import"
    defined = {n.name for n in ast.parse(script).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert "bug" in defined and "main" not in defined
    assert not {n for n in defined if n.startswith(("fix", "bug_"))}, "other variants do not belong in the script"
    assert script.rstrip().splitlines()[-1] == "bug()"
    assert "flax_regressions" not in script  # repro modules import no harness code, nor does their script


def test_the_problem_is_the_docstrings_prose_and_the_bug_docstring(tmp_path):
    module = tmp_path / "demo.py"
    module.write_text(SYNTHETIC)
    title, problem = problem_text(module)
    assert title == "A synthetic case: the title line."
    assert problem == (
        "What goes wrong: the first paragraph.\n\nVersions: the second paragraph.\n\n"
        "The failing call, `bug()` in the script below: Calls the helpers."
    )


def cell_file(flax, jax, records, updated, backend="cpu"):
    return CellResult(CellId(flax, backend), updated=updated, versions=Versions(flax, jax, jax), records=tuple(records))


def rec(variant, outcome, exception=None, message=None, case="demo"):
    return VariantRecord(case, variant, Outcome(outcome), exception, message)


def row(flax, jax, record, backend="cpu"):
    return Row(CellId(flax, backend), Versions(flax, jax, jax), record)


def test_known_outcomes_merge_every_results_file_newest_first(tmp_path):
    cell_file(
        "0.10.5",
        "0.5.3",
        [rec("bug", "failed", "ValueError", "old"), rec("fix", "passed")],
        "2026-01-01T00:00:00+00:00",
    ).write(tmp_path / "results" / "cells" / "flax-0.10.5-cpu.json")
    cell_file("0.10.5", "0.5.3", [rec("bug", "failed", "ValueError", "new")], "2026-02-01T00:00:00+00:00").write(
        tmp_path / "results" / "gate" / "x" / "cells" / "flax-0.10.5-cpu.json"
    )  # -k bug only: fix comes from the older file
    cell_file(
        "0.11.0",
        "0.7.0",
        [rec("bug", "passed"), rec("bug", "failed", "E", "m", case="other")],
        "2026-01-15T00:00:00+00:00",
    ).write(tmp_path / "results" / "bisect" / "demo" / "cells" / "flax-0.11.0-cpu.json")
    cell_file("0.10.5", "0.5.3", [rec("bug", "passed")], "2026-03-01T00:00:00+00:00", backend="cuda").write(
        tmp_path / "results" / "cells" / "flax-0.10.5-cuda.json"
    )
    write_merged(
        tmp_path / "results" / "matrix.json",
        [
            row("0.10.2", "0.4.35", rec("bug", "failed", "ValueError", "rank")),
            Row(CellId("0.10.4", "cpu"), Versions(), rec("bug", "missing")),
            row("0.10.5", "0.5.3", rec("bug", "passed")),
        ],
        cells={},
        run={},
    )
    (tmp_path / "results" / "cells" / "torn.json").write_text('{"cell": ')
    write_json(tmp_path / "results" / "gate" / "x" / "gate.json", {"verdict": "ok"})

    found = known_outcomes(Workspace.at(tmp_path), "demo", "cpu")
    assert set(found) == {("0.10.2", "0.4.35"), ("0.10.5", "0.5.3"), ("0.11.0", "0.7.0")}
    assert found["0.10.5", "0.5.3"].variants["bug"].message == "new"
    assert found["0.10.5", "0.5.3"].variants["fix"].outcome == "passed"
    assert found["0.11.0", "0.7.0"].variants == {"bug": rec("bug", "passed")}
    assert found["0.10.2", "0.4.35"].sources == {"results/matrix.json"}
    assert found["0.10.5", "0.5.3"].sources == {"results/gate/x/cells/", "results/cells/"}


OUTPUT = """\
Traceback (most recent call last):
  File "repro_demo.py", line 9, in <module>
    bug()
flax.errors.TraceContextError: Cannot call RngStream from a different trace level (https://flax.readthedocs.io/x)
--------------------
For simplicity, JAX has removed its internal frames from the traceback of the following exception.
"""


def test_the_report_follows_flaxs_bug_template(tmp_path):
    module = tmp_path / "demo.py"
    module.write_text(SYNTHETIC)
    outcomes = {
        ("0.10.4", "0.5.1"): Recorded("0.5.1", {"bug": rec("bug", "passed")}, {"results/cells/"}),
        ("0.10.5", "0.5.3"): Recorded(
            "0.5.3",
            {
                "bug": rec(
                    "bug",
                    "failed",
                    "TraceContextError",
                    "Cannot call RngStream from a different trace level (https://flax.readthedocs.io/x)",
                )
            },
            {"results/cells/"},
        ),
        ("0.12.12", "0.12.0.1"): Recorded(
            "0.12.0.1",
            {"bug": rec("bug", "failed", "TraceContextError", "Cannot mutate RngCount")},
            {"results/bisect/demo/cells/"},
        ),
        ("0.10.0", "0.4.34"): Recorded(
            "0.4.34", {"bug": rec("bug", "failed", "AttributeError", "no while_loop")}, {"results/matrix.json"}
        ),
    }
    versions = {
        "flax": "0.10.5",
        "jax": "0.5.3",
        "jaxlib": "0.5.3",
        "python": "3.12.1",
        "platform": "Linux-x86_64",
        "JAX_PLATFORMS": "cpu",
    }
    text = render(
        case="demo",
        variant="bug",
        module=module,
        upstream="google/flax#4713",
        versions=versions,
        env_info="jax:    0.5.3\njaxlib: 0.5.3",
        script="print(1)\n",
        script_name="repro_demo.py",
        status=1,
        output=OUTPUT,
        outcomes=outcomes,
        workarounds=["fix"],
        backend="cpu",
    )
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# A synthetic case: the title line (Flax 0.10.5, TraceContextError)",
        "### System information",
        "### Problem you have encountered:",
        "### What you expected to happen:",
        "### Logs, error messages, etc:",
        "### Steps to reproduce:",
        "### Where it reproduces",
        "### Known workaround",
    ]
    assert "https://github.com/google/flax/issues/4713" in text
    assert "results/bisect/demo/cells/, results/cells/, results/matrix.json -->" in text
    assert "- Flax, jax, jaxlib versions: flax 0.10.5, jax 0.5.3, jaxlib 0.5.3" in text
    assert "- GPU/TPU model and memory: none (CPU backend)" in text
    assert "```text\njax:    0.5.3\njaxlib: 0.5.3\n```" in text
    assert "```python\nprint(1)\n```" in text and OUTPUT.rstrip() in text
    assert "`pip install flax==0.10.5 jax==0.5.3 jaxlib==0.5.3`" in text
    assert "`bug()` runs to the end without an exception. It does on flax 0.10.4" in text
    table = [line for line in text.splitlines() if line.startswith("| 0.")]
    assert table == [
        "| 0.10.0 | 0.4.34 | 0.4.34 | another exception: AttributeError: no while_loop |",
        "| 0.10.4 | 0.5.1 | 0.5.1 | runs without error |",
        "| 0.10.5 | 0.5.3 | 0.5.3 | same error: TraceContextError: Cannot call RngStream from a different trace level |",
        "| 0.12.12 | 0.12.0.1 | 0.12.0.1 | same exception, another message: TraceContextError: Cannot mutate RngCount |",
    ]
    assert "`fix()` works on flax 0.10.5: The workaround: uses the same helper." in text
    assert '```python\ndef fix():\n    """The workaround: uses the same helper."""' in text
    assert "it uses `_unused`, `_leaf`" in text  # the helpers the script above does not have


# ---- the command line ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope"], "bugreport: error: unknown case 'nope' (matrix.yaml has: "),
        (
            ["rnn_jit", "--variant", "fix_nnx_jit"],
            "bugreport: error: rnn_jit has no bug variant 'fix_nnx_jit' (it has: bug, bug_reuse)",
        ),
        (["rnn_jit", "--backend", "tpu"], "bugreport: error: unknown backend 'tpu' (matrix.yaml has: cpu, cuda)"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, tmp_path, capsys):
    assert cli.main(["--workdir", str(tmp_path), "bugreport", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(message)


def test_a_missing_case_argument_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["bugreport"])
    assert stop.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.fixture
def faked(tmp_path, monkeypatch):
    """A registry, an 'environment' that is this Python, and the script's run and system information faked."""
    published = {v: (datetime(2025, 1, 1, tzinfo=UTC), ">=3.10") for v in ("0.10.2", "0.10.4", "0.10.5", "0.12.12")}
    monkeypatch.setattr(registry, "published", lambda package="flax": published)
    monkeypatch.setattr(envs, "ensure", lambda spec, envs_dir, log=print: Path(sys.executable))
    monkeypatch.setattr(
        environment,
        "system_info",
        lambda workspace, python, backend: (
            {
                "flax": "0.10.5",
                "jax": "0.5.3",
                "jaxlib": "0.5.3",
                "python": "3.12.1",
                "platform": "Linux",
                "JAX_PLATFORMS": "cpu",
            },
            "jax: 0.5.3",
        ),
    )
    ran = []

    def run_cell(workspace, the_matrix, version, backend, extra=(), *, cells_dir, log=print, runner=None, jax=None):
        ran.append((version, list(extra)))
        outcome = "passed" if version == "0.10.4" else "failed"
        result = cell_file(
            version,
            "0.5.3",
            [
                rec(
                    "bug", outcome, None if outcome == "passed" else "TraceContextError", "trace level", case="rnn_jit"
                ),
                rec("fix_nnx_jit", "passed", case="rnn_jit"),
            ],
            "2026-01-01T00:00:00+00:00",
        )
        result.write(cells_dir / f"{result.cell}.json")
        return result

    monkeypatch.setattr(cells, "run_cell", run_cell)
    return ran


def test_a_bug_that_reproduces_gets_its_report_and_missing_results_are_run(faked, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(environment, "run_script", lambda workspace, python, script, backend, name: (1, OUTPUT))
    assert cli.main(["--workdir", str(tmp_path), "bugreport", "rnn_jit", "--flax", "0.10.5"]) == 0
    assert [v for v, _ in faked] == [
        "0.10.5",
        "0.10.2",
        "0.10.4",
        "0.12.12",
    ]  # nothing recorded: this one, then the matrix
    assert all(extra == ["-m", "conformance", "-k", "rnn_jit"] for _, extra in faked)
    report = (tmp_path / "reports" / "rnn_jit-flax-0.10.5.md").read_text()
    assert "| 0.10.4 | 0.5.3 | 0.5.3 | runs without error |" in report
    assert "`fix_nnx_jit()` works on flax 0.10.5" in report
    assert capsys.readouterr().out.startswith("bugreport: wrote ")


def test_a_bug_that_does_not_reproduce_writes_nothing_and_exits_1(faked, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(environment, "run_script", lambda workspace, python, script, backend, name: (0, ""))
    assert cli.main(["--workdir", str(tmp_path), "bugreport", "rnn_jit", "--flax", "0.10.4"]) == 1
    assert not (tmp_path / "reports").exists()
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bugreport: rnn_jit-bug does not reproduce on flax 0.10.4 (cpu): the script ran without error; recorded as "
        "failing on: 0.10.2, 0.10.5, 0.12.12; try --variant bug_reuse"
    )


# ---- one real report --------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_report_for_rnn_jit_on_0_10_5_embeds_a_script_that_reproduces(tmp_path, monkeypatch):
    """The real thing, once: the environment of flax 0.10.5 (the matrix's; built if absent), the captured
    traceback, and the script copied out of the Markdown run again there."""
    the_matrix = reader.load()
    try:
        python = envs.ensure(specs.spec_for(the_matrix, "0.10.5", "cpu"), WORKSPACE.envs, log=lambda line: None)
    except (envs.EnvError, registry.RegistryError) as exc:
        pytest.skip(f"the flax 0.10.5 environment cannot be built here: {exc}")
    assert (
        cli.main(
            ["--workdir", str(tmp_path), "--envdir", str(WORKSPACE.envs), "bugreport", "rnn_jit", "--flax", "0.10.5"]
        )
        == 0
    )
    report = (tmp_path / "reports" / "rnn_jit-flax-0.10.5.md").read_text()
    assert report.startswith(
        "# jax.jit of an nnx.RNN(nnx.LSTMCell) breaks on its carry RNG stream (Flax 0.10.5, TraceContextError)"
    )
    assert "flax.errors.TraceContextError: Cannot call RngStream from a different trace level" in report
    assert "- Flax, jax, jaxlib versions: flax 0.10.5, jax 0.5.3, jaxlib 0.5.3" in report
    assert "jaxlib: 0.5.3" in report and "numpy:" in report  # jax.print_environment_info()
    assert "`fix_nnx_jit()` works on flax 0.10.5" in report
    assert re.search(r"^\| 0\.10\.5 \| 0\.5\.3 \| 0\.5\.3 \| same error: TraceContextError", report, re.M)
    logs = report.split("### Logs", 1)[1].split("### Steps", 1)[0]
    assert str(ROOT) not in logs and "/tmp" not in logs  # no local paths in the traceback

    script = re.search(r"```python\n(.*?)```", report, re.S).group(1)
    (tmp_path / "repro_rnn_jit.py").write_text(script)
    proc = subprocess.run(
        [str(python), "repro_rnn_jit.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"},
        timeout=600,
    )
    assert proc.returncode == 1
    assert "flax.errors.TraceContextError: Cannot call RngStream from a different trace level" in proc.stderr
