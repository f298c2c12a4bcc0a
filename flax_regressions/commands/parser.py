"""Command-line parsing shared by the commands that take arguments (every subcommand of ``flax-regressions``).

A usage error must be one line and exit status 2, as for every other bad input here; argparse's own
error prints a usage block first. ``Parser`` keeps argparse and changes only that, and names the command as
it was typed: ``flax-regressions gate`` from the installed tool, ``nox -s gate --`` from a nox session.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flax_regressions.core.status import USAGE_ERROR

TOOL = "flax-regressions"  # pyproject's [project.scripts] name


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``<name>: error: ... (usage: ...)``) and exit status 2."""

    def __init__(self, name: str, **kwargs):
        tool = Path(sys.argv[0]).name == TOOL
        kwargs.setdefault("prog", f"{TOOL} {name}" if tool else f"nox -s {name} --")
        super().__init__(**kwargs)
        self.name = name

    def error(self, message):
        usage = " ".join(self.format_usage().split()).removeprefix("usage: ")
        self.exit(USAGE_ERROR, f"{self.name}: error: {message} (usage: {usage})\n")

    def add_cases(self) -> None:
        """``--cases DIR`` (repeatable): your own cases instead of the built-in matrix (spec.cases)."""
        self.add_argument("--cases", action="append", default=[], type=Path, metavar="DIR",
                          help="a directory with its own matrix.yaml and repro/ (repeatable); its matrix can say "
                               "`include: builtin` to add the built-in cases (default: the built-in matrix alone)")
