"""Find the hits: every node of a team's files that a case's detection rule matches (ast-grep, one parse a file).

Each file is parsed once; its imports give its spelling and its classes the team's ``nnx.Module`` subclasses, across
every file scanned (analysis.scan.spelling), and each case's rule, respelled for the file, is matched in it. A hit
on a line that says ``# flax-regressions: ignore`` (every case) or ``# flax-regressions: ignore[case, ...]`` is
left out, as ruff's ``noqa``. Where the case carries a ``fix``, the hit carries the rewritten text of its node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ast_grep_py import SgNode, SgRoot

from flax_regressions.analysis.scan import prefilter
from flax_regressions.analysis.scan.prefilter import Requirement
from flax_regressions.analysis.scan.spelling import MODULE_BASE, Spelling, of_imports, respelled, subclasses
from flax_regressions.catalogue.model import Detection

SUPPRESSION = re.compile(r"#\s*flax-regressions:\s*ignore(?:\[([^\]]*)\])?")
METAVARIABLE = re.compile(r"\$\$\$([A-Z_][A-Z0-9_]*)|\$([A-Z_][A-Z0-9_]*)")


@dataclass(frozen=True)
class Hit:
    case: str
    path: str  # as shown: relative to the directory the scan ran in
    line: int  # 1-based, as editors and ruff count
    column: int
    end_line: int
    end_column: int
    text: str
    fix: str | None = None  # the node's text rewritten by the case's fix
    start: int = 0  # the node's offsets in the file's text (characters), where a fix goes
    end: int = 0


@dataclass
class Source:
    shown: str
    text: str
    root: SgNode
    spelling: Spelling


def parse(path: Path, shown: str) -> Source:
    text = path.read_text(encoding="utf-8", errors="replace")
    root = SgRoot(text, "python").root()
    imports = [n.text() for n in root.find_all(any=[{"kind": "import_statement"}, {"kind": "import_from_statement"}])]
    return Source(shown, text, root, of_imports(imports))


def module_subclasses(sources: list[Source]) -> tuple[str, ...]:
    """The team's classes that derive from nnx.Module, in any file scanned."""
    bases: dict[str, set[str]] = {}
    for source in sources:
        for node in source.root.find_all(kind="class_definition"):
            name, superclasses = node.field("name"), node.field("superclasses")
            if name is not None and superclasses is not None:
                bases.setdefault(name.text(), set()).update(re.findall(r"[\w.]+", superclasses.text()))
    return subclasses(bases, {s.spelling.respell(MODULE_BASE) for s in sources} | {MODULE_BASE})


def find(sources: list[Source], detections: dict[str, Detection]) -> list[Hit]:
    """Every hit of every case with rules, in file order; suppressed ones left out."""
    module_bases = module_subclasses(sources)

    @cache
    def rule_for(
        case: str, spelling: tuple[str, str, tuple[tuple[str, str], ...]]
    ) -> tuple[dict[str, Any], Requirement]:
        nnx, jnp, direct = spelling
        rule = respelled(detections[case].rule, Spelling(nnx, jnp, dict(direct)), module_bases)
        return rule, prefilter.requirement(rule)

    hits = []
    for source in sources:
        key = (source.spelling.nnx, source.spelling.jnp, tuple(sorted(source.spelling.direct.items())))
        lines, words = source.text.splitlines(), prefilter.words(source.text)
        for case, detection in detections.items():
            if detection.none is not None:
                continue
            rule, need = rule_for(case, key)
            if not prefilter.possible(need, words):
                continue
            seen = set()
            for match in source.root.find_all({"rule": rule}):  # type: ignore[call-overload]
                start, end = match.range().start, match.range().end
                if (start.line, start.column) in seen or _suppressed(lines[start.line], case):
                    continue
                seen.add((start.line, start.column))
                writable = detection.fix and source.spelling.can_write(detection.fix)
                fix = rewrite(detection.fix, match, source, lines) if writable and detection.fix else None
                hits.append(
                    Hit(case, source.shown, start.line + 1, start.column + 1, end.line + 1, end.column + 1,
                        match.text(), fix, start.index, end.index)
                )  # fmt: skip
    return sorted(hits, key=lambda h: (h.path, h.line, h.column, h.case))


def rewrite(template: str, match: SgNode, source: Source, lines: list[str]) -> str:
    """The fix template with the match's metavariables put in, in the file's spelling; later lines indented as the
    matched line is."""

    def value(found: re.Match[str]) -> str:
        many, one = found.groups()
        if many:
            nodes = match.get_multiple_matches(many)
            return source.text[nodes[0].range().start.index : nodes[-1].range().end.index] if nodes else ""
        node = match.get_match(one)
        return node.text() if node is not None else found.group(0)

    text = METAVARIABLE.sub(value, source.spelling.respell(template))
    indent = re.match(r"\s*", lines[match.range().start.line]).group(0)  # type: ignore[union-attr]
    return text.replace("\n", "\n" + indent)


def _suppressed(line: str, case: str) -> bool:
    found = SUPPRESSION.search(line)
    if found is None:
        return False
    named = found.group(1)
    return named is None or case in {c.strip() for c in named.split(",")}


def fixed(text: str, hits: list[Hit]) -> str:
    """``text`` with every hit's fix put in its place; a hit inside another one's node is left (fixed next run)."""
    out, at = [], 0
    for hit in sorted((h for h in hits if h.fix is not None), key=lambda h: h.start):
        if hit.start < at:
            continue
        out += [text[at : hit.start], hit.fix or ""]
        at = hit.end
    return "".join(out) + text[at:]
