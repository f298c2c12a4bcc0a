"""Write measured rules into a matrix.yaml as text: its comments, order, layout and other keys stay as written.

The file is not dumped again: the node to replace is located with yaml.compose (its marks) and only its text is
replaced, one edit at a time. A variant's rules replace its rule list, whatever shape the list had (a block list,
``[]``, nothing at all, or a case declared with its variants only, which becomes a mapping); a case the file does
not declare yet (its module found in repro/, catalogue.reader) is declared at the end of ``cases:``. The new text is
validated as the file will be read before it replaces the file, so a bad edit never lands.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from flax_regressions.catalogue.measured import RuleDict
from flax_regressions.catalogue.model import MatrixError

LINE_WIDTH = 120


NEW_MATRIX = "include: builtin\ncases:\n"  # a cases directory's matrix.yaml before it declares anything


def render(rule: RuleDict, indent: int) -> str:
    """One rule as matrix.yaml writes it: a flow mapping on a line, the note on the next when too long."""

    def value(key: str, v: Any) -> str:
        return str(v) if key in ("expect", "raises", "warns", "backend") else json.dumps(v, ensure_ascii=False)

    head = ", ".join(f"{k}: {value(k, v)}" for k, v in rule.items() if k != "note")
    line = " " * indent + "- {" + head
    if "note" not in rule:
        return line + "}"
    note = f"note: {value('note', rule['note'])}}}"
    if len(line) + 2 + len(note) <= LINE_WIDTH:
        return f"{line}, {note}"
    return f"{line},\n{' ' * (indent + 3)}{note}"


def rules_text(rules: list[RuleDict], indent: int) -> str:
    return "\n".join(render(rule, indent) for rule in rules) if rules else " " * indent + "[]"


def set_rules(text: str, case: str, variant: str, rules: list[RuleDict]) -> str:
    """``text`` with the rule list of ``case``/``variant`` replaced by ``rules``; everything else untouched."""
    case_node = _child(_child(_root(text), "cases", case), case, case)
    key, listed = _entry(case_node, "variants", case)
    if isinstance(listed, yaml.SequenceNode):  # declared with its variants only: it becomes a mapping
        names = [item.value for item in listed.value]
        indent = key.start_mark.column + 2
        body = "\n".join(
            f"{' ' * indent}{name}:\n{rules_text(rules if name == variant else [], indent + 2)}" for name in names
        )
        return _splice(text, listed, body)
    vkey, node = _entry(listed, variant, case)
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        start, end = node.start_mark.index, node.value[-1].end_mark.index  # the first "-" to the last rule's end
        return text[:start] + rules_text(rules, node.start_mark.column).lstrip(" ") + text[end:]
    return _splice(text, node, rules_text(rules, vkey.start_mark.column + 2))


def declare(text: str, case: str, rules: dict[str, list[RuleDict]], upstream: str = "") -> str:
    """``text`` with a case entry added at the end of ``cases:`` (a ``cases:`` key added when there is none).
    A variant given no rules is declared not measured yet (``bug: []``)."""
    root = _root(text)
    if not any(k.value == "cases" for k, _ in root.value if isinstance(root, yaml.MappingNode)):
        text, root = text.rstrip("\n") + "\ncases:\n", _root(text.rstrip("\n") + "\ncases:\n")
    key, cases = _entry(root, "cases", case)
    filled = isinstance(cases, yaml.MappingNode) and cases.value
    indent = cases.value[0][0].start_mark.column if filled else key.start_mark.column + 2
    lines = [f"{' ' * indent}{case}:"] + ([f"{' ' * (indent + 2)}upstream: {upstream}"] if upstream else [])
    lines.append(f"{' ' * (indent + 2)}variants:")
    for variant, variant_rules in rules.items():
        body = rules_text(variant_rules, indent + 6) if variant_rules else None
        lines += [f"{' ' * (indent + 4)}{variant}:" + ("" if body else " []")] + ([body] if body else [])
    if not filled:  # ``cases:`` with nothing under it yet, or ``cases: {}``
        start = cases.start_mark.index if cases.end_mark.index > cases.start_mark.index else key.end_mark.index + 1
        return text[:start].rstrip(" ") + "\n" + "\n".join(lines) + "\n" + text[cases.end_mark.index :].lstrip("\n")
    at = _last_end(cases)
    return text[:at].rstrip("\n") + "\n" + "\n".join(lines) + "\n" + text[at:].lstrip("\n")


def write(
    path: Path,
    edits: dict[tuple[str, str], list[RuleDict]],
    validate: Callable[[Path], object],
    declared: dict[str, str] | None = None,
) -> str:
    """Apply ``edits`` ((case, variant) -> rules) to the file at ``path``, declaring the cases of ``declared`` (case
    -> upstream) first, check the result with ``validate`` (beside the original, so repro/ resolves the same), then
    replace the file. Returns the new text; raises MatrixError, leaving the file alone, when it does not validate."""
    path = Path(path)
    text = path.read_text() if path.exists() else NEW_MATRIX
    for case, upstream in (declared or {}).items():
        text = declare(text, case, {v: r for (c, v), r in edits.items() if c == case}, upstream)
    for (case, variant), rules in edits.items():
        if case not in (declared or {}):
            text = set_rules(text, case, variant, rules)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            validate(Path(tmp))
        except MatrixError as exc:
            raise MatrixError(path, exc.line, exc.where, exc.what) from None
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return text


def _root(text: str) -> yaml.Node:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        raise ValueError("the matrix is empty")
    return root


def _child(node: yaml.Node, key: str, case: str) -> yaml.Node:
    return _entry(node, key, case)[1]


def _entry(node: yaml.Node, key: str, case: str) -> tuple[yaml.Node, yaml.Node]:
    """The key node and value node of ``key`` in a mapping node."""
    found = [(k, v) for k, v in node.value if k.value == key] if isinstance(node, yaml.MappingNode) else []
    if not found:
        raise ValueError(f"the matrix has no {key} for cases.{case}: edit it by hand")
    return found[0]


def _splice(text: str, node: yaml.Node, body: str) -> str:
    """``node``'s text (a flow collection, or an empty value on its key's line) replaced by a block ``body``."""
    start, end = node.start_mark.index, node.end_mark.index
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        start, end = node.start_mark.index - node.start_mark.column, _last_end(node)  # a whole block: from its line
        return text[:start] + body + text[end:]
    return text[:start].rstrip(" \n") + "\n" + body + text[end:]


def _last_end(node: yaml.Node) -> int:
    """Where a node's own text ends: a block collection's last item's end, not the comments and blank lines after."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _last_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _last_end(node.value[-1])
    return int(node.end_mark.index)
