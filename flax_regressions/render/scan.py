"""A scan's hits as ruff prints them (``path:line:col: case message``), as JSON, or as SARIF 2.1.0 for GitHub code
scanning (one rule per case, its help the upstream issue; paths relative to the directory scanned from)."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from flax_regressions.analysis.audit import CaseVerdict
from flax_regressions.analysis.scan.engine import Hit
from flax_regressions.catalogue.model import Detection
from flax_regressions.render.audit import change_text

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"worse": "error", "bites": "warning", "unknown": "note", "better": "note"}
TOOL = "flax-regressions"
HOME = "https://github.com/flax-regressions/flax-regressions"


def verdict_text(v: CaseVerdict) -> str:
    """What happens to the hit's case across the upgrade, in a few words."""
    before, after = v.before.point, v.after.point if v.after else None
    span = f"flax {before.flax} -> {after.flax}" if after else f"flax {before.flax}"
    if v.kind == "unknown":
        return f"not measured: {v.unknown}"
    words = {"worse": "gets worse", "bites": "bites", "better": "gets better", "fine": "fine"}[v.kind]
    workaround = f"; works on both: {', '.join(v.workarounds)}" if v.workarounds else ""
    return f"{words} ({span}: {change_text(v)}){workaround}"


def message(hit: Hit, detection: Detection, v: CaseVerdict) -> str:
    return f"{detection.message} [{verdict_text(v)}]"


def text_lines(hits: list[Hit], detections: dict[str, Detection], verdicts: dict[str, CaseVerdict]) -> list[str]:
    lines = []
    for hit in hits:
        fixable = " [*]" if hit.fix is not None else ""
        lines.append(
            f"{hit.path}:{hit.line}:{hit.column}: {hit.case}{fixable} "
            f"{message(hit, detections[hit.case], verdicts[hit.case])}"
        )
    return lines


def to_json(hits: list[Hit], detections: dict[str, Detection], verdicts: dict[str, CaseVerdict]) -> list[dict]:
    return [
        {
            "case": hit.case,
            "path": hit.path,
            "line": hit.line,
            "column": hit.column,
            "end_line": hit.end_line,
            "end_column": hit.end_column,
            "verdict": verdicts[hit.case].kind,
            "message": message(hit, detections[hit.case], verdicts[hit.case]),
            "fix": hit.fix,
        }
        for hit in hits
    ]


def to_sarif(
    hits: list[Hit], detections: dict[str, Detection], verdicts: dict[str, CaseVerdict], links: dict[str, str]
) -> dict[str, Any]:
    cases = sorted({hit.case for hit in hits})
    rules = [
        {
            "id": case,
            "name": "".join(part.capitalize() for part in case.split("_")),
            "shortDescription": {"text": detections[case].message.split(". ")[0][:1000]},
            "fullDescription": {"text": detections[case].message},
            "helpUri": links.get(case) or HOME,
            "help": {"text": f"{detections[case].message} Upstream: {links.get(case) or 'none recorded'}"},
        }
        for case in cases
    ]
    results = []
    for hit in hits:
        result: dict[str, Any] = {
            "ruleId": hit.case,
            "ruleIndex": cases.index(hit.case),
            "level": LEVELS.get(verdicts[hit.case].kind, "note"),
            "message": {"text": message(hit, detections[hit.case], verdicts[hit.case])},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": hit.path, "uriBaseId": "%SRCROOT%"},
                        "region": {
                            "startLine": hit.line,
                            "startColumn": hit.column,
                            "endLine": hit.end_line,
                            "endColumn": hit.end_column,
                        },
                    }
                }
            ],
        }
        if hit.fix is not None:
            result["fixes"] = [
                {
                    "description": {"text": f"the rewrite that works on every measured release ({hit.case})"},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": hit.path, "uriBaseId": "%SRCROOT%"},
                            "replacements": [
                                {
                                    "deletedRegion": result["locations"][0]["physicalLocation"]["region"],
                                    "insertedContent": {"text": hit.fix},
                                }
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    driver = {"name": TOOL, "version": metadata.version(TOOL), "informationUri": HOME, "rules": rules}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}
