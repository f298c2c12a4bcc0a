"""The versions a team asks about, as audit and scan take them: a release (``latest``, ``current``), a lock's pins,
or what is installed here. Only ``latest`` asks the registry; everything else is read locally."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from flax_regressions.analysis.audit import Point
from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.errors import Error
from flax_regressions.running import locks, registry


def release(the_matrix: Matrix, requested: str, jax: str | None, backend: str) -> Point:
    """A release by name: ``current`` is matrix.yaml's, ``latest`` the registry's newest."""
    flax = the_matrix.current if requested == "current" else requested
    return Point(registry.resolve(flax, the_matrix.python) if flax == "latest" else flax, jax, backend)


def of_lock(the_matrix: Matrix, path: Path, backend: str) -> Point:
    """The Flax and JAX a lock pins (for the matrix's Python); a lock without Flax is refused."""
    lock = locks.read(path, the_matrix.python)
    flax = lock.version("flax")
    if flax is None:
        raise Error(f"--lock {path}: pins no flax, so there is no release to audit")
    return Point(flax, lock.version("jax"), backend)


def installed(backend: str) -> Point | None:
    """The Flax and JAX of the interpreter this runs in (package metadata only), or None without Flax."""
    try:
        flax = version("flax")
    except PackageNotFoundError:
        return None
    try:
        jax: str | None = version("jax")
    except PackageNotFoundError:
        jax = None
    return Point(flax, jax, backend)


def before(the_matrix: Matrix, lock: Path | None, here: bool, flax: str | None, jax: str | None, backend: str) -> Point:
    """The versions asked about: the lock's, the installed ones (``here``), a release; else the installed ones where
    Flax is installed, else matrix.yaml's current release."""
    if jax and not flax:
        raise Error("--jax goes with --flax (a lock, or --here, names its own JAX)")
    if lock:
        return of_lock(the_matrix, lock, backend)
    if flax:
        return release(the_matrix, flax, jax, backend)
    found = installed(backend)
    if here and found is None:
        raise Error("--here: flax is not installed in this interpreter")
    return found or release(the_matrix, "current", None, backend)


def after(the_matrix: Matrix, to: str | None, jax: str | None, backend: str) -> Point | None:
    if jax and not to:
        raise Error("the JAX to move to goes with the release to move to (--to)")
    return release(the_matrix, to, jax, backend) if to else None
