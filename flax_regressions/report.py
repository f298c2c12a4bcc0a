"""Merge the per-cell results files into results/matrix.json and results/matrix.md, and give the verdict.

A variant that is as expected on its own example but fails its property test (hypothesis, generated sizes)
is not as expected: the row says so and carries the command that reproduces the shrunk example.

Cells the run was meant to have but that left no complete file (an interrupted run, a killed session) are
reported as missing, variant by variant; an unreadable file is reported, not fatal. The verdict is false
when any cell is not as expected, errored or is missing, and ``summary_lines`` names each such cell.
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path

from flax_regressions import matrix as matrix_mod
from flax_regressions.results import CELLS_DIR, RESULTS_DIR, cell_id, load_cells, write_json

FIELDS = ("case", "variant", "flax", "jax", "jaxlib", "backend", "outcome", "exception", "message", "expected",
          "as_expected", "duration_s")


def rows_of(the_matrix, cells: dict[str, dict], unreadable: dict[str, str], wanted: list[str]) -> list[dict]:
    """One row per (cell, case, variant), in matrix order; missing results become rows too."""
    rows = []
    for cell in wanted + sorted(set(cells) - set(wanted)):
        data = cells.get(cell, {})
        versions = data.get("versions", {})
        got = {(r["case"], r["variant"]): r for r in data.get("results", [])}
        broken = {(p["case"], p["variant"]): p for p in data.get("properties", []) if p["outcome"] in ("failed", "error")}
        for case, variant in the_matrix.variants():
            row = dict.fromkeys(FIELDS)
            row.update(case=case, variant=variant, cell=cell, backend=data.get("backend") or cell.rsplit("-", 1)[-1],
                       flax=versions.get("flax") or cell.split("-")[1], jax=versions.get("jax"),
                       jaxlib=versions.get("jaxlib"), as_expected=False)
            if (case, variant) in got:
                row.update({k: got[case, variant].get(k) for k in FIELDS if k in got[case, variant]})
            elif data.get("cell_outcome") in ("error", "skipped"):
                row.update(outcome=data["cell_outcome"], message=data["reason"],
                           as_expected=data["cell_outcome"] == "skipped")
            else:
                why = unreadable.get(cell) or ("no results file" if not data else "the run stopped before this variant")
                row.update(outcome="missing", message=why)
            if (case, variant) in broken and row["as_expected"]:  # right on the example, wrong on a generated one
                found = broken[case, variant]
                row.update(as_expected=False, property_failure=found["message"], reproduce=found.get("reproduce"))
            rows.append(row)
    return rows


def verdict_text(row: dict) -> str:
    """What a reviewer reads in the table cell."""
    kind = "bug" if row["variant"].startswith("bug") else "fix"
    outcome, expected, ok = row["outcome"], row["expected"], row["as_expected"]
    failure = f"{row['exception']}" if row.get("exception") else ""
    if row.get("property_failure"):
        return f"❌ fails over generated sizes: {row['property_failure']}"
    if outcome in ("missing", "error"):
        return f"❌ {outcome}: {row['message']}"
    if outcome == "skipped":
        return f"⏭ skipped: {row['message']}"
    if expected == "unknown" or expected is None:
        return f"❓ unknown: {outcome}{' ' + failure if failure else ''}; add an expectation"
    if expected == "fail":
        if ok:
            return "✅ bug reproduces" if kind == "bug" else f"✅ fix broken, as recorded ({failure})"
        if outcome == "passed":
            return "❌ bug gone: update matrix.yaml" if kind == "bug" else "❌ fix works again: update matrix.yaml"
        return f"❌ fails differently: {failure}: {row['message']}"
    if ok:
        return "✅ bug absent" if kind == "bug" else "✅ fix works"
    return f"❌ bug appeared: {failure}" if kind == "bug" else f"❌ fix broken: {failure}: {row['message']}"


def render_markdown(rows: list[dict]) -> str:
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    head = {}
    for r in rows:
        head.setdefault(r["cell"], f"flax {r['flax']} · {r['backend']}<br>jax {r['jax'] or '?'}")
    by_key = {(r["case"], r["variant"], r["cell"]): r for r in rows}
    lines = ["| case | variant | " + " | ".join(head[c] for c in cells) + " |", "|---|---|" + "---|" * len(cells)]
    for case, variant in dict.fromkeys((r["case"], r["variant"]) for r in rows):
        texts = [verdict_text(by_key[case, variant, c]).replace("|", "\\|") for c in cells]
        lines.append(f"| {case} | {variant} | " + " | ".join(texts) + " |")
    bad = [r for r in rows if not r["as_expected"]]
    lines += ["", f"**{len(rows) - len(bad)} of {len(rows)} cells as expected.**"]
    return "\n".join(lines + [f"- {line}" for line in summary_lines(rows)]) + "\n"


def summary_lines(rows: list[dict]) -> list[str]:
    return [f"{r['case']}-{r['variant']} on flax {r['flax']} ({r['backend']}): {verdict_text(r)}" for r in rows
            if not r["as_expected"]]


def write_report(wanted: list[str], cells_dir: Path = CELLS_DIR, out_dir: Path = RESULTS_DIR,
                 the_matrix=None) -> list[dict]:
    the_matrix = the_matrix or matrix_mod.load()
    cells, unreadable = load_cells(cells_dir)
    rows = rows_of(the_matrix, cells, unreadable, wanted)
    write_json(out_dir / "matrix.json", {
        "run": {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "python": platform.python_version(), "platform": platform.platform()},
        "environments": {c: {k: d.get(k) for k in ("versions", "python", "platform", "packages", "updated", "complete")}
                         for c, d in cells.items()},
        "cells": rows,
    })
    (out_dir / "matrix.md").write_text(render_markdown(rows))
    return rows


def default_cells(the_matrix) -> list[str]:
    """The cells a plain ``nox`` run is meant to produce: every default Flax version on the CPU."""
    return [cell_id(v.version, "cpu") for v in the_matrix.flax]
