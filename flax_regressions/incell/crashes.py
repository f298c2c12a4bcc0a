"""Hangs and crashes in a pytest run (the mechanism is incell.faults): a watchdog where the variants run, and a
post-mortem in the xdist controller when one of them takes its worker down.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from flax_regressions.catalogue.model import Matrix
from flax_regressions.incell import faults, leftovers, recorder
from flax_regressions.incell.context import cell_context

WATCHED = ("conformance", "property")  # the markers of the tests that run variants
TIMED_OUT = "timed-out.txt"  # beside the workers' fault files: the variants whose conformance test timed out


def configure(config: pytest.Config, the_matrix: Matrix) -> None:
    """The variant timeout and the watchdog; in the xdist controller, the crash reporter and enough worker
    restarts; and, where the results file is written, SIGTERM taken as Ctrl-C (see faults.sigterm_as_interrupt)."""
    try:
        timeout = config.getoption("--variant-timeout")
        timeout = faults.default_timeout() if timeout is None else timeout
    except ValueError as exc:
        pytest.exit(f"error: {exc}", returncode=2)
    in_a_cell = bool(config.getoption("--results-file"))  # a cell's own run: its processes are all the variants'
    watch = VariantWatch(timeout, in_a_cell)
    config.pluginmanager.register(watch, "flax-regressions-watchdog")
    if hasattr(config, "workerinput"):
        return
    reporter = None
    if getattr(config.option, "numprocesses", None):
        reporter = CrashReporter(config, timeout, in_a_cell)
        config.pluginmanager.register(reporter, "flax-regressions-crashes")
        if config.option.maxworkerrestart is None:  # xdist's default (4 per worker) would end a cell after 4 crashes
            config.option.maxworkerrestart = 4 * len(the_matrix.variants())
    if in_a_cell:
        watch.sigterm = faults.sigterm_as_interrupt(reporter.workers if reporter else ())


class VariantWatch:
    """Where the variants run (an xdist worker, or pytest without xdist): the watchdog around each of them."""

    def __init__(self, timeout: float, in_a_cell: bool):
        self.timeout, self.in_a_cell = timeout, in_a_cell
        self.watchdog: faults.Watchdog | None = None
        self.timed_out_file: Path | None = None
        self.sigterm = None  # the SIGTERM handler to put back, where SIGTERM was taken as Ctrl-C

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The watchdog, its output to the worker's fault file (to stderr without xdist); the processes a variant
        leaves behind made this process's own (incell.leftovers)."""
        config = session.config
        if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
            return  # an xdist controller runs no variant
        path = getattr(config, "workerinput", {}).get(faults.WORKER_KEY)
        self.watchdog = faults.Watchdog(self.timeout, path)
        self.timed_out_file = Path(path).with_name(TIMED_OUT) if path else None
        if self.in_a_cell:  # in a team's own pytest run, its own fixtures' processes are not ours to end
            leftovers.adopt_orphans()

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """A variant whose conformance test timed out in this cell is not run again by its property test: the timeout
        would be paid twice for one answer (the controller lists those variants, CrashReporter)."""
        if item.get_closest_marker("property") and self.timed_out_file and self.timed_out_file.exists():
            case, variant = recorder.case_variant(item.nodeid)
            if f"{case}-{variant}" in self.timed_out_file.read_text().splitlines():
                pytest.skip(f"not run: {case}-{variant} timed out in its conformance test in this cell")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        """The watchdog runs for the tests that run variants, from setup to teardown."""
        kinds = [name for name in WATCHED if item.get_closest_marker(name)]
        if self.watchdog is None or not kinds:
            return (yield)
        self.watchdog.arm(item.nodeid, kinds)
        try:
            return (yield)
        finally:
            self.watchdog.disarm()
            if self.in_a_cell:
                leftovers.end_leftovers()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.watchdog is not None:
            self.watchdog.close()
        if self.sigterm is not None:
            signal.signal(signal.SIGTERM, self.sigterm)


class CrashReporter:
    """In the xdist controller: a fault file for each worker, and a post-mortem for a test that took one down."""

    def __init__(self, config: pytest.Config, timeout: float, in_a_cell: bool):
        self.config, self.timeout, self.in_a_cell = config, timeout, in_a_cell
        self.started: dict[str, float] = {}
        self.fault_dir = Path(tempfile.mkdtemp(prefix="flax-regressions-faults-"))
        self.workers: set[Any] = set()  # the nodes of the live workers (xdist's)
        if in_a_cell:
            leftovers.adopt_orphans()  # a dead worker's leftover processes come to this process (incell.leftovers)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[faults.WORKER_KEY] = str(self.fault_dir / f"{node.gateway.id}.txt")
        self.workers.add(node)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        self.workers.discard(node)

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.started[nodeid] = time.monotonic()

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: object) -> None:
        """Replace xdist's "worker crashed" with what happened, and give the test a variant's record."""
        message, dump, kinds = faults.post_mortem(report.node, self.timeout)
        report.longrepr = f"{message}\n{dump}" if dump else message
        report.keywords = dict.fromkeys(kinds, 1)
        report.duration = (
            self.timeout
            if message.startswith("timeout")
            else time.monotonic() - self.started.get(crashitem, time.monotonic())
        )
        case, variant = recorder.case_variant(crashitem)
        if message.startswith("timeout") and "conformance" in kinds:
            with open(self.fault_dir / TIMED_OUT, "a") as listed:
                listed.write(f"{case}-{variant}\n")
        record = recorder.crashed(
            case, variant, cell_context(self.config).rule(case, variant), message, report.duration
        )
        report.user_properties = recorder.as_user_properties(record)
        if self.in_a_cell:
            dead = getattr(faults.worker_process(report.node), "pid", None)
            live = {pid for node in self.workers if (pid := getattr(faults.worker_process(node), "pid", None))} - {dead}
            leftovers.end_leftovers(keep=frozenset(live))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.in_a_cell:
            leftovers.end_leftovers()
        shutil.rmtree(self.fault_dir, ignore_errors=True)
