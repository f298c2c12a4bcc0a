"""Variants that hang or kill the interpreter: stop them, say what happened, and let the cell go on.

A cell's pytest runs its variants in one pytest-xdist worker (``-n 1``, see running.cells.pytest_command), so a
variant that kills the worker costs only itself: xdist starts a fresh worker for the variants left. The
worker sends faulthandler's output to a file of its own. On a fatal signal (SIGSEGV, SIGABRT inside XLA,
SIGBUS, SIGILL, SIGFPE) faulthandler names the signal there; a watchdog armed around every variant
(faulthandler's ``dump_traceback_later``, a C thread that needs no GIL, so it also stops a hang inside
compiled code) writes "Timeout" there and ends the worker once the variant runs past its timeout. The
controller, which writes the results file, reads that file when a worker dies and records the variant as an
error: ``timeout after N s`` or ``crashed (signal SIGSEGV)``, with the dumped traceback in the test report.

Without xdist the watchdog still stops a hang (its traceback goes to stderr), but the whole run ends there.
"""

from __future__ import annotations

import faulthandler
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Collection
from pathlib import Path
from typing import Any

TIMEOUT_ENV = "FLAX_REGRESSIONS_VARIANT_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
DUMP_LINES = 40  # of faulthandler's dump, kept in the test report
WORKER_KEY = "flax_regressions_fault_file"  # the worker's fault file, passed in xdist's workerinput

# faulthandler's names for the fatal signals it handles (Python/faulthandler.c)
_FATAL = {
    "Segmentation fault": "SIGSEGV",
    "Aborted": "SIGABRT",
    "Bus error": "SIGBUS",
    "Illegal instruction": "SIGILL",
    "Floating-point exception": "SIGFPE",
}


def default_timeout() -> float:
    """The per-variant timeout when --variant-timeout is not given: $FLAX_REGRESSIONS_VARIANT_TIMEOUT or 600 s."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None


class Watchdog:
    """In the process that runs the variants: faulthandler's output to ``path`` and a timer around each variant.

    Without ``path`` (no xdist) the output goes to a copy of stderr taken now, before pytest captures it.
    """

    def __init__(self, timeout: float, path: str | None):
        self.timeout, self.fault_file = timeout, bool(path)
        # kept open until close(): faulthandler writes to it from C, at a crash or a timeout
        self.file = open(path, "w") if path else os.fdopen(os.dup(2), "w")  # noqa: SIM115
        if path:
            faulthandler.enable(file=self.file, all_threads=True)

    def arm(self, nodeid: str, kinds: list[str]) -> None:
        """Start the timer for one test; in a worker, first note which test runs (and its kind) for the controller."""
        if self.fault_file:
            self.file.seek(0)
            self.file.truncate()
            self.file.write(json.dumps({"nodeid": nodeid, "kinds": kinds}) + "\n")
            self.file.flush()  # faulthandler writes to the descriptor, after this line
        if self.timeout > 0:
            faulthandler.dump_traceback_later(self.timeout, exit=True, file=self.file)

    def disarm(self) -> None:
        faulthandler.cancel_dump_traceback_later()

    def close(self) -> None:
        self.disarm()
        self.file.close()


def sigterm_as_interrupt(workers: Collection[Any] = ()) -> Any:
    """Take SIGTERM (a cancelled CI job, ``kill``) as Ctrl-C; return the handler it replaces (None off the main thread).

    pytest then stops as it does on Ctrl-C: the results file is written once more, saying complete: false, and
    xdist stops its worker, which SIGTERM's default would leave running on its own. A second SIGTERM kills at once.
    ``workers`` (the live xdist workers' nodes, read when the signal comes) get the SIGINT that Ctrl-C gives the
    whole process group: xdist alone asks a worker to stop, and execnet waits 5 s for the variant it runs before
    interrupting it (measured: a cancelled cell took 5 s longer to stop than one given Ctrl-C).
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for node in workers:
            popen = worker_process(node)
            if popen is not None:
                popen.send_signal(signal.SIGINT)  # nothing once the worker is gone (Popen checks)
        raise KeyboardInterrupt("SIGTERM")

    return signal.signal(signal.SIGTERM, interrupt)


def what_killed(dump: str, exit_status: int | None, timeout: float) -> str:
    """One line for a worker that died running a variant, from its fault file and (when known) its exit status."""
    if dump.startswith("Timeout ("):
        return f"timeout after {timeout:g} s"
    fatal = re.search(r"Fatal Python error: ([A-Za-z -]+)", dump)
    if fatal and fatal.group(1).strip() in _FATAL:
        return f"crashed (signal {_FATAL[fatal.group(1).strip()]})"
    if exit_status is not None and exit_status < 0:
        try:
            return f"crashed (signal {signal.Signals(-exit_status).name})"
        except ValueError:
            return f"crashed (signal {-exit_status})"
    if exit_status:
        return f"crashed (exit status {exit_status})"
    return "crashed (the worker died without a signal or exit status on record)"


def worker_process(node: Any) -> subprocess.Popen[bytes] | None:
    """An xdist worker's process, if execnet exposes it (best effort: a private attribute)."""
    return getattr(getattr(getattr(node, "gateway", None), "_io", None), "popen", None)


def exit_status(node: Any) -> int | None:
    """The dead xdist worker's exit status, if execnet exposes its process."""
    popen = worker_process(node)
    if popen is None:
        return None
    try:
        return popen.wait(timeout=5)
    except (subprocess.TimeoutExpired, OSError):
        return None


def post_mortem(node: Any, timeout: float) -> tuple[str, str, list[str]]:
    """For a worker that died: the one-line reason, faulthandler's dump, and the kinds (markers) of the test it ran.

    The worker's fault file is removed: a fresh worker gets a file of its own.
    """
    path = Path((getattr(node, "workerinput", None) or {}).get(WORKER_KEY, "/nonexistent"))
    try:
        text = path.read_text(errors="replace")
        path.unlink()
    except OSError:
        text = ""
    head, _, dump = text.partition("\n") if text.startswith("{") else ("{}", "", text)
    try:
        kinds = json.loads(head).get("kinds", [])
    except ValueError:
        kinds = []
    lines = dump.strip().splitlines()
    if len(lines) > DUMP_LINES:  # the innermost frames come first; the rest is pytest and execnet
        lines = lines[:DUMP_LINES] + [f"... ({len(lines) - DUMP_LINES} more lines)"]
    return what_killed(dump.strip(), exit_status(node), timeout), "\n".join(lines), kinds
