"""Command-line parsing shared by every command: argparse, with a usage error in one line and exit status 2.

A usage error must be one line and exit status 2, as every other bad input here; argparse's own error prints a
usage block first. ``Parser`` keeps argparse and changes only that.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from flax_regressions.core.status import USAGE_ERROR

TOOL = "flax-regressions"  # pyproject's [project.scripts] name


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``<prog>: error: ... (usage: ...)``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split()).removeprefix("usage: ")
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (usage: {usage})\n")

    def add_versions(self, flax: str, jax: str, to: str, jax_to: str) -> None:
        """The versions audit and scan ask about (scan names the first side ``--from``): a lock's, the installed ones,
        or a release; and the release moved to."""
        source = self.add_mutually_exclusive_group()
        source.add_argument("--lock", type=Path, metavar="FILE", help="the Flax and JAX this lock pins")
        source.add_argument("--here", action="store_true", help="the Flax and JAX installed in this interpreter")
        source.add_argument(flax, dest="flax", metavar="V", help="this Flax release (current: matrix.yaml's; latest)")
        self.add_argument(jax, dest="jax", metavar="J", help="with it, this JAX (default: the one measured with it)")
        self.add_argument(to, dest="to", metavar="V", help="the release you would move to (latest: the newest)")
        self.add_argument(jax_to, dest="jax_to", metavar="J", help="and this JAX with it")
        self.add_argument("--backend", default="cpu", help="the JAX backend (default: cpu)")

    def add_cases(self) -> None:
        """``--cases DIR`` (repeatable): your own cases instead of the built-in matrix (catalogue.case_dirs)."""
        self.add_argument(
            "--cases",
            action="append",
            default=[],
            type=Path,
            metavar="DIR",
            help="a directory with its own matrix.yaml and repro/ (repeatable); its matrix can say "
            "`include: builtin` to add the built-in cases (default: the built-in matrix alone)",
        )
