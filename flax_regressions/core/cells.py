"""A cell's name, and its parser: the one place that knows how a cell id is spelled."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CELL_ID = re.compile(r"^flax-(?P<flax>[^-]+)(?:-jax-(?P<jax>[^-]+))?-(?P<backend>[A-Za-z0-9_]+)$")


@dataclass(frozen=True)
class CellId:
    """A cell's name: ``flax-0.10.5-cpu``, or ``flax-0.10.5-jax-0.6.0-cpu`` when JAX was chosen by hand."""

    flax: str  # as requested: a release or "latest"
    backend: str
    jax: str | None = None

    def __str__(self) -> str:
        return f"flax-{self.flax}-jax-{self.jax}-{self.backend}" if self.jax else f"flax-{self.flax}-{self.backend}"

    @classmethod
    def parse(cls, text: str) -> "CellId":
        match = _CELL_ID.match(text)
        if not match:
            raise ValueError(f"not a cell id: {text!r} (expected flax-<version>[-jax-<version>]-<backend>)")
        return cls(match["flax"], match["backend"], match["jax"])
