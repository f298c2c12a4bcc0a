"""Command-line parsing shared by the sessions that take arguments (gate, bugreport, bisect, sweep).

A usage error must be one line and exit status 2, as for every other bad input here; argparse's own
error prints a usage block first. ``Parser`` keeps argparse and changes only that.
"""

from __future__ import annotations

import argparse

from flax_regressions.core.status import USAGE_ERROR


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``<name>: error: ... (usage: ...)``) and exit status 2."""

    def __init__(self, name: str, **kwargs):
        super().__init__(prog=f"nox -s {name} --", **kwargs)
        self.name = name

    def error(self, message):
        usage = " ".join(self.format_usage().split()).removeprefix("usage: ")
        self.exit(USAGE_ERROR, f"{self.name}: error: {message} (usage: {usage})\n")
