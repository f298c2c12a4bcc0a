"""A cell's name, and its parser: the one place that knows how a cell id is spelled."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CELL_ID = re.compile(
    r"^flax-(?P<flax>[^-]+)(?:-jax-(?P<jax>[^-]+))?(?:-lock-(?P<lock>[0-9a-f]+))?-(?P<backend>[A-Za-z0-9_]+)$"
)


@dataclass(frozen=True)
class CellId:
    """A cell's name: ``flax-0.10.5-cpu``; ``flax-0.10.5-jax-0.6.0-cpu`` when JAX was chosen by hand;
    ``flax-0.10.5-lock-<digest>-cpu`` when a team's lock gave the other pins (running.locks), so the results of a
    lock's cell never replace those of the plain cell, nor those of another lock."""

    flax: str  # as requested: a release or "latest"
    backend: str
    jax: str | None = None
    lock: str | None = None  # the digest of the lock's pins and hashes

    def __str__(self) -> str:
        jax = f"-jax-{self.jax}" if self.jax else ""
        lock = f"-lock-{self.lock}" if self.lock else ""
        return f"flax-{self.flax}{jax}{lock}-{self.backend}"

    @classmethod
    def parse(cls, text: str) -> CellId:
        match = _CELL_ID.match(text)
        if not match:
            raise ValueError(
                f"not a cell id: {text!r} (expected flax-<version>[-jax-<version>][-lock-<digest>]-<backend>)"
            )
        return cls(match["flax"], match["backend"], match["jax"], match["lock"])
