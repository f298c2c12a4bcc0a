"""A matrix.yaml rule: a condition on (flax, jax, backend), and the outcome expected where it holds.

Three outcomes can be expected: ``pass`` (the call runs to its end), ``fail`` (it raises the exception
``raises`` with a message matching ``match``) and ``warn`` (it runs, but emits the warning ``warns``, e.g.
a DeprecationWarning, with a matching message). A warning is held like a failure: the cell turns the
warning categories a variant's rules name into exceptions for that variant's call (incell.repros), so the
warning is recorded as what the variant raised, and bisect and the gate see it come and go like any failure.
"""

from __future__ import annotations

import builtins
import functools
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
    expect: str  # "pass", "fail" or "warn"
    raises: str | None = None  # the exception a failure raises, or the warning category a warning rule expects
    match: str | None = None
    note: str | None = None

    def applies(self, flax: str, jax: str, backend: str) -> bool:
        return satisfies(flax, self.flax) and satisfies(jax, self.jax) and self.backend in (None, backend)

    @property
    def fails(self) -> bool:
        """The call is expected to end in ``raises``: an exception, or a warning the cell raises (see above)."""
        return self.expect in ("fail", "warn")

    def describe(self) -> str:
        if self.expect == "pass":
            return "pass"
        return f"{self.expect} with {self.raises} matching /{self.match}/"

    def matches(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the failure this rule expects: its type (or a base) and its message."""
        names = {c.__name__ for c in type(exc).__mro__} | {
            f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__
        }
        return self.raises in names and re.search(self.match or "", str(exc)) is not None


def satisfies(version: str, spec: SpecifierSet) -> bool:
    """Whether ``version`` (a pre-release too) is in ``spec``. Remembered: validating matrix.yaml asks the same few
    hundred questions thousands of times, and the packaging release a cell's environment resolves to (24.2 for
    Flax 0.10.5) parses both versions again on every one (measured there: a process's first read of matrix.yaml
    took 0.16 s of CPU, 0.11 s with the answers remembered)."""
    return _satisfies(version, str(spec))


@functools.cache
def _satisfies(version: str, spec: str) -> bool:
    return SpecifierSet(spec).contains(version, prereleases=True)


def builtin_warning(name: str | None) -> bool:
    """A warning category a cell can name without importing anything: DeprecationWarning, FutureWarning, ..."""
    category = getattr(builtins, name or "", None)
    return isinstance(category, type) and issubclass(category, Warning)


def probe_versions(specs: list[SpecifierSet]) -> tuple[str, ...]:
    """Versions that stand for every region the specifiers cut the version line into.

    The bounds themselves, a version just above each bound, and one below them all: a set of
    conditions that overlaps anywhere overlaps at one of these.
    """
    return _probes(frozenset(s.version.removesuffix(".*") for spec in specs for s in spec))


@functools.cache  # the same few sets of bounds, for every rule and variant of matrix.yaml (see satisfies)
def _probes(bound_texts: frozenset[str]) -> tuple[str, ...]:
    bounds = {Version(text) for text in bound_texts}
    probes = {"0"}
    for bound in bounds:
        probes.add(str(bound))
        probes.add(f"{bound}.0.0.0.1")
        probes.add(f"{'.'.join(map(str, bound.release[:-1] + (bound.release[-1] + 1,)))}")
    return tuple(sorted(probes, key=Version))
