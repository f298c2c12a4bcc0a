"""Load and validate matrix.yaml, without importing Flax or JAX.

matrix.yaml is the one place where the default Flax versions, their JAX, the backends and every
expectation live. Reading it takes well under a second, so it runs before any environment is built. The
YAML node tree is walked (not the loaded data) so that every problem is one line naming the file, the line
its value stands on, and the field: ``matrix.yaml:42: cases.rnn_jit.variants.bug[0].flax: ...``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from flax_regressions.catalogue import repro_modules
from flax_regressions.catalogue.entries import NULL, EntryReader
from flax_regressions.catalogue.model import Detection, FlaxVersion, Matrix, MatrixError
from flax_regressions.catalogue.rules import Rule
from flax_regressions.catalogue.yaml_nodes import compose
from flax_regressions.core.paths import builtin_matrix

T = TypeVar("T")

SETTINGS = ("python", "current", "flax", "backends")  # a --cases matrix may take these from the built-in one
TOP_KEYS = {"include", *SETTINGS, "cases"}
VERSION_KEYS = {"version", "jax"}
BACKEND_KEYS = {"jax_extra", "needs"}


def load(path: Path | None = None) -> Matrix:
    """Read and validate matrix.yaml (its cases live in ``repro/`` beside it); raise MatrixError on the first problem.
    (The --cases directories' matrices are read and merged by catalogue.case_dirs.)"""
    path = Path(path) if path else builtin_matrix()
    return Reader(path).matrix(compose(path))


class Reader(EntryReader):
    """matrix.yaml's schema, read off its node tree. ``given`` and ``case_lines`` keep the lines of its settings
    and cases (for catalogue.case_dirs).

    A repro module beside the file that the file does not declare is a case too, with every variant it defines
    not measured yet (``Matrix.undeclared``): validation names it, a run reports it as unknown, and ``bisect --write``
    measures it and declares it. Modules whose names start with ``_`` are a case's helpers, not cases."""

    def __init__(self, path: Path, shown: str | None = None):
        super().__init__(path, shown)
        self.repro_dir = path.parent / "repro"
        self.given: dict[str, int] = {}
        self.case_lines: dict[str, int] = {}

    def matrix(self, root: yaml.Node | None, builtin: Matrix | None = None) -> Matrix:
        """The file's matrix; a setting it does not give comes from ``builtin`` (its ``include: builtin``)."""
        if root is None:
            raise MatrixError(self.path, None, "", "the file is empty", self.shown)
        top = self.mapping(root, "", TOP_KEYS if self.shown else TOP_KEYS - {"include"})
        for key in sorted(TOP_KEYS - top.keys() - {"include", "cases"}):
            if builtin is None:
                self.fail(root, key, "missing" + (" (or include: builtin)" if self.shown and key != "cases" else ""))
        self.given = {key: top[key].start_mark.line + 1 for key in SETTINGS if key in top}

        def setting(key: str, read: Callable[[yaml.Node, str], T]) -> T:
            return read(top[key], key) if key in top else getattr(builtin, key)

        python, current = setting("python", self.scalar), setting("current", self.version)
        backends, flax = setting("backends", self.backends), setting("flax", self.flax_versions)
        cases: dict[str, dict[str, list[Rule]]] = {}
        upstream: dict[str, str] = {}
        detections: dict[str, Detection] = {}
        listed = top.get("cases")
        keys = {k.value: k for k, _ in listed.value} if isinstance(listed, yaml.MappingNode) else {}
        if listed is not None and not (isinstance(listed, yaml.ScalarNode) and listed.tag == NULL):
            for case, node in self.mapping(listed, "cases").items():
                cases[case], upstream[case], found = self.case(case, node, backends)
                if found is not None:
                    detections[case] = found
                self.check_module(case, cases[case], keys[case], node)
        self.case_lines = {case: key.start_mark.line + 1 for case, key in keys.items()}
        undeclared = self.undeclared_modules(set(cases))
        for case, variants in undeclared.items():
            cases[case], upstream[case] = dict.fromkeys(variants, []), ""
        if not cases:
            self.fail(listed or root, "cases", "no case: declare one, or put its module in repro/ beside this file")
        return Matrix(
            python,
            current,
            flax,
            backends,
            cases,
            upstream,
            dict.fromkeys(cases, self.path),
            undeclared=frozenset(undeclared),
            detection=detections,
        )

    def backends(self, node: yaml.Node, where: str = "backends") -> dict[str, dict[str, str]]:
        backends = {}
        for name, backend in self.mapping(node, where).items():
            settings = (
                self.mapping(backend, f"{where}.{name}", BACKEND_KEYS) if isinstance(backend, yaml.MappingNode) else {}
            )
            backends[name] = {k: self.scalar(v, f"{where}.{name}.{k}") for k, v in settings.items()}
        if "cpu" not in backends:
            self.fail(node, where, "the cpu backend is required")
        return backends

    def flax_versions(self, node: yaml.Node, where: str = "flax") -> list[FlaxVersion]:
        out, seen = [], set()
        for i, item in enumerate(self.sequence(node, where)):
            at = f"{where}[{i}]"
            fields = self.mapping(item, at, VERSION_KEYS)
            if "version" not in fields:
                self.fail(item, f"{at}.version", "missing")
            raw = self.scalar(fields["version"], f"{at}.version")
            version = raw if raw == "latest" else self.version(fields["version"], f"{at}.version")
            if version in seen:
                self.fail(fields["version"], f"{at}.version", f"duplicated version {version}")
            seen.add(version)
            jax = self.version(fields["jax"], f"{at}.jax") if "jax" in fields else None
            out.append(FlaxVersion(version, jax))
        return out

    def check_module(self, case: str, variants: dict[str, list[Rule]], key_node: yaml.Node, node: yaml.Node) -> None:
        """The case names a module, repro/<case>.py, that compiles, and its bug/fix functions and the matrix's
        variants are the same set (see catalogue.repro_modules)."""
        defined = self.module_variants(self.repro_dir, case, key_node)
        listed = self.mapping(node, f"cases.{case}")["variants"]
        names = (
            {n.value: n for n in listed.value}
            if isinstance(listed, yaml.SequenceNode)
            else {k.value: k for k, _ in listed.value}
        )
        for variant in variants:
            if variant not in defined:
                why = f"unknown variant: repro/{case}.py defines no function {variant}()"
                self.fail(names[variant], f"cases.{case}.variants.{variant}", why)
        for variant in defined:
            if variant not in variants:
                why = f"variant without an expectation: repro/{case}.py defines {variant}()"
                self.fail(listed, f"cases.{case}.variants.{variant}", why)

    def undeclared_modules(self, declared: set[str]) -> dict[str, list[str]]:
        """The repro modules beside the file that it does not declare, with the variants each defines."""
        found = {}
        for module in sorted(self.repro_dir.glob("*.py")) if self.repro_dir.is_dir() else ():
            case = module.stem
            if case in declared or case.startswith("_") or repro_modules.id_problem(case):
                continue
            variants = self.module_variants(self.repro_dir, case, None)
            if variants:
                found[case] = variants
        return found
