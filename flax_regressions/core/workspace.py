"""The work directory and what goes in it: the one value that says where every working file is.

The command line resolves it once (``--workdir``, else the directory it runs in; the environments may live
elsewhere, ``--envdir`` or ``$FLAX_REGRESSIONS_ENVDIR``, so that several work directories, a team's repositories
or the harness's own end-to-end tests, share one set built once) and passes it down: no module reads a path from
the environment or fixes one at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ENVDIR_ENV = "FLAX_REGRESSIONS_ENVDIR"  # read by the command line alone (commands.cli)


@dataclass(frozen=True)
class Workspace:
    root: Path  # the work directory: results/, reports/, .jax-cache/
    envs: Path  # the cells' environments, and the bytecode their interpreters compile

    @classmethod
    def at(cls, root: Path, envs: Path | None = None) -> Workspace:
        root = Path(root).resolve()
        return cls(root, Path(envs).resolve() if envs else root / ".envs")

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def cells(self) -> Path:
        """The default matrix's cells' results files (core.results)."""
        return self.results / "cells"

    @property
    def logs(self) -> Path:
        """The pytest output of cells run side by side."""
        return self.results / "logs"

    @property
    def gate(self) -> Path:
        return self.results / "gate"

    @property
    def bisect(self) -> Path:
        return self.results / "bisect"

    @property
    def sweep(self) -> Path:
        return self.results / "sweep"

    @property
    def reports(self) -> Path:
        """The bug reports (analysis.bugreport)."""
        return self.root / "reports"

    @property
    def compile_cache(self) -> Path:
        """JAX's persistent compilation cache, shared by every cell (running.compile_cache)."""
        return self.root / ".jax-cache"

    @property
    def bytecode(self) -> Path:
        """What the cells' interpreters compile (running.cells.keep_bytecode): with the environments it is for."""
        return self.envs / "bytecode"

    def shown(self, path: Path) -> str:
        """A path as a message shows it: relative to the work directory when it is inside it."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)
