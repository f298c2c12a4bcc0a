"""Turn a variant's measured history into matrix.yaml rules: along the Flax releases, or along JAX with Flax held.

A bisection cuts each variant's history into segments (releases over which it behaves the same); each segment
becomes a rule. A new rule keeps what a person wrote where it still holds: the old rule that applied at the same
releases with the same outcome lends its ``raises`` spelling (``flax.errors.TraceContextError``), its ``match``
when that still matches every measured message, and its ``note``. Rules are plain dicts here, in the order
matrix.yaml writes their keys (catalogue.edit splices them into the file).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import Version

from flax_regressions.catalogue.rules import Rule, builtin_warning
from flax_regressions.core.failure import common_phrase, normalized
from flax_regressions.core.variant import is_bug

RuleDict = dict[str, Any]
OPERATOR_ORDER = {"==": 0, ">=": 1, ">": 1, "!=": 2, "<=": 3, "<": 3}


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

    first: str  # the segment's first release along the bisected axis (Flax, or JAX with Flax held), inclusive
    jax_seen: str  # the JAX its first probe ran with
    expect: str  # "pass" or "fail"
    exception: str | None = None
    messages: list[str] = field(default_factory=list)
    by_jax: str | None = None  # along Flax: the change into this segment is JAX's, from this JAX release on


def rules_for(variant: str, segments: list[Segment], old: list[Rule], backend: str = "cpu") -> list[RuleDict]:
    """The rules that say what ``segments`` (along the Flax releases) measured, oldest first; the last one is
    open-ended. Segments joined by a JAX change share one Flax range and are told apart by JAX specifiers."""
    groups: list[list[Segment]] = []
    for segment in segments:
        if segment.by_jax and groups:
            groups[-1].append(segment)
        else:
            groups.append([segment])
    rules = []
    for g, group in enumerate(groups):
        upper = groups[g + 1][0].first if g + 1 < len(groups) else None
        flax_spec = f">={group[0].first}" + (f",<{upper}" if upper else "")
        for k, segment in enumerate(group):
            jax = [f">={segment.by_jax}"] if k else []
            if k + 1 < len(group):
                jax.append(f"<{group[k + 1].by_jax}")
            rules.append(_rule(variant, segment, flax_spec, ",".join(jax) or None, segment.first, old, backend))
    return rules


def already_said(old: list[Rule], flax: str, segments: list[Segment], spans: list[list[str]], backend: str) -> bool:
    """Whether the rules say what a JAX bisection measured at ``flax``: for every JAX release of each segment's span,
    a rule that expects what the segment did (its exception, its every message). Then nothing is rewritten."""
    for segment, span in zip(segments, spans, strict=True):
        expect = "warn" if segment.expect == "fail" and builtin_warning(segment.exception) else segment.expect
        for jax in span:
            rule = next((r for r in old if r.applies(flax, jax, backend)), None)
            if rule is None or rule.expect != expect:
                return False
            if segment.expect == "fail" and (
                (rule.raises or "").rsplit(".", 1)[-1] != segment.exception
                or not all(re.search(rule.match or "", m) for m in segment.messages)
            ):
                return False
    return True


def jax_rules_for(
    variant: str, flax: str, segments: list[Segment], old: list[Rule], backend: str = "cpu"
) -> list[RuleDict]:
    """The variant's rules once JAX was bisected with Flax held at ``flax``: its rules for other Flax releases kept
    (each told ``!=flax``), and for ``flax`` one rule per JAX segment. Measured at that Flax release alone, so no
    other release is said to follow JAX the same way."""
    kept = []
    for rule in old:
        if str(rule.flax) == f"=={flax}":
            continue  # an earlier JAX bisection of the same release: replaced
        if rule.flax.contains(flax, prereleases=True):
            rule = Rule(
                SpecifierSet(f"{rule.flax},!={flax}" if str(rule.flax) else f"!={flax}"),
                rule.jax,
                rule.backend,
                rule.expect,
                rule.raises,
                rule.match,
                rule.note,
            )
        kept.append(as_dict(rule))
    for k, segment in enumerate(segments):
        jax = ([f">={segment.first}"] if k else []) + ([f"<{segments[k + 1].first}"] if k + 1 < len(segments) else [])
        written = _rule(variant, segment, f"=={flax}", ",".join(jax) or None, flax, old, backend)
        if k:
            fixed = is_bug(variant) and segment.expect == "pass"
            written.setdefault(
                "note", f"{'fixed' if fixed else 'changed'} by JAX {segment.first}, measured on flax {flax}"
            )
        kept.append(written)
    return kept


def _rule(
    variant: str, segment: Segment, flax_spec: str, jax_spec: str | None, flax: str, old: list[Rule], backend: str
) -> RuleDict:
    if segment.expect not in ("pass", "fail"):
        raise ValueError(
            f"{variant} on {segment.first}: {segment.expect} is not an expectation (pass or fail); "
            "rerun or fix the harness first"
        )
    # a warning the cell raised (a watched category, catalogue.rules) is written as the warning rule it was measured by
    expect = "warn" if segment.expect == "fail" and builtin_warning(segment.exception) else segment.expect
    rule: RuleDict = {"flax": flax_spec, "jax": jax_spec, "expect": expect}
    before = next(
        (
            r
            for r in old
            if r.applies(flax, segment.jax_seen, backend)
            and r.expect == expect
            and (r.raises or "").rsplit(".", 1)[-1] == (segment.exception or "")
        ),
        None,
    )
    if segment.expect == "fail":
        rule["warns" if expect == "warn" else "raises"] = before.raises if before else segment.exception
        keep = (
            before is not None
            and before.match is not None
            and all(re.search(before.match, m) for m in segment.messages)
        )
        rule["match"] = (
            before.match if keep and before else stable_match(segment.messages) or prefix_match(segment.messages)
        )
    if before and before.note:
        rule["note"] = before.note
    elif segment.by_jax:
        fixed = is_bug(variant) and segment.expect == "pass"
        rule["note"] = f"{'fixed' if fixed else 'changed'} by JAX {segment.by_jax}, not by Flax"
    return {k: v for k, v in rule.items() if v is not None}


def as_dict(rule: Rule) -> RuleDict:
    """A rule as catalogue.edit writes it, its conditions in reading order (``>=0.10.0,<0.11.0``)."""
    out: RuleDict = {
        "flax": spec_text(rule.flax),
        "jax": spec_text(rule.jax),
        "backend": rule.backend,
        "expect": rule.expect,
        "warns" if rule.expect == "warn" else "raises": rule.raises,
        "match": rule.match,
        "note": rule.note,
    }
    return {k: v for k, v in out.items() if v}


def spec_text(spec: SpecifierSet) -> str:
    def order(one: Specifier) -> tuple[Version, int]:
        return Version(one.version.removesuffix(".*")), OPERATOR_ORDER.get(one.operator, 1)

    return ",".join(str(one) for one in sorted(spec, key=order))
