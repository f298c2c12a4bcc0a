"""A matrix.yaml rule: a condition on (flax, jax, backend), and the outcome expected where it holds."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version


@dataclass(frozen=True)
class Rule:
    """One condition on (flax, jax, backend) and the outcome expected where it holds."""

    flax: SpecifierSet
    jax: SpecifierSet
    backend: str | None
    expect: str  # "pass" or "fail"
    raises: str | None = None
    match: str | None = None
    note: str | None = None

    def applies(self, flax: str, jax: str, backend: str) -> bool:
        return (
            self.flax.contains(flax, prereleases=True)
            and self.jax.contains(jax, prereleases=True)
            and self.backend in (None, backend)
        )

    def describe(self) -> str:
        if self.expect == "pass":
            return "pass"
        return f"fail with {self.raises} matching /{self.match}/"

    def matches(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the failure this rule expects: its type (or a base) and its message."""
        names = {c.__name__ for c in type(exc).__mro__} | {
            f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__
        }
        return self.raises in names and re.search(self.match, str(exc)) is not None


def probe_versions(specs: list[SpecifierSet]) -> list[str]:
    """Versions that stand for every region the specifiers cut the version line into.

    The bounds themselves, a version just above each bound, and one below them all: a set of
    conditions that overlaps anywhere overlaps at one of these.
    """
    bounds = {Version(s.version.removesuffix(".*")) for spec in specs for s in spec}
    probes = {"0"}
    for bound in bounds:
        probes.add(str(bound))
        probes.add(f"{bound}.0.0.0.1")
        probes.add(f"{'.'.join(map(str, bound.release[:-1] + (bound.release[-1] + 1,)))}")
    return sorted(probes, key=Version)
