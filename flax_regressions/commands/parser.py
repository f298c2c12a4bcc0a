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
