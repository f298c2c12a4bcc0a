"""Load and validate matrix.yaml, without importing Flax or JAX.

matrix.yaml is the one place where the default Flax versions, their JAX, the backends and every
expectation live. Reading it takes well under a second, so it runs before any environment is built. The
YAML node tree is walked (not the loaded data) so that every problem is one line naming the file, the line
its value stands on, and the field: ``matrix.yaml:42: cases.rnn_jit.variants.bug[0].flax: ...``.
"""

from __future__ import annotations

import re
from itertools import combinations, product
from pathlib import Path

import yaml

from flax_regressions.catalogue import repro_modules
from flax_regressions.catalogue.model import FlaxVersion, Matrix, MatrixError
from flax_regressions.catalogue.rules import Rule, builtin_warning, probe_versions, satisfies
from flax_regressions.catalogue.yaml_nodes import NodeReader, compose
from flax_regressions.core import variant as variant_name
from flax_regressions.core.paths import builtin_matrix

SETTINGS = ("python", "current", "flax", "backends")  # a --cases matrix may take these from the built-in one
TOP_KEYS = {"include", *SETTINGS, "cases"}
VERSION_KEYS = {"version", "jax"}
BACKEND_KEYS = {"jax_extra", "needs"}
CASE_KEYS = {"upstream", "variants"}
RULE_KEYS = {"flax", "jax", "backend", "expect", "raises", "warns", "match", "note"}
EXPECTED_KEY = {"fail": "raises", "warn": "warns"}  # what names the exception, or the warning, an outcome expects
EXCEPTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def load(path: Path | None = None) -> Matrix:
    """Read and validate matrix.yaml (its cases live in ``repro/`` beside it); raise MatrixError on the first problem.
    (The --cases directories' matrices are read and merged by catalogue.case_dirs.)"""
    path = Path(path) if path else builtin_matrix()
    return Reader(path).matrix(compose(path))


class Reader(NodeReader):
    """matrix.yaml's schema, read off its node tree. ``given`` and ``case_lines`` keep the lines of its settings
    and cases (for catalogue.case_dirs)."""

    def __init__(self, path: Path, shown: str | None = None):
        super().__init__(path, shown)
        self.repro_dir = path.parent / "repro"
        self.given: dict[str, int] = {}
        self.case_lines: dict[str, int] = {}

    def matrix(self, root, builtin: Matrix | None = None) -> Matrix:
        """The file's matrix; a setting it does not give comes from ``builtin`` (its ``include: builtin``)."""
        if root is None:
            raise MatrixError(self.path, None, "", "the file is empty", self.shown)
        top = self.mapping(root, "", TOP_KEYS if self.shown else TOP_KEYS - {"include"})
        for key in sorted(TOP_KEYS - top.keys() - {"include"}):
            if builtin is None or key == "cases":
                self.fail(root, key, "missing" + (" (or include: builtin)" if self.shown and key != "cases" else ""))
        self.given = {key: top[key].start_mark.line + 1 for key in SETTINGS if key in top}
        python = self.scalar(top["python"], "python") if "python" in top else builtin.python
        backends = self.backends(top["backends"]) if "backends" in top else builtin.backends
        flax = self.flax_versions(top["flax"]) if "flax" in top else builtin.flax
        current = self.version(top["current"], "current") if "current" in top else builtin.current
        cases, upstream = {}, {}
        for case, node in self.mapping(top["cases"], "cases").items():
            cases[case], upstream[case] = self.case(case, node, backends)
        if not cases:
            self.fail(top["cases"], "cases", "no case: a matrix without cases checks nothing")
        self.check_repro_modules(top["cases"], cases)
        self.case_lines = {k.value: k.start_mark.line + 1 for k, _ in top["cases"].value}
        return Matrix(python, current, flax, backends, cases, upstream, dict.fromkeys(cases, self.path))

    def backends(self, node) -> dict[str, dict]:
        backends = {}
        for name, backend in self.mapping(node, "backends").items():
            settings = (
                self.mapping(backend, f"backends.{name}", BACKEND_KEYS) if isinstance(backend, yaml.MappingNode) else {}
            )
            backends[name] = {k: self.scalar(v, f"backends.{name}.{k}") for k, v in settings.items()}
        if "cpu" not in backends:
            self.fail(node, "backends", "the cpu backend is required")
        return backends

    def flax_versions(self, node) -> list[FlaxVersion]:
        out, seen = [], set()
        for i, item in enumerate(self.sequence(node, "flax")):
            where = f"flax[{i}]"
            fields = self.mapping(item, where, VERSION_KEYS)
            if "version" not in fields:
                self.fail(item, f"{where}.version", "missing")
            raw = self.scalar(fields["version"], f"{where}.version")
            version = raw if raw == "latest" else self.version(fields["version"], f"{where}.version")
            if version in seen:
                self.fail(fields["version"], f"{where}.version", f"duplicated version {version}")
            seen.add(version)
            jax = self.version(fields["jax"], f"{where}.jax") if "jax" in fields else None
            out.append(FlaxVersion(version, jax))
        return out

    def case(self, case: str, node, backends: dict) -> tuple[dict[str, list[Rule]], str]:
        where = f"cases.{case}"
        fields = self.mapping(node, where, CASE_KEYS)
        if "variants" not in fields:
            self.fail(node, f"{where}.variants", "missing")
        variants = {}
        for variant, rules_node in self.mapping(fields["variants"], f"{where}.variants").items():
            vwhere = f"{where}.variants.{variant}"
            if not variant_name.NAME.match(variant):
                self.fail(rules_node, vwhere, "variant ids are bug, fix, bug_<what> or fix_<what>")
            rules = [self.rule(r, f"{vwhere}[{i}]", backends) for i, r in enumerate(self.sequence(rules_node, vwhere))]
            if not rules:
                self.fail(rules_node, vwhere, "no expectation: give at least one rule")
            self.check_disjoint(rules_node, vwhere, rules)
            variants[variant] = rules
        if not variants:
            self.fail(fields["variants"], f"{where}.variants", "no variant: a case without variants checks nothing")
        upstream = self.scalar(fields["upstream"], f"{where}.upstream") if "upstream" in fields else ""
        return variants, upstream

    def rule(self, node, where: str, backends: dict) -> Rule:
        fields = self.mapping(node, where, RULE_KEYS)
        if "expect" not in fields:
            self.fail(node, f"{where}.expect", "missing (pass, fail or warn)")
        expect = self.scalar(fields["expect"], f"{where}.expect")
        if expect not in ("pass", "fail", "warn"):
            self.fail(fields["expect"], f"{where}.expect", f"must be pass, fail or warn, not {expect!r}")
        backend = self.scalar(fields["backend"], f"{where}.backend") if "backend" in fields else None
        if backend is not None and backend not in backends:
            self.fail(
                fields["backend"], f"{where}.backend", f"unknown backend {backend!r} (known: {', '.join(backends)})"
            )
        named = EXPECTED_KEY.get(expect)  # None for pass
        allowed = {named, "match"} if named else set()
        for key in ("raises", "warns", "match"):
            if key in fields and key not in allowed:
                self.fail(
                    fields[key],
                    f"{where}.{key}",
                    f"not with expect: {expect} (fail takes raises and match, warn takes warns and match)",
                )
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
        rule = Rule(
            self.specifier(fields.get("flax"), f"{where}.flax"),
            self.specifier(fields.get("jax"), f"{where}.jax"),
            backend,
            expect,
            raises,
            match,
            note,
        )
        for key in ("flax", "jax"):
            spec = getattr(rule, key)
            if not any(satisfies(v, spec) for v in probe_versions([spec])):
                self.fail(
                    fields[key], f"{where}.{key}", f"contradictory condition {str(spec)!r}: no version satisfies it"
                )
        return rule

    def check_disjoint(self, node, where: str, rules: list[Rule]) -> None:
        """Two rules that can hold at once make the expectation ambiguous: refuse them."""
        flax_probe = probe_versions([r.flax for r in rules])
        jax_probe = probe_versions([r.jax for r in rules])
        backends = {r.backend for r in rules} - {None} or {"cpu"}
        for (i, a), (j, b) in combinations(enumerate(rules), 2):
            for flax, jax, backend in product(flax_probe, jax_probe, backends):
                if a.applies(flax, jax, backend) and b.applies(flax, jax, backend):
                    self.fail(
                        node.value[j],
                        f"{where}[{j}]",
                        f"contradictory conditions: rules {i} and {j} both hold for flax {flax}, jax {jax}",
                    )

    def check_repro_modules(self, node, cases: dict) -> None:
        """Every case names a module, repro/<case>.py, that compiles, and its bug/fix functions and the matrix's
        variants are the same set (see catalogue.repro_modules)."""
        entries = dict((k.value, (k, v)) for k, v in node.value)
        for case, variants in cases.items():
            key_node, value_node = entries[case]
            why = repro_modules.id_problem(case)
            if why:
                self.fail(key_node, f"cases.{case}", why)
            module = self.repro_dir / f"{case}.py"
            shown = Path(self.shown or self.path.name).parent / module.relative_to(self.repro_dir.parent)
            if not module.exists():
                self.fail(key_node, f"cases.{case}", f"unknown case: no module {shown}")
            try:
                defined = repro_modules.variant_functions(module)
            except repro_modules.ModuleProblem as exc:
                self.fail(key_node, f"cases.{case}", f"{shown}{f':{exc.line}' if exc.line else ''}: {exc.what}")
            variant_nodes = dict((k.value, k) for k, _ in self.mapping(value_node, f"cases.{case}")["variants"].value)
            for variant in variants:
                if variant not in defined:
                    self.fail(
                        variant_nodes[variant],
                        f"cases.{case}.variants.{variant}",
                        f"unknown variant: repro/{case}.py defines no function {variant}()",
                    )
            for variant in defined:
                if variant not in variants:
                    self.fail(
                        value_node,
                        f"cases.{case}.variants.{variant}",
                        f"variant without an expectation: repro/{case}.py defines {variant}()",
                    )
