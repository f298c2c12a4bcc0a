"""Which rules can match a file at all, told from its words before any rule runs: most files skip most rules.

A node matches a ``pattern`` only if every identifier the pattern spells out (metavariables aside) stands in the
node's text, so in the file's. A rule's requirement follows its structure: every key of a rule object must hold
(``all``), ``any`` needs one branch, ``not`` and the keys without a pattern (``kind``, ``regex``) need nothing.
Matching a compiled rule costs about a millisecond a file, reading its words far less: this keeps the scan near the
cost of parsing (benchmarks/scan_bench.py).
"""

from __future__ import annotations

import keyword
import re
from typing import Any

WORD = re.compile(r"(?<![$\w])[A-Za-z_]\w*")
Requirement = tuple[str, Any]  # ("word", w) | ("all", [..]) | ("any", [..]) | ("none", None)
NOTHING: Requirement = ("none", None)


def requirement(rule: Any) -> Requirement:
    """What a file's words must hold for ``rule`` (a rule object, or a list under all/any) to match in it."""
    if not isinstance(rule, dict):
        return NOTHING
    parts: list[Requirement] = []
    for key, value in rule.items():
        if key == "pattern" and isinstance(value, str):
            parts += [("word", w) for w in WORD.findall(_without_strings(value)) if not keyword.iskeyword(w)]
        elif key == "pattern" and isinstance(value, dict) and isinstance(value.get("context"), str):
            parts += [("word", w) for w in WORD.findall(_without_strings(value["context"])) if not keyword.iskeyword(w)]
        elif key in ("inside", "has", "precedes", "follows"):
            parts.append(requirement(value))
        elif key == "all" and isinstance(value, list):
            parts += [requirement(item) for item in value]
        elif key == "any" and isinstance(value, list):
            branches = [requirement(item) for item in value]
            parts.append(NOTHING if NOTHING in branches else ("any", branches))
    parts = [p for p in parts if p != NOTHING]
    return ("all", parts) if parts else NOTHING


def possible(need: Requirement, words: set[str]) -> bool:
    kind, value = need
    if kind == "word":
        return value in words
    if kind == "all":
        return all(possible(part, words) for part in value)
    if kind == "any":
        return any(possible(part, words) for part in value)
    return True


def words(text: str) -> set[str]:
    return set(WORD.findall(text))


def _without_strings(pattern: str) -> str:
    """A pattern's code without its string literals, whose words need not be words of the file's code."""
    return re.sub(r"(['\"]).*?\1", "", pattern)
