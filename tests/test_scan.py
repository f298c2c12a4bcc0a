"""scan: the team's lines that hit a case, in every import spelling, with the measured verdict; and its outputs.
No Flax: the rules run on source text (ast-grep), the verdicts come from a made-up measured history."""

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from flax_regressions.analysis.scan import engine, files, selfcheck
from flax_regressions.catalogue import case_dirs, history, reader
from flax_regressions.catalogue.history import MeasuredCell
from flax_regressions.commands import cli

SCHEMA = Path(__file__).parent / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"  # OASIS sarif-spec, sarif-2.1/schema

SETTINGS = """\
python: "3.12"
current: "0.10.5"
flax:
  - {version: "0.10.5", jax: "0.5.3"}
  - {version: latest}
backends:
  cpu: {}
"""

MATRIX = """\
cases:
  demo:
    upstream: google/flax#4842
    variants:
      bug:
        - {flax: "<0.11.0", expect: pass}
        - {flax: ">=0.11.0", expect: fail, raises: TypeError, match: "wrt"}
      fix_wrt:
        - {flax: "<0.11.0", expect: fail, raises: TypeError, match: "positional"}
        - {flax: ">=0.11.0", expect: pass}
      fix_portable:
        - {expect: pass}
    detect:
      message: "nnx.Optimizer(model, tx) without wrt: TypeError; give wrt=nnx.Param"
      rule:
        pattern: "nnx.Optimizer($M, $TX)"
      avoided_by: [fix_wrt, fix_portable]
      fix: "nnx.Optimizer($M, $TX, wrt=nnx.Param)"
  modules:
    variants:
      bug:
        - {expect: fail, raises: ValueError, match: "static"}
    detect:
      message: "a list of Modules on a Module attribute"
      rule:
        kind: assignment
        all:
          - has: {field: left, pattern: self.$A}
          - has: {field: right, kind: list}
          - inside: {kind: class_definition, stopBy: end, has: {field: superclasses, has: {pattern: nnx.Module}}}
"""

REPROS = {
    "demo": """\
from flax import nnx


def bug():
    nnx.Optimizer(1, 2)


def fix_wrt():
    nnx.Optimizer(1, 2, wrt=nnx.Param)


def fix_portable():
    nnx.Optimizer(1, 2, wrt=nnx.Param)
""",
    "modules": """\
from flax import nnx


def bug():
    class Stack(nnx.Module):
        def __init__(self):
            self.layers = [1, 2]

    Stack()
""",
}


def cases_dir(tmp_path: Path, measured: dict[str, str] | None = None) -> Path:
    """A cases directory with the two cases, and a history: flax 0.10.5 and 0.12.12 with their own JAX."""
    root = tmp_path / "cases"
    (root / "repro").mkdir(parents=True)
    (root / "matrix.yaml").write_text(SETTINGS + MATRIX)
    for case, source in REPROS.items():
        (root / "repro" / f"{case}.py").write_text(source)
    cells = [
        MeasuredCell("0.10.5", "0.5.3", "cpu", False, "2026-12-01", {
            "demo": {"bug": "passed", "fix_wrt": "failed: TypeError", "fix_portable": "passed"},
            "modules": {"bug": "failed: ValueError"},
        }),
        MeasuredCell("0.12.12", "0.12.0", "cpu", False, "2026-12-01", {
            "demo": {"bug": "failed: TypeError", "fix_wrt": "passed", "fix_portable": "passed"},
            "modules": {"bug": "failed: ValueError"},
        }),
    ]  # fmt: skip
    history.write(root / history.FILE, cells)
    return root


def scan(tmp_path, monkeypatch, capsys, *argv):
    monkeypatch.chdir(tmp_path / "code")
    code = cli.main(["--workdir", str(tmp_path / "work"), "scan", "--cases", str(tmp_path / "cases"), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def write_code(tmp_path: Path, files_: dict[str, str]) -> None:
    for name, text in files_.items():
        path = tmp_path / "code" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.mark.parametrize(
    ("imports", "call"),
    [
        ("from flax import nnx", "nnx.Optimizer(model, tx)"),
        ("import flax.nnx as nnx", "nnx.Optimizer(model, tx)"),
        ("from flax import nnx as nn", "nn.Optimizer(model, tx)"),
        ("import flax.nnx as nn", "nn.Optimizer(model, tx)"),
        ("import flax", "flax.nnx.Optimizer(model, tx)"),
        ("from flax.nnx import Optimizer", "Optimizer(model, tx)"),
        ("from flax.nnx import Optimizer as Opt", "Opt(model, tx)"),
    ],
)
def test_a_rule_finds_the_call_in_every_import_spelling(tmp_path, imports, call):
    (tmp_path / "a.py").write_text(f"{imports}\n\n\ndef make(model, tx):\n    return {call}\n")
    the_matrix = case_dirs.load([cases_dir(tmp_path)])
    hits = engine.find([engine.parse(tmp_path / "a.py", "a.py")], {"demo": the_matrix.detection["demo"]})
    assert [(h.line, h.text) for h in hits] == [(5, call)]
    callee = call.split("(")[0]
    module = callee.rpartition(".")[0] + "." if "." in callee else ""
    assert hits[0].fix == (call.replace("tx)", f"tx, wrt={module}Param)") if module else None), (
        "no name it cannot write"
    )


def test_a_rule_about_modules_sees_the_teams_own_subclasses_in_other_files(tmp_path):
    write_code(tmp_path, {
        "base.py": "from flax import nnx as nn\n\n\nclass Base(nn.Module):\n    pass\n",
        "model.py": "from base import Base\n\n\nclass Tower(Base):\n    def __init__(self):\n        self.blocks = []\n",
        "plain.py": "class Other:\n    def __init__(self):\n        self.items = []\n",
    })  # fmt: skip
    the_matrix = case_dirs.load([cases_dir(tmp_path)])
    sources = [engine.parse(tmp_path / "code" / n, n) for n in ("base.py", "model.py", "plain.py")]
    hits = engine.find(sources, {"modules": the_matrix.detection["modules"]})
    assert [(h.path, h.line) for h in hits] == [("model.py", 6)]


def test_scan_says_what_happens_to_each_hit_and_exits_1_when_it_gets_worse(tmp_path, monkeypatch, capsys):
    cases_dir(tmp_path)
    write_code(tmp_path, {"train.py": """\
        from flax import nnx

        opt = nnx.Optimizer(model, tx)
        quiet = nnx.Optimizer(model, tx)  # flax-regressions: ignore[demo]
        other = nnx.Optimizer(model, tx)  # flax-regressions: ignore[modules]
        every = nnx.Optimizer(model, tx)  # flax-regressions: ignore
        """})  # fmt: skip
    code, out, err = scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5", "--to", "0.12.12")
    assert code == 1
    lines = out.splitlines()
    assert [line.split(" ", 2)[:2] for line in lines] == [["train.py:3:7:", "demo"], ["train.py:5:9:", "demo"]]
    assert lines[0].startswith("train.py:3:7: demo [*] nnx.Optimizer(model, tx) without wrt")
    assert "[gets worse (flax 0.10.5 -> 0.12.12: appears: bug; workaround starts working: fix_wrt)" in lines[0]
    assert "works on both: fix_portable" in lines[0]
    assert err.startswith("scan: 2 hit(s) in 1 file(s)") and err.endswith("2 fixable with --fix\n")


def test_no_versions_given_means_the_current_release_to_the_newest_measured(tmp_path, monkeypatch, capsys):
    cases_dir(tmp_path)
    write_code(tmp_path, {"train.py": "from flax import nnx\nopt = nnx.Optimizer(m, t)\n"})
    monkeypatch.setattr("flax_regressions.analysis.points.installed", lambda backend: None)
    code, out, err = scan(tmp_path, monkeypatch, capsys)
    assert "flax 0.10.5 -> flax 0.12.12" in err, "matrix.yaml's current, and the newest release the history measured"
    assert code == 1


def test_a_version_not_measured_is_unknown_and_exit_2(tmp_path, monkeypatch, capsys):
    cases_dir(tmp_path)
    write_code(tmp_path, {"train.py": "from flax import nnx\nopt = nnx.Optimizer(m, t)\n"})
    code, out, _ = scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5", "--jax-from", "0.5.1", "--to", "0.12.12")
    assert code == 2
    assert "not measured: flax 0.10.5 was measured with jax 0.5.3, not 0.5.1" in out
    assert "flax-regressions run --flax 0.10.5 --jax 0.5.1 -- -k demo" in out


def test_select_and_ignore_name_cases_and_refuse_unknown_ones(tmp_path, monkeypatch, capsys):
    cases_dir(tmp_path)
    write_code(tmp_path, {"train.py": "from flax import nnx\nopt = nnx.Optimizer(m, t)\n"})
    assert scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5", "--ignore", "demo")[0] == 0
    assert scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5", "--select", "demo")[0] == 1
    code, _, err = scan(tmp_path, monkeypatch, capsys, "--select", "nosuch")
    assert code == 2 and err == "scan: error: --select: no case 'nosuch' in the catalogue\n"


def test_files_skip_gitignored_excluded_and_tool_directories_but_not_a_file_named(tmp_path):
    write_code(tmp_path, {name: "x = 1\n" for name in (
        "src/a.py", "src/gen_b.py", "secret/c.py", ".venv/d.py", "build/e.py", "src/notes.txt", "src/sub/f.py",
    )})  # fmt: skip
    root = tmp_path / "code"
    (root / ".gitignore").write_text("secret/\n")
    (root / "src" / "sub" / ".gitignore").write_text("f.py\n")
    (root / "pyproject.toml").write_text('[tool.flax-regressions]\nexclude = ["src/gen_*.py"]\n')
    found = files.python_files([Path(".")], root)
    assert [p.relative_to(root).as_posix() for p in found] == ["src/a.py"]
    assert files.python_files([Path("secret/c.py")], root) == [root / "secret" / "c.py"]
    with pytest.raises(files.ScanError, match="^nope: no such file or directory$"):
        files.python_files([Path("nope")], root)


def test_json_and_sarif_carry_each_hit_and_the_sarif_is_valid(tmp_path, monkeypatch, capsys):
    cases_dir(tmp_path)
    write_code(tmp_path, {"pkg/train.py": "from flax import nnx\nopt = nnx.Optimizer(m, t)\n"})
    _, out, _ = scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5", "--to", "0.12.12", "--format", "json")
    [hit] = json.loads(out)
    assert {k: hit[k] for k in ("case", "path", "line", "column", "verdict")} == {
        "case": "demo", "path": "pkg/train.py", "line": 2, "column": 7, "verdict": "worse",
    }  # fmt: skip
    _, out, _ = scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5", "--to", "0.12.12", "--format", "sarif")
    sarif = json.loads(out)
    jsonschema.validate(sarif, json.loads(SCHEMA.read_text()))
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["rules"][0]["helpUri"] == "https://github.com/google/flax/issues/4842"
    result = run["results"][0]
    assert result["level"] == "error" and result["ruleId"] == "demo"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "pkg/train.py" and location["region"]["startLine"] == 2


def test_diff_shows_and_fix_applies_the_rewrite(tmp_path, monkeypatch, capsys):
    cases_dir(tmp_path)
    source = "from flax import nnx as nn\n\n\ndef make(m, t):\n    return nn.Optimizer(m, t)\n"
    write_code(tmp_path, {"train.py": source})
    _, out, _ = scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5", "--diff")
    assert "-    return nn.Optimizer(m, t)\n+    return nn.Optimizer(m, t, wrt=nn.Param)\n" in out
    assert (tmp_path / "code" / "train.py").read_text() == source, "--diff changes nothing"
    scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5", "--fix")
    assert (tmp_path / "code" / "train.py").read_text() == source.replace("r(m, t)", "r(m, t, wrt=nn.Param)")
    assert scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5")[1] == "", "nothing left to find"


def test_the_catalogues_rules_find_its_bugs_and_not_the_fixes_that_avoid_them():
    selfcheck.check(reader.load())


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("avoided_by: [fix_wrt, fix_portable]", "avoided_by: [fix_portable]\n      missed: {bug: x}",
         "cases.demo.detect: bug: listed under missed, but the rule finds line 5 of demo.py"),
        ('pattern: "nnx.Optimizer($M, $TX)"', 'pattern: "nnx.Optimizer($M, $TX)"\n        kind: nope',
         "cases.demo.detect.rule: ast-grep cannot use the rule: cannot get matcher: Kind `nope` is invalid."),
        ('pattern: "nnx.Optimizer($M, $TX)"', 'pattern: "nnx.Optimizer($M, $TX, $W)"',
         "cases.demo.detect: bug: the rule finds nothing in the code it runs"),
        ("avoided_by: [fix_wrt, fix_portable]", "avoided_by: [bug]",
         "cases.demo.detect: bug: not a fix variant of this case"),
    ],
)  # fmt: skip
def test_a_rule_that_drifts_from_its_case_is_one_line_and_exit_2(tmp_path, capsys, old, new, message):
    root = cases_dir(tmp_path)
    path = root / "matrix.yaml"
    path.write_text(path.read_text().replace(old, new))
    assert cli.main(["--workdir", str(tmp_path), "validate", "--cases", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"validate: error: {root}/matrix.yaml:") and message in err and err.count("\n") == 1


def test_a_scan_that_reads_no_file_or_no_rule_is_never_green(tmp_path, monkeypatch, capsys):
    cases_dir(tmp_path)
    write_code(tmp_path, {"notes.txt": "nnx.Optimizer(m, t)\n"})
    code, _, err = scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5")
    assert code == 2 and "no Python file to scan under ." in err
    write_code(tmp_path, {"a.py": "x = 1\n"})
    code, _, err = scan(tmp_path, monkeypatch, capsys, "--from", "0.10.5", "--ignore", "demo,modules")
    assert code == 2 and "no case left with detection rules" in err
