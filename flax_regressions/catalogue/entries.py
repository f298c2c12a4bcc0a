"""One case's entry in matrix.yaml: its variants and their rules, checked against its repro module.

A variant's rules say what was measured on which releases. A variant with no rules is declared but *not measured
yet* (``variants: [bug, fix]``, ``bug: []`` or ``bug:`` alone): it validates and runs, and is reported as unknown,
never as expected, until ``bisect --write`` measures it. Two rules that can hold at once would make the expectation
ambiguous, and are refused.
"""

from __future__ import annotations

import re
from itertools import combinations, product
from pathlib import Path

import yaml

from flax_regressions.catalogue import detection, repro_modules
from flax_regressions.catalogue.model import Detection
from flax_regressions.catalogue.rules import Rule, builtin_warning, probe_versions, satisfies
from flax_regressions.catalogue.yaml_nodes import NodeReader
from flax_regressions.core import variant as variant_name

CASE_KEYS = {"upstream", "variants", "detect"}
RULE_KEYS = {"flax", "jax", "backend", "expect", "raises", "warns", "match", "note"}
EXPECTED_KEY = {"fail": "raises", "warn": "warns"}  # what names the exception, or the warning, an outcome expects
EXCEPTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
NULL = "tag:yaml.org,2002:null"


class EntryReader(NodeReader):
    """Reads a case's entry (a NodeReader of the matrix file, whose errors name that file)."""

    def case(
        self, case: str, node: yaml.Node, backends: dict[str, dict[str, str]]
    ) -> tuple[dict[str, list[Rule]], str, Detection | None]:
        where = f"cases.{case}"
        fields = self.mapping(node, where, CASE_KEYS)
        if "variants" not in fields:
            self.fail(node, f"{where}.variants", "missing")
        listed = fields["variants"]
        items: list[tuple[str, yaml.Node, yaml.Node | None]]
        if isinstance(listed, yaml.SequenceNode):  # declared with its variants only: none measured yet
            items = [(self.scalar(item, f"{where}.variants[{i}]"), item, None) for i, item in enumerate(listed.value)]
        else:
            items = [(name, rules, rules) for name, rules in self.mapping(listed, f"{where}.variants").items()]
        variants: dict[str, list[Rule]] = {}
        for variant, name_node, rules_node in items:
            vwhere = f"{where}.variants.{variant}"
            if not variant_name.NAME.match(variant):
                self.fail(name_node, vwhere, "variant ids are bug, fix, bug_<what> or fix_<what>")
            if variant in variants:
                self.fail(name_node, vwhere, "duplicated variant")
            variants[variant] = self.rules(rules_node, vwhere, backends)
        if not variants:
            self.fail(listed, f"{where}.variants", "no variant: a case without variants checks nothing")
        upstream = self.scalar(fields["upstream"], f"{where}.upstream") if "upstream" in fields else ""
        found = (
            detection.read(self, fields["detect"], f"{where}.detect", list(variants)) if "detect" in fields else None
        )
        return variants, upstream, found

    def rules(self, node: yaml.Node | None, where: str, backends: dict[str, dict[str, str]]) -> list[Rule]:
        """A variant's rules; none (no node, null or ``[]``): not measured yet."""
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == NULL):
            return []
        rules = [self.rule(r, f"{where}[{i}]", backends) for i, r in enumerate(self.sequence(node, where))]
        self.check_disjoint(node, where, rules)
        return rules

    def rule(self, node: yaml.Node, where: str, backends: dict[str, dict[str, str]]) -> Rule:
        fields = self.mapping(node, where, RULE_KEYS)
        if "expect" not in fields:
            self.fail(node, f"{where}.expect", "missing (pass, fail or warn)")
        expect = self.scalar(fields["expect"], f"{where}.expect")
        if expect not in ("pass", "fail", "warn"):
            self.fail(fields["expect"], f"{where}.expect", f"must be pass, fail or warn, not {expect!r}")
        backend = self.scalar(fields["backend"], f"{where}.backend") if "backend" in fields else None
        if backend is not None and backend not in backends:
            known = ", ".join(backends)
            self.fail(fields["backend"], f"{where}.backend", f"unknown backend {backend!r} (known: {known})")
        named = EXPECTED_KEY.get(expect)  # None for pass
        allowed = {named, "match"} if named else set()
        for key in ("raises", "warns", "match"):
            if key in fields and key not in allowed:
                why = f"not with expect: {expect} (fail takes raises and match, warn takes warns and match)"
                self.fail(fields[key], f"{where}.{key}", why)
        raises = match = None
        if named:
            for key in (named, "match"):
                if key not in fields:
                    self.fail(
                        node, f"{where}.{key}", f"missing: an expected {expect} names its {named} and its message"
                    )
            raises = self.scalar(fields[named], f"{where}.{named}")
            if not EXCEPTION_NAME.match(raises):
                self.fail(fields[named], f"{where}.{named}", f"not an exception name: {raises!r}")
            if expect == "warn" and not builtin_warning(raises):
                self.fail(fields[named], f"{where}.{named}", f"not a built-in warning category: {raises!r}")
            match = self.scalar(fields["match"], f"{where}.match")
            try:
                re.compile(match)
            except re.error as exc:
                self.fail(fields["match"], f"{where}.match", f"invalid regular expression: {exc}")
        note = self.scalar(fields["note"], f"{where}.note") if "note" in fields else None
        flax, jax = (
            self.specifier(fields.get("flax"), f"{where}.flax"),
            self.specifier(fields.get("jax"), f"{where}.jax"),
        )
        for key, spec in (("flax", flax), ("jax", jax)):
            if not any(satisfies(v, spec) for v in probe_versions([spec])):
                self.fail(
                    fields[key], f"{where}.{key}", f"contradictory condition {str(spec)!r}: no version satisfies it"
                )
        return Rule(flax, jax, backend, expect, raises, match, note)

    def check_disjoint(self, node: yaml.Node, where: str, rules: list[Rule]) -> None:
        """Two rules that can hold at once make the expectation ambiguous: refuse them."""
        flax_probe = probe_versions([r.flax for r in rules])
        jax_probe = probe_versions([r.jax for r in rules])
        backends = {r.backend for r in rules if r.backend} or {"cpu"}
        for (i, a), (j, b) in combinations(enumerate(rules), 2):
            for flax, jax, backend in product(flax_probe, jax_probe, backends):
                if a.applies(flax, jax, backend) and b.applies(flax, jax, backend):
                    why = f"contradictory conditions: rules {i} and {j} both hold for flax {flax}, jax {jax}"
                    self.fail(node.value[j], f"{where}[{j}]", why)

    def module_variants(self, repro_dir: Path, case: str, key_node: yaml.Node | None) -> list[str]:
        """The variant functions of repro/<case>.py (catalogue.repro_modules), or one line naming the problem."""
        why = repro_modules.id_problem(case)
        if why:
            self.fail(key_node, f"cases.{case}", why)
        module = repro_dir / f"{case}.py"
        shown = Path(self.shown or self.path.name).parent / module.relative_to(repro_dir.parent)
        if not module.exists():
            self.fail(key_node, f"cases.{case}", f"unknown case: no module {shown}")
        try:
            return repro_modules.variant_functions(module)
        except repro_modules.ModuleProblem as exc:
            self.fail(key_node, f"cases.{case}", f"{shown}{f':{exc.line}' if exc.line else ''}: {exc.what}")
