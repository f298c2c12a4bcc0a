"""Turn a variant's measured history into matrix.yaml rules, and splice them into the file as text.

matrix.yaml is edited as text, not dumped again, so its comments, order and layout stay as written: the
variant's rule list is located with yaml.compose (its node marks) and only that list is replaced. The
new text is validated with reader.load before it replaces the file, so a bad edit never lands.

A new rule keeps what a person wrote where it still holds: the old rule that applied at the same
releases with the same outcome lends its ``raises`` spelling (``flax.errors.TraceContextError``), its
``match`` when that still matches every measured message, and its ``note``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flax_regressions.catalogue import reader
from flax_regressions.catalogue.rules import Rule, builtin_warning
from flax_regressions.core.failure import common_phrase, normalized
from flax_regressions.core.variant import is_bug

LINE_WIDTH = 120


def stable_match(messages: list[str]) -> str | None:
    """A short regex found in every message (their common phrase, escaped); None when they share none.

    The phrase is core.failure's: a rule written from it matches exactly the failures that module calls the same.
    """
    phrase = common_phrase(messages)
    return escape(phrase) if phrase else None


def prefix_match(messages: list[str]) -> str:
    """The regex for messages with no common phrase of plain words (``unexpected object RngStream(``): their common
    beginning, up to any memory address; ``^$`` for messages that are all empty."""
    prefix = os.path.commonprefix([normalized(m) for m in messages]).split("0x…")[0].rstrip()
    return "^" + escape(prefix) if prefix else "^$"


def escape(text: str) -> str:
    """re.escape for people: only the characters that mean something in a regex get a backslash."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)


@dataclass
class Segment:
    """Releases over which a variant behaves the same: where it starts and what it did there."""

    flax_first: str  # the first Flax release of the segment (inclusive)
    jax_seen: str  # the JAX of that release's environment
    expect: str  # "pass" or "fail"
    exception: str | None = None
    messages: list[str] = field(default_factory=list)
    by_jax: str | None = None  # the change into this segment is JAX's: it starts at this JAX release


def rules_for(variant: str, segments: list[Segment], old: list[Rule], backend: str = "cpu") -> list[dict]:
    """The rules that say what ``segments`` measured, oldest first; the last one is open-ended.

    Segments joined by a JAX change share one Flax range and are told apart by JAX specifiers.
    """
    groups: list[list[Segment]] = []
    for segment in segments:
        if segment.by_jax and groups:
            groups[-1].append(segment)
        else:
            groups.append([segment])
    rules = []
    for g, group in enumerate(groups):
        upper = groups[g + 1][0].flax_first if g + 1 < len(groups) else None
        flax_spec = f">={group[0].flax_first}" + (f",<{upper}" if upper else "")
        for k, segment in enumerate(group):
            jax = [f">={segment.by_jax}"] if k else []
            if k + 1 < len(group):
                jax.append(f"<{group[k + 1].by_jax}")
            rules.append(_rule(variant, segment, flax_spec, ",".join(jax) or None, old, backend))
    return rules


def _rule(variant: str, segment: Segment, flax_spec: str, jax_spec: str | None, old: list[Rule], backend: str) -> dict:
    if segment.expect not in ("pass", "fail"):
        raise ValueError(
            f"{variant} on flax {segment.flax_first}: {segment.expect} is not an expectation "
            f"(pass or fail); rerun or fix the harness first"
        )
    # a warning the cell raised (a watched category, catalogue.rules) is written as the warning rule it was measured by
    expect = "warn" if segment.expect == "fail" and builtin_warning(segment.exception) else segment.expect
    rule = {"flax": flax_spec, "jax": jax_spec, "expect": expect}
    before = next(
        (
            r
            for r in old
            if r.applies(segment.flax_first, segment.jax_seen, backend)
            and r.expect == expect
            and (r.raises or "").rsplit(".", 1)[-1] == (segment.exception or "")
        ),
        None,
    )
    if segment.expect == "fail":
        rule["warns" if expect == "warn" else "raises"] = before.raises if before else segment.exception
        keep = before and all(re.search(before.match, m) for m in segment.messages)
        rule["match"] = before.match if keep else stable_match(segment.messages) or prefix_match(segment.messages)
    if before and before.note:
        rule["note"] = before.note
    elif segment.by_jax:
        fixed = is_bug(variant) and segment.expect == "pass"
        rule["note"] = f"{'fixed' if fixed else 'changed'} by JAX {segment.by_jax}, not by Flax"
    return {k: v for k, v in rule.items() if v is not None}


def render(rule: dict, indent: int) -> str:
    """One rule as matrix.yaml writes it: a flow mapping on a line, the note on the next when too long."""

    def value(key, v):
        return v if key in ("expect", "raises", "warns") else json.dumps(v, ensure_ascii=False)

    head = ", ".join(f"{k}: {value(k, v)}" for k, v in rule.items() if k != "note")
    line = " " * indent + "- {" + head
    if "note" not in rule:
        return line + "}"
    note = f"note: {value('note', rule['note'])}}}"
    if len(line) + 2 + len(note) <= LINE_WIDTH:
        return f"{line}, {note}"
    return f"{line},\n{' ' * (indent + 3)}{note}"


def replace_rules(text: str, case: str, variant: str, rules: list[dict]) -> str:
    """``text`` with the rule list of ``case``/``variant`` replaced by ``rules``; everything else untouched."""
    node = _variant_node(yaml.compose(text, Loader=yaml.SafeLoader), case, variant)
    if not isinstance(node, yaml.SequenceNode) or node.flow_style or not node.value:
        raise ValueError(f"cases.{case}.variants.{variant} is not a block list of rules; edit it by hand")
    start = node.start_mark.index  # the first "-"
    end = node.value[-1].end_mark.index
    indent = node.start_mark.column
    body = "\n".join(render(rule, indent) for rule in rules)
    return text[:start] + body.lstrip(" ") + text[end:]


def _variant_node(root, case: str, variant: str):
    node = root
    for key in ("cases", case, "variants", variant):
        found = [v for k, v in node.value if k.value == key] if isinstance(node, yaml.MappingNode) else []
        if not found:
            raise ValueError(f"matrix.yaml has no cases.{case}.variants.{variant}")
        node = found[0]
    return node


def write(path: Path, edits: dict[tuple[str, str], list[dict]]) -> str:
    """Apply ``edits`` ((case, variant) -> rules) to the file at ``path``, validate, then replace it.

    Returns the new text. Raises MatrixError (and leaves the file alone) when the result does not validate.
    """
    path = Path(path)
    text = path.read_text()
    for (case, variant), rules in edits.items():
        text = replace_rules(text, case, variant, rules)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            reader.load(Path(tmp))  # beside the original, so repro/ resolves the same
        except reader.MatrixError as exc:
            raise reader.MatrixError(path, exc.line, exc.where, exc.what) from None
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return text
