"""One uv environment per Flax release and backend, resolved reproducibly and reused while its pins hold.

An environment is described by an ``EnvSpec``: the exact Flax release, the JAX it shipped with (pinned
where matrix.yaml records it), the backend's JAX extra, the Python, the resolution cut-off (see
releases.cutoff) and the harness's own tools (pyproject's ``cell`` dependency group). ``ensure`` builds it
under ``.envs/<cell>`` with uv: resolve to a lock file, then sync the environment to exactly that lock.
A stamp holds the spec's key, so a rerun with unchanged pins touches neither the network nor the disk.

A team's own lock (``--lock``, running.locks) gives an environment its pins instead: every pin of the lock
but Flax's, resolved with no cut-off (the pins are exact; what they leave open resolves as today). When the
lock's JAX cannot install with the Flax release under test, the resolver chooses JAX as of that release's
cut-off, and the environment says so in one line each time it is used.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path

from packaging.utils import canonicalize_name

from flax_regressions.catalogue.model import Matrix
from flax_regressions.core.files import write_json
from flax_regressions.core.results import CellId
from flax_regressions.running import uv
from flax_regressions.running.locks import Lock
from flax_regressions.running.specs import EnvSpec, spec_of
from flax_regressions.running.uv import EnvError

STAMP = "flax-regressions-env.json"


def python_of(env: Path) -> Path:
    return env / "bin" / "python"


def ensure(spec: EnvSpec, envs_dir: Path, log: Callable[[str], None] = print) -> Path:
    """Build (or reuse) the environment for ``spec``; return its Python. Raises EnvError.

    A lock file per environment makes concurrent sessions (nox -j, a gate beside a bisect) wait for one
    another instead of building the same environment twice at once.
    """
    envs_dir.mkdir(parents=True, exist_ok=True)
    with open(envs_dir / f".{spec.name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        return _ensure_locked(spec, envs_dir, log)


def _stamp(env: Path) -> dict:
    try:
        data = json.loads((env / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_cutoff(env: Path) -> date | None:
    """The resolution cut-off an environment was built with, from its stamp (None: not built, or unreadable)."""
    try:
        return date.fromisoformat(_stamp(env)["spec"]["cutoff"])
    except (KeyError, TypeError, ValueError):
        return None


def unhealthy(env: Path, spec: EnvSpec) -> str | None:
    """Why a stamped environment cannot be trusted: its Python is gone, or flax, jax or jaxlib is missing at the
    pinned version (by package metadata) or absent from disk. Cheap: directory listings, no import."""
    if not python_of(env).exists():
        return "its Python is missing"
    site = next(iter(sorted(env.glob("lib/python*/site-packages"))), None)
    if site is None:
        return "it has no site-packages"
    for name, version in (("flax", spec.flax), ("jax", spec.jax), ("jaxlib", spec.jax)):
        if not list(site.glob(f"{name}-{version or '*'}.dist-info")):
            return f"{name} {version or '(any version)'} is not installed (no package metadata)"
        if not (site / name).is_dir():
            return f"{name} is missing from site-packages"
    return None


def _ensure_locked(spec: EnvSpec, envs_dir: Path, log: Callable[[str], None]) -> Path:
    env = envs_dir / spec.name
    stamp = env / STAMP
    stamped = _stamp(env)
    if stamped.get("key") == spec.key():
        why = unhealthy(env, spec)
        if why is None:
            log(f"reusing {env.relative_to(envs_dir.parent)} (pins unchanged)")
            if stamped.get("note"):
                log(stamped["note"])
            return python_of(env)
        log(f"rebuilding {env.relative_to(envs_dir.parent)}: {why}")
    start = time.monotonic()
    log(f"building {env.relative_to(envs_dir.parent)}: {spec.described()}")
    if env.exists():
        shutil.rmtree(env)
    lock = env / "requirements.lock"
    _venv(spec, env)
    note = _compile(spec, env, lock)
    if note:
        log(note)
    # No bytecode now, whatever a pyproject's [tool.uv] says (this project's asks it for the development environment):
    # a cell keeps the bytecode of the few hundred modules it imports (cells.cell_environment); compiling all ~4,000
    # files of an environment took 10 s a build here.
    _uv(spec, "pip", "sync", "--quiet", "--no-compile-bytecode", "--python", str(python_of(env)), str(lock))
    write_json(
        stamp,
        {"key": spec.key(), "spec": asdict(spec) | {"cutoff": spec.cutoff.isoformat()}}
        | ({"note": note} if note else {}),
    )
    log(f"built {env.relative_to(envs_dir.parent)} in {time.monotonic() - start:.1f}s")
    return python_of(env)


def _venv(spec: EnvSpec, env: Path) -> None:
    """The environment's interpreter: uv's pick of Python ``spec.python``, or the one $UV_PYTHON names (where uv can
    neither find nor download one), which must be that Python."""
    given = os.environ.get("UV_PYTHON")
    _uv(spec, "venv", "--quiet", "--python", given or spec.python, str(env))
    cfg = env / "pyvenv.cfg"
    found = re.search(r"^version_info\s*=\s*(\S+)", cfg.read_text() if cfg.exists() else "", re.M)
    if found and not f"{found.group(1)}.".startswith(f"{spec.python}."):
        shutil.rmtree(env)
        raise uv.PythonMissing(f"UV_PYTHON={given} is Python {found.group(1)}; the cells need Python {spec.python}")


def _compile(spec: EnvSpec, env: Path, lock: Path) -> str | None:
    """Resolve ``spec`` into ``lock``. When a team's lock cannot install with this Flax but can once its JAX pins are
    left out, that is the resolution, and the line returned says so (None: the spec resolved as it is)."""

    def compile_(resolved: EnvSpec) -> None:
        _uv(
            resolved,
            "pip",
            "compile",
            "--quiet",
            "--no-header",
            "--python",
            str(python_of(env)),
            *resolved.resolution_limits(),
            "-o",
            str(lock),
            "-",
            stdin="\n".join(resolved.requirements()),
        )

    try:
        compile_(spec)
        _add_hashes(lock, spec)
        return None
    except EnvError as refused:
        if not spec.lock_jax:
            raise
        try:
            compile_(replace(spec, lock_jax=()))
        except EnvError:
            raise refused from None  # JAX was not the only conflict: the lock's own error says which
        _add_hashes(lock, replace(spec, lock_jax=()))
        why = str(refused).split(": ", 1)[-1]
        jax = " ".join(pin.split()[0] for pin in spec.lock_jax)
        return (
            f"the lock's {jax} cannot install with flax {spec.flax}, so the resolver chose JAX "
            f"as of {spec.cutoff} ({why})"
        )


def _add_hashes(lock: Path, spec: EnvSpec) -> None:
    """Give the resolved pins that a team's lock pinned with hashes those hashes: ``uv pip sync`` then checks every
    file it installs for them against the lock (uv checks the hashes a requirement has, and only those), and refuses a
    file whose bytes differ. ``uv pip compile`` drops them, so they are put back here."""
    hashes: dict[tuple[str, str], list[str]] = {}
    for requirement in spec.pins + spec.lock_jax:
        pin, *options = requirement.split()
        if options:
            name, version = pin.split("==")
            hashes[(canonicalize_name(name), version)] = options
    if not hashes:
        return
    lines = []
    for line in lock.read_text().splitlines():
        pinned = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        given = hashes.get((canonicalize_name(pinned[1]), pinned[2])) if pinned else None
        lines.append(f"{line.split('#')[0].rstrip()} {' '.join(given)}" if given else line)
    lock.write_text("\n".join(lines) + "\n")


def _uv(spec: EnvSpec, *args: str, stdin: str | None = None) -> None:
    uv.run(spec.name, args, stdin)


def built_spec(
    the_matrix: Matrix, requested: str, backend: str, jax: str | None, envs_dir: Path, lock: Lock | None = None
) -> EnvSpec | None:
    """The spec of a release whose environment was built before, read with no network (None: never built).

    Everything in a spec but the cut-off comes from matrix.yaml and the package's metadata, and a release's cut-off
    (its publication day) never changes, so the one recorded at build time stands; envs.ensure then reuses the
    environment when its pins still hold. ``latest`` asks the registry.
    """
    if requested == "latest":
        return None
    recorded = recorded_cutoff(envs_dir / str(CellId(requested, backend)))
    return None if recorded is None else spec_of(the_matrix, requested, requested, backend, jax, recorded, lock)
