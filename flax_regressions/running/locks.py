"""A team's own lock file, read into exact pins: what its environments are built from (``--lock FILE``).

Three formats, told apart by the file's name: ``uv.lock`` (uv's universal lock), ``pylock.toml`` or
``pylock.<name>.toml`` (PEP 751), anything else a requirements file of ``name==version`` lines (pip-compile,
``uv pip compile``, ``uv export``, ``pip freeze``). Universal locks list packages for every platform and
Python, so markers are evaluated for the cells' Python on this machine: a pin for Windows or another Python
is left out rather than failing to install. The project's own package (editable, virtual, a local
directory; ``-e .`` in a requirements file) is left out too: it is the user's code, not a dependency, and the
lock says so once (``notes``). Anything else that cannot be pinned by version from the registry is a
``LockError`` naming the file and the line or entry.

Hashes are honoured: a pin's hashes (``--hash`` options, uv.lock's and pylock.toml's file hashes) go with it into
the environment's lock, where uv checks each file it installs against them, and into the lock's digest, so an
environment reused for a lock was built from the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from flax_regressions.running import lock_formats
from flax_regressions.running.lock_formats import LockError, Pin

__all__ = ["JAX_FAMILY", "Lock", "LockError", "Pin", "read"]
JAX_FAMILY = re.compile(r"^(jax|jaxlib|jax-(cuda|rocm)\d*-(plugin|pjrt))$")  # replaced together with JAX


@dataclass(frozen=True)
class Lock:
    """The exact pins of a lock file that apply to the cells' Python on this machine, one per package."""

    pins: tuple[Pin, ...]  # sorted by name
    source: str = ""  # the file, as the command line named it
    notes: tuple[str, ...] = ()  # what was left out of the file and why, for the command to say once

    def version(self, name: str) -> str | None:
        return next((p.version for p in self.pins if p.name == canonicalize_name(name)), None)

    @property
    def digest(self) -> str:
        """A short hash of the pins and their hashes: the same pins from another file share their environments."""
        return hashlib.sha256("\n".join(p.requirement() for p in self.pins).encode()).hexdigest()[:10]

    def requirements(self) -> tuple[str, ...]:
        """Every pin but Flax's, which the release under test replaces, and JAX's (``jax_pins``), which a JAX chosen
        by hand replaces; each with its hashes."""
        return tuple(p.requirement() for p in self.pins if p.name != "flax" and not JAX_FAMILY.match(p.name))

    def jax_pins(self) -> tuple[str, ...]:
        return tuple(p.requirement() for p in self.pins if JAX_FAMILY.match(p.name))


def read(path: Path, python: str) -> Lock:
    """Read ``path`` as its name says (see the module docstring), markers evaluated for ``python`` ("3.12")."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(
            f"--lock {path}: cannot read it ({exc.strerror if isinstance(exc, OSError) else exc})"
        ) from None
    environment = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    notes: list[str] = []
    if path.name == "uv.lock":
        found = lock_formats.uv_lock(lock_formats.toml(path, text), path, environment)
    elif re.fullmatch(r"pylock(\.[^.]+)?\.toml", path.name):
        found = lock_formats.pylock(lock_formats.toml(path, text), path, environment)
    else:
        found = lock_formats.requirements_file(text, path, environment, notes)
    pins: dict[str, tuple[Pin, str]] = {}
    for pin, where in found:
        if pin.name in pins and pins[pin.name][0] != pin:
            raise LockError(
                f"{where}: {pin.name} is pinned twice for Python {python} ({pins[pin.name][0].version} at "
                f"{pins[pin.name][1]}, {pin.version} here)"
            )
        pins[pin.name] = (pin, where)
    if not pins:
        raise LockError(f"{path}: no pinned package for Python {python}")
    return Lock(tuple(sorted((p for p, _ in pins.values()), key=lambda p: p.name)), str(path), tuple(notes))
