"""Flax releases on the package registry: which exist, when each was published, which is the latest, which were
yanked and why.

An environment for a Flax release is resolved as the registry stood the day after that release was
published (``cutoff``): the same JAX and dependencies on every run and every machine, chosen by one rule
that works for any release, including ones the default matrix does not list (gate, bisect).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from functools import cache

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from flax_regressions.core.errors import Error

PYPI_JSON = "https://pypi.org/pypi/{package}/json"


class RegistryError(Error):
    """The registry could not be reached, or does not have what was asked for. Its message is one line."""


class RegistryUnreachable(RegistryError):
    """The registry could not be reached: this says nothing about the release asked for."""


def _project(package: str) -> dict:
    """The registry's JSON for a package: every release, every file."""
    url = PYPI_JSON.format(package=package)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistryUnreachable(f"cannot reach the package registry ({url}): {reason}") from None


@cache
def published(package: str = "flax") -> dict[str, tuple[datetime, str]]:
    """Every non-yanked release with files: version -> (first upload time, requires_python)."""
    out = {}
    for raw, files in _project(package)["releases"].items():
        files = [f for f in files if not f.get("yanked")]
        if not files:
            continue
        try:
            Version(raw)
        except InvalidVersion:
            continue
        uploaded = min(datetime.fromisoformat(f["upload_time_iso_8601"].replace("Z", "+00:00")) for f in files)
        out[raw] = (uploaded, files[0].get("requires_python") or "")
    return out


@cache
def yanked(package: str = "flax") -> dict[str, str]:
    """Every release whose files were all yanked: version -> the registry's reason ("" when none was given).

    Asked only to explain a release that is not in ``published``, so it costs a second request only then.
    """
    return {
        raw: (files[0].get("yanked_reason") or "").strip()
        for raw, files in _project(package)["releases"].items()
        if files and all(f.get("yanked") for f in files)
    }


def releases(python: str, package: str = "flax") -> list[str]:
    """Final releases that support ``python``, oldest first."""
    supported = [
        v
        for v, (_, requires) in published(package).items()
        if not Version(v).is_prerelease and SpecifierSet(requires).contains(f"{python}.99", prereleases=True)
    ]
    return sorted(supported, key=Version)


def resolve(requested: str, python: str) -> str:
    """``latest`` -> the newest release that supports ``python``; anything else must be a release."""
    available = releases(python)
    if requested == "latest":
        return available[-1]
    if requested not in published():
        near = ", ".join(sorted(sorted(available, key=lambda v: _distance(v, requested))[:3], key=Version))
        reason = yanked().get(requested)
        if reason is not None:
            raise RegistryError(
                f"flax {requested} is yanked on the registry (reason: {reason or 'none given'}); "
                f"a yanked release is never installed (nearest: {near})"
            )
        raise RegistryError(f"flax {requested} is not a release on the registry (nearest: {near})")
    if requested not in available:
        raise RegistryError(
            f"flax {requested} does not support Python {python} (requires-python {published()[requested][1]})"
        )
    return requested


def cutoff(version: str, package: str = "flax") -> date:
    """The resolution cut-off for a release's environment: the day after it was published (UTC)."""
    return published(package)[version][0].date() + timedelta(days=1)


def between(python: str, first: str, last: str = "latest") -> list[str]:
    """The releases from ``first`` to ``last`` (both releases, or ``latest``), oldest first."""
    low, high = Version(resolve(first, python)), Version(resolve(last, python))
    return [v for v in releases(python) if low <= Version(v) <= high]


def _distance(a: str, b: str) -> tuple:
    try:
        va, vb = Version(a).release, Version(b).release
    except InvalidVersion:
        return (99,)
    va, vb = va + (0,) * (3 - len(va)), vb + (0,) * (3 - len(vb))
    return tuple(abs(x - y) for x, y in zip(va, vb))
