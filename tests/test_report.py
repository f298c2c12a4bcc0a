"""Merging per-cell results into matrix.json / matrix.md, with missing, errored and unreadable cells. No Flax."""

import json
import time

import pytest

from flax_regressions.analysis import report
from flax_regressions.analysis import sweep as sweep_tool
from flax_regressions.catalogue import reader
from flax_regressions.core import files
from flax_regressions.core.merged import Row
from flax_regressions.core.records import Outcome, PropertyRecord, VariantRecord
from flax_regressions.core.results import CellId, CellOutcome, CellResult, Versions
from flax_regressions.core.workspace import Workspace
from flax_regressions.render import matrix_table
from tests.test_matrix import write


@pytest.fixture
def the_matrix(tmp_path):
    return reader.load(write(tmp_path))


def ran(cell, flax, rows, complete=True, properties=()):
    return CellResult(
        CellId.parse(cell),
        versions=Versions(flax, "0.5.3", "0.5.3"),
        complete=complete,
        records=tuple(rows),
        properties=tuple(properties),
    )


def row(variant, outcome, expected, ok, exception=None, message=None):
    return VariantRecord(
        "demo", variant, Outcome(outcome), exception, message, expected, as_expected=ok, duration_s=0.1
    )


def cells(*names):
    return [CellId.parse(name) for name in names]


def test_rows_cover_every_wanted_cell_and_variant(tmp_path, the_matrix):
    cells_dir = tmp_path / "cells"
    ran(
        "flax-0.10.5-cpu",
        "0.10.5",
        [row("bug", "failed", "fail", True, "ValueError", "rank"), row("fix", "passed", "pass", True)],
    ).write(cells_dir / "flax-0.10.5-cpu.json")
    ran("flax-latest-cpu", "0.12.12", [row("bug", "passed", "fail", False)], complete=False).write(
        cells_dir / "flax-latest-cpu.json"
    )
    CellResult.not_run(CellId("0.10.55", "cpu"), CellOutcome.ERROR, "flax 0.10.55 is not a release").write(
        cells_dir / "flax-0.10.55-cpu.json"
    )
    (cells_dir / "flax-0.10.4-cpu.json").write_text('{"cell": "flax-0.10.4-cpu", "resu')  # torn by hand

    wanted = cells("flax-0.10.2-cpu", "flax-0.10.4-cpu", "flax-0.10.5-cpu", "flax-latest-cpu")
    rows = report.write_report(wanted, the_matrix, cells_dir, tmp_path)
    by = {(str(r.cell), r.record.variant): r for r in rows}

    assert len(rows) == 5 * 2
    assert by["flax-0.10.2-cpu", "bug"].record.outcome is Outcome.MISSING
    assert "no results file" in by["flax-0.10.2-cpu", "bug"].record.message
    assert "unreadable results file" in by["flax-0.10.4-cpu", "fix"].record.message
    assert by["flax-latest-cpu", "fix"].record.message == "the run stopped before this variant"
    assert by["flax-latest-cpu", "bug"].flax == "0.12.12"
    assert by["flax-0.10.55-cpu", "bug"].record.outcome is Outcome.ERROR
    assert by["flax-0.10.5-cpu", "bug"].as_expected and by["flax-0.10.5-cpu", "fix"].as_expected

    saved = json.loads((tmp_path / "matrix.json").read_text())
    assert set(saved) == {"run", "environments", "cells"}
    assert {
        "case",
        "variant",
        "flax",
        "jax",
        "jaxlib",
        "backend",
        "outcome",
        "exception",
        "message",
        "expected",
        "as_expected",
        "duration_s",
    } <= set(saved["cells"][0])
    md = matrix_table.render(rows)
    assert md.startswith("| case | variant | flax 0.10.2 · cpu")
    assert "✅ bug reproduces" in md and "✅ fix works" in md and "❌ bug gone: update matrix.yaml" in md
    assert "**2 of 10 results as expected**" in md
    assert "- demo-bug on flax 0.12.12 (cpu): ❌ bug gone: update matrix.yaml" in md


@pytest.mark.parametrize(
    ("variant", "outcome", "expected", "ok", "text"),
    [
        ("bug", "failed", "fail", True, "✅ bug reproduces"),
        ("bug", "passed", "fail", False, "❌ bug gone: update matrix.yaml"),
        ("bug", "passed", "pass", True, "✅ bug absent"),
        ("bug", "failed", "pass", False, "❌ bug appeared: KeyError"),
        ("bug", "failed", "fail", False, "❌ fails differently: KeyError: boom"),
        ("fix", "passed", "pass", True, "✅ fix works"),
        ("fix", "failed", "pass", False, "❌ fix broken: KeyError: boom"),
        ("fix", "failed", "fail", True, "✅ fix broken, as recorded (KeyError)"),
        ("fix", "passed", "unknown", False, "❓ unknown: passed; add an expectation"),
        ("fix", "skipped", None, True, "⏭ skipped: boom"),
        ("fix", "error", None, False, "❌ error: boom"),
    ],
)
def test_verdict_texts(variant, outcome, expected, ok, text):
    exception = "KeyError" if outcome == "failed" else None
    r = Row(CellId("0.10.5", "cpu"), Versions("0.10.5"), row(variant, outcome, expected, ok, exception, "boom"))
    assert matrix_table.verdict_text(r) == text


def test_default_cells_are_the_cpu_cells_of_the_default_matrix(the_matrix):
    assert report.default_cells(the_matrix) == cells("flax-0.10.2-cpu", "flax-0.10.5-cpu", "flax-latest-cpu")


def test_an_atomic_write_never_leaves_a_torn_file(tmp_path, monkeypatch):
    target = tmp_path / "cell.json"
    files.write_json(target, {"ok": 1})

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.json, "dumps", explode)
    with pytest.raises(KeyboardInterrupt):
        files.write_json(target, {"ok": 2})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert list(tmp_path.iterdir()) == [target]


def test_a_property_failure_makes_an_as_expected_variant_not_as_expected(tmp_path, the_matrix):
    properties = [
        PropertyRecord(
            "demo",
            "fix",
            Outcome.FAILED,
            "AssertionError: layer 2 differs",
            "python -c 'import demo; demo.fix(n=2)'",
            1.0,
        ),
        PropertyRecord("demo", "bug", Outcome.PASSED, None, None, 1.0),
    ]
    ran(
        "flax-0.10.5-cpu",
        "0.10.5",
        [row("bug", "failed", "fail", True, "ValueError", "rank"), row("fix", "passed", "pass", True)],
        properties=properties,
    ).write(tmp_path / "cells" / "flax-0.10.5-cpu.json")
    rows = report.write_report(cells("flax-0.10.5-cpu"), the_matrix, tmp_path / "cells", tmp_path)
    by = {r.record.variant: r for r in rows}

    assert by["bug"].as_expected is True
    assert by["fix"].as_expected is False
    assert by["fix"].reproduce == "python -c 'import demo; demo.fix(n=2)'"
    assert matrix_table.summary_lines(rows) == [
        "demo-fix on flax 0.10.5 (cpu): ❌ fails over generated sizes: AssertionError: layer 2 differs"
    ]


@pytest.mark.parametrize(
    "text, why",
    [
        ("[]", "not a results file of schema 1 (found a JSON list)"),
        ("null", "not a results file of schema 1 (found a JSON NoneType)"),
        ('"a string"', "not a results file of schema 1 (found a JSON str)"),
        ('{"schema": 2, "cell": "flax-0.10.5-cpu"}', "not a results file of schema 1 (found schema 2)"),
        (
            '{"cell": "flax-0.10.5-cpu", "cell_outcome": "ran", "complete": true, "results": null}',
            "'results' is NoneType, not list",
        ),
        (
            '{"cell": "flax-0.10.5-cpu", "cell_outcome": "ran", "complete": true, "results": [{"case": "demo"}]}',
            "results[0]: no 'variant'",
        ),
        (
            '{"cell": "flax-0.10.5-cpu", "cell_outcome": "ran", "complete": true,'
            ' "results": [{"case": "demo", "variant": "bug", "status": "xfail"}]}',
            "results[0]: no 'outcome'",
        ),
        (
            '{"cell": "flax-0.10.5-cpu", "cell_outcome": "ran", "complete": "yes", "results": []}',
            "'complete' is str, not bool",
        ),
    ],
)
def test_a_results_file_the_report_cannot_use_is_one_row_saying_why(tmp_path, the_matrix, text, why):
    cells_dir = tmp_path / "cells"
    cells_dir.mkdir()
    (cells_dir / "flax-0.10.5-cpu.json").write_text(text)
    rows = report.write_report(cells("flax-0.10.5-cpu"), the_matrix, cells_dir, tmp_path)
    assert {r.record.message for r in rows} == {f"unreadable results file flax-0.10.5-cpu.json: {why}"}
    assert not any(r.as_expected for r in rows)


def test_the_sweep_runs_cells_side_by_side_and_resume_keeps_the_finished_ones(tmp_path, the_matrix, monkeypatch):
    """Every release gets a row; two cells run at once; --resume runs only what is not complete; a cell of an
    earlier, wider sweep is not reported."""
    running, most, calls = set(), [0], []

    def run_cell(workspace, the_matrix, version, backend, extra=(), *, cells_dir, log=print, runner=None):
        calls.append(version)
        running.add(version)
        most[0] = max(most[0], len(running))
        time.sleep(0.2)
        running.discard(version)
        ran(
            f"flax-{version}-cpu",
            version,
            [row("bug", "failed", "fail", True, "ValueError", "rank"), row("fix", "passed", "pass", True)],
        ).write(cells_dir / f"flax-{version}-cpu.json")

    monkeypatch.setattr(sweep_tool.cells, "run_cell", run_cell)
    workspace = Workspace.at(tmp_path)
    ran("flax-0.9.0-cpu", "0.9.0", []).write(workspace.sweep / "cells" / "flax-0.9.0-cpu.json")
    rows = sweep_tool.sweep(workspace, the_matrix, ["0.10.2", "0.10.4", "0.10.5"], log=lambda line: None)
    assert sorted(calls) == ["0.10.2", "0.10.4", "0.10.5"] and most[0] == 2
    assert {r.flax for r in rows} == {"0.10.2", "0.10.4", "0.10.5"} and all(r.as_expected for r in rows)

    (workspace.sweep / "cells" / "flax-0.10.4-cpu.json").unlink()
    calls.clear()
    sweep_tool.sweep(workspace, the_matrix, ["0.10.2", "0.10.4", "0.10.5"], resume=True, log=lambda line: None)
    assert calls == ["0.10.4"]
