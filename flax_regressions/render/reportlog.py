"""The merged report as a pytest report log (pytest-reportlog's JSON lines), for tools that read one.

One ``TestReport`` per cell, case and variant, with node id ``repro/<case>.py::<variant>[<cell>]``: "failed"
when the row is not as expected (its longrepr is the table's words for it), "skipped" when it was skipped as
expected, else "passed". Written from the merged rows, not by pytest-reportlog in each cell, so a report merged
from cells that ran on other machines gets one log with all of them. Only the four report types pytest writes
for a run appear (``SessionStart``, ``CollectReport``, ``TestReport``, ``SessionFinish``), each with pytest's
own fields: readers such as scientific-python/issue-from-pytest-log-action rebuild pytest's report objects
from them and refuse anything else.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from flax_regressions.core.errors import Error
from flax_regressions.core.merged import Row
from flax_regressions.core.records import Outcome
from flax_regressions.render.matrix_table import verdict_text


def node_id(row: Row) -> str:
    return f"repro/{row.record.case}.py::{row.record.variant}[{row.cell}]"


def _test_report(row: Row) -> dict:
    record = row.record
    skipped = row.as_expected and record.outcome is Outcome.SKIPPED
    outcome = "passed" if row.as_expected and not skipped else "skipped" if skipped else "failed"
    text = verdict_text(row)
    longrepr = None if outcome == "passed" else [f"repro/{record.case}.py", 0, text] if skipped else text
    duration = record.duration_s or 0.0
    return {
        "nodeid": node_id(row),
        "location": [f"repro/{record.case}.py", 0, f"{record.variant}[{row.cell}]"],
        "keywords": {record.variant: 1, record.case: 1, str(row.cell): 1},
        "outcome": outcome,
        "longrepr": longrepr,
        "when": "call",
        "user_properties": [
            ["cell", str(row.cell)],
            ["flax", row.flax],
            ["jax", row.versions.jax],
            ["expected", record.expected],
            ["as_expected", row.as_expected],
        ],
        "sections": [],
        "duration": duration,
        "start": 0.0,
        "stop": duration,
        "$report_type": "TestReport",
    }


def lines(rows: list[Row], exit_status: int) -> list[dict]:
    """The log's events, in order: the session, what it collected, one report per row, and how it ended."""
    collected = {
        "nodeid": "",
        "outcome": "passed",
        "longrepr": None,
        "sections": [],
        "$report_type": "CollectReport",
        "result": [{"nodeid": node_id(row), "type": "Function"} for row in rows],
    }
    start: dict[str, Any] = {"pytest_version": _pytest_version(), "$report_type": "SessionStart"}
    return (
        [start, collected]
        + [_test_report(row) for row in rows]
        + [{"exitstatus": exit_status, "$report_type": "SessionFinish"}]
    )


def _pytest_version() -> str:
    """The pytest the cells ran with, as far as this interpreter knows (the merge itself needs none)."""
    try:
        return metadata.version("pytest")
    except metadata.PackageNotFoundError:
        return "unknown"


def write(path: Path, rows: list[Row], exit_status: int) -> None:
    """Write the log; a path that cannot be written (a directory, a file's child, no permission) is an Error."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(event) + "\n" for event in lines(rows, exit_status)))
    except OSError as exc:
        raise Error(f"--report-log {path}: cannot write it ({exc.strerror})") from None
