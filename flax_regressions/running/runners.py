"""How a cell's pytest command is run: on this terminal, or into a log file of its own (several cells at once)."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

Runner = Callable[[list[str], dict[str, str], Path], int]  # (pytest command, its environment, where) -> exit status


def subprocess_runner(command: list[str], env: dict[str, str], cwd: Path) -> int:
    """Run a cell's pytest with its output on this terminal."""
    return subprocess.run(command, env=os.environ | env, cwd=cwd).returncode


class LoggedRunner:
    """A ``Runner`` whose pytest output goes to a log file, not to the terminal: for the commands that run several
    cells at once (the gate, sweep, run) or keep each probe's log (bisect). A log another run of the same cell is
    writing now is left to it: this run writes ``<cell>-run2.log`` (and so on) instead, and ``path`` says which."""

    def __init__(self, logfile: Path):
        self.path = logfile

    def __call__(self, command: list[str], env: dict[str, str], cwd: Path) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stem, n = self.path.stem.rsplit("-run", 1)[0], 1
        while True:
            with open(self.path, "a") as out:
                try:
                    fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    n += 1
                    self.path = self.path.with_name(f"{stem}-run{n}.log")
                    continue
                out.truncate(0)
                return subprocess.run(
                    command, env=os.environ | env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
                ).returncode
