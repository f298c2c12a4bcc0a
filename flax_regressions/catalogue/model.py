"""What matrix.yaml says, as the suite uses it: the default Flax releases, the backends, every expectation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from flax_regressions.catalogue.rules import Rule
from flax_regressions.core.errors import Error


class MatrixError(Error):
    """A matrix.yaml problem, rendered as one line: ``file:line: field: what is wrong``."""

    def __init__(self, path: Path, line: int | None, where: str, what: str, shown: str | None = None):
        self.path, self.line, self.where, self.what = path, line, where, what
        shown = shown or path.name  # a --cases directory's file as the command line named it, else the file's name
        place = f"{shown}:{line}" if line else shown
        super().__init__(f"{place}: {where}: {what}" if where else f"{place}: {what}")


def upstream_url(upstream: str) -> str:
    """A case's ``upstream:`` (``owner/repo#N``, or an address) as an address; empty when none is recorded."""
    match = re.fullmatch(r"([\w.-]+/[\w.-]+)#(\d+)", upstream or "")
    return f"https://github.com/{match.group(1)}/issues/{match.group(2)}" if match else upstream or ""


UNMEASURED_WATCHED = ("DeprecationWarning",)  # what a variant with no rules yet is watched for (watched_warnings)


@dataclass(frozen=True)
class FlaxVersion:
    """A default-matrix Flax release, paired with the JAX it shipped with (None for ``latest``)."""

    version: str
    jax: str | None


@dataclass(frozen=True)
class Detection:
    """One case's rules for finding its call sites in a team's code (catalogue.detection reads them); ``none``: the
    reason the source cannot show the case."""

    line: int  # where ``detect:`` stands in its matrix.yaml, for the errors that name a rule
    message: str = ""
    rule: dict[str, Any] = field(default_factory=dict)
    avoided_by: tuple[str, ...] = ()
    missed: dict[str, str] = field(default_factory=dict)  # bug variant -> why the rule cannot find it
    fix: str | None = None
    none: str | None = None


@dataclass
class Matrix:
    python: str
    current: str
    flax: list[FlaxVersion]
    backends: dict[str, dict[str, str]]
    cases: dict[str, dict[str, list[Rule]]]  # case -> variant -> rules
    upstream: dict[str, str] = field(default_factory=dict)
    declared_in: dict[str, Path] = field(default_factory=dict)  # case -> the matrix.yaml that declares it
    case_dirs: tuple[Path, ...] = ()  # the --cases directories this matrix was read with (none: the built-in alone)
    undeclared: frozenset[str] = frozenset()  # cases whose repro module no matrix.yaml declares yet
    detection: dict[str, Detection] = field(default_factory=dict)  # case -> its detection rules (catalogue.detection)

    def unmeasured(self) -> list[tuple[str, str]]:
        """The variants with no rules at all: declared (or found in repro/) but not measured yet."""
        return [(case, variant) for case, variant in self.variants() if not self.cases[case][variant]]

    def repro_dir(self, case: str) -> Path:
        """Where the case's module lives: repro/ beside the matrix.yaml that declares it."""
        return self.declared_in[case].parent / "repro"

    def repro_file(self, case: str) -> Path:
        return self.repro_dir(case) / f"{case}.py"

    def expectation(self, case: str, variant: str, flax: str, jax: str, backend: str) -> Rule | None:
        """The rule that holds for these versions, or None: the matrix says nothing (an unknown)."""
        for rule in self.cases[case][variant]:
            if rule.applies(flax, jax, backend):
                return rule
        return None

    def watched_warnings(self, case: str, variant: str) -> tuple[str, ...]:
        """The warning categories any of the variant's rules expects: raised as errors around its call, on every
        release, so a warning that appears or goes away shows (catalogue.rules). A variant not measured yet watches
        DeprecationWarning, the category Flax deprecates with: otherwise bisect would measure a warning case as
        passing everywhere and write rules that never see its warning."""
        if not self.cases[case][variant]:
            return UNMEASURED_WATCHED
        return tuple(
            dict.fromkeys(rule.raises for rule in self.cases[case][variant] if rule.raises and rule.expect == "warn")
        )

    def variants(self) -> list[tuple[str, str]]:
        return [(case, variant) for case, variants in self.cases.items() for variant in variants]

    def oldest_release(self) -> str | None:
        """Where bisect and sweep start by default: the oldest release the expectations speak of (the lowest
        lower bound of any flax rule); None when no rule has one (the caller starts at the registry's oldest)."""
        bounds = [
            Version(s.version)
            for variants in self.cases.values()
            for rules in variants.values()
            for rule in rules
            for s in rule.flax
            if s.operator in (">=", "==", "~=")
        ]
        return str(min(bounds)) if bounds else None
