"""A case's detection rules: which call sites in a team's code the case is about (its ``detect:`` entry).

    detect:
      message: "what the call does wrong, and the workaround"     # the release ranges come from the measured rules
      rule: {pattern: "nnx.Optimizer($M, $TX)", not: {...}}       # ast-grep's rule format
      avoided_by: [fix_wrt_model_grads, fix_portable]             # fixes the rule must not find (validate checks)
      missed: {bug_new_jax: "a version pair decides it, not the source"}   # bug variants the rule cannot find
      fix: "nnx.Optimizer($M, $TX, wrt=nnx.Param)"                # a rewrite that works on every release (optional)

or ``detect: {none: "why the source cannot show it"}``. Names from ``flax.nnx`` are written ``nnx.<Name>`` and a
Module's base ``nnx.Module``: the scanner respells them for each file's imports and widens ``nnx.Module`` to the
team's own subclasses (analysis.scan.spelling). Read here structurally, with no ast-grep: matrix.yaml is read in
every cell, which has none; ``validate`` and ``scan`` compile the rules (analysis.scan.rules).
"""

from __future__ import annotations

from typing import Any

import yaml

from flax_regressions.catalogue.model import Detection
from flax_regressions.catalogue.yaml_nodes import NodeReader
from flax_regressions.core import variant as variant_name

DETECT_KEYS = {"message", "rule", "avoided_by", "missed", "fix", "none"}


def read(reader: NodeReader, node: yaml.Node, where: str, variants: list[str]) -> Detection:
    """The ``detect:`` entry at ``node``; every problem one line naming its field."""
    fields = reader.mapping(node, where, DETECT_KEYS)
    line = node.start_mark.line + 1
    if "none" in fields:
        if len(fields) > 1:
            reader.fail(node, where, "none: (a reason) stands alone: a case either has rules or says why it cannot")
        return Detection(line, none=reader.scalar(fields["none"], f"{where}.none"))
    for key in ("message", "rule"):
        if key not in fields:
            reader.fail(node, f"{where}.{key}", "missing (or none: with the reason the source cannot show the case)")
    avoided = [
        reader.scalar(n, f"{where}.avoided_by[{i}]") for i, n in enumerate(_items(reader, fields, "avoided_by", where))
    ]
    missed = {k: reader.scalar(v, f"{where}.missed.{k}") for k, v in _mapping(reader, fields, "missed", where).items()}
    for name, node_of in [(v, fields["avoided_by"]) for v in avoided] + [(v, fields["missed"]) for v in missed]:
        kind = "fix" if name in avoided else "bug"
        if name not in variants or variant_name.is_bug(name) != (kind == "bug"):
            reader.fail(node_of, f"{where}", f"{name}: not a {kind} variant of this case ({', '.join(variants)})")
    rule = plain(fields["rule"])
    if not isinstance(rule, dict) or not rule:
        reader.fail(fields["rule"], f"{where}.rule", "expected an ast-grep rule (a mapping: pattern, kind, has, ...)")
    return Detection(
        line,
        reader.scalar(fields["message"], f"{where}.message"),
        rule,
        tuple(avoided),
        missed,
        reader.scalar(fields["fix"], f"{where}.fix") if "fix" in fields else None,
    )


def plain(node: yaml.Node) -> Any:
    """A node as plain data, every scalar a string (ast-grep's rule values are strings)."""
    if isinstance(node, yaml.MappingNode):
        return {k.value: plain(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [plain(item) for item in node.value]
    return node.value


def _items(reader: NodeReader, fields: dict[str, yaml.Node], key: str, where: str) -> list[yaml.Node]:
    return reader.sequence(fields[key], f"{where}.{key}") if key in fields else []


def _mapping(reader: NodeReader, fields: dict[str, yaml.Node], key: str, where: str) -> dict[str, yaml.Node]:
    return reader.mapping(fields[key], f"{where}.{key}") if key in fields else {}
