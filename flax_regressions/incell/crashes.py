"""Hangs and crashes in a pytest run (the mechanism is incell.faults): a watchdog where the variants run, and a
post-mortem in the xdist controller when one of them takes its worker down.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from flax_regressions.incell import faults, recorder
from flax_regressions.incell.context import cell_context
from flax_regressions.spec.model import Matrix

WATCHED = ("conformance", "property")  # the markers of the tests that run variants


def configure(config, the_matrix: Matrix) -> None:
    """The variant timeout and the watchdog; in the xdist controller, the crash reporter and enough worker
    restarts; and, where the results file is written, SIGTERM taken as Ctrl-C (see faults.sigterm_as_interrupt)."""
    try:
        timeout = config.getoption("--variant-timeout")
        timeout = faults.default_timeout() if timeout is None else timeout
    except ValueError as exc:
        pytest.exit(f"error: {exc}", returncode=2)
    watch = VariantWatch(timeout)
    config.pluginmanager.register(watch, "flax-regressions-watchdog")
    if hasattr(config, "workerinput"):
        return
    reporter = None
    if getattr(config.option, "numprocesses", None):
        reporter = CrashReporter(config, timeout)
        config.pluginmanager.register(reporter, "flax-regressions-crashes")
        if config.option.maxworkerrestart is None:  # xdist's default (4 per worker) would end a cell after 4 crashes
            config.option.maxworkerrestart = 4 * len(the_matrix.variants())
    if config.getoption("--results-file"):
        watch.sigterm = faults.sigterm_as_interrupt(reporter.workers if reporter else ())


class VariantWatch:
    """Where the variants run (an xdist worker, or pytest without xdist): the watchdog around each of them."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.watchdog: faults.Watchdog | None = None
        self.sigterm = None  # the SIGTERM handler to put back, where SIGTERM was taken as Ctrl-C

    def pytest_sessionstart(self, session):
        """The watchdog, its output to the worker's fault file (to stderr without xdist)."""
        config = session.config
        if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
            return  # an xdist controller runs no variant
        path = getattr(config, "workerinput", {}).get(faults.WORKER_KEY)
        self.watchdog = faults.Watchdog(self.timeout, path)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        """The watchdog runs for the tests that run variants, from setup to teardown."""
        kinds = [name for name in WATCHED if item.get_closest_marker(name)]
        if self.watchdog is None or not kinds:
            return (yield)
        self.watchdog.arm(item.nodeid, kinds)
        try:
            return (yield)
        finally:
            self.watchdog.disarm()

    def pytest_unconfigure(self, config):
        if self.watchdog is not None:
            self.watchdog.close()
        if self.sigterm is not None:
            signal.signal(signal.SIGTERM, self.sigterm)


class CrashReporter:
    """In the xdist controller: a fault file for each worker, and a post-mortem for a test that took one down."""

    def __init__(self, config, timeout: float):
        self.config, self.timeout, self.started = config, timeout, {}
        self.fault_dir = Path(tempfile.mkdtemp(prefix="flax-regressions-faults-"))
        self.workers = set()  # the nodes of the live workers

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        node.workerinput[faults.WORKER_KEY] = str(self.fault_dir / f"{node.gateway.id}.txt")
        self.workers.add(node)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        self.workers.discard(node)

    def pytest_runtest_logstart(self, nodeid, location):
        self.started[nodeid] = time.monotonic()

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem, report, sched):
        """Replace xdist's "worker crashed" with what happened, and give the test a variant's record."""
        message, dump, kinds = faults.post_mortem(report.node, self.timeout)
        report.longrepr = f"{message}\n{dump}" if dump else message
        report.keywords = dict.fromkeys(kinds, 1)
        report.duration = self.timeout if message.startswith("timeout") else time.monotonic() - self.started.get(
            crashitem, time.monotonic())
        case, variant = recorder.case_variant(crashitem)
        record = recorder.crashed(case, variant, cell_context(self.config).rule(case, variant), message, report.duration)
        report.user_properties = recorder.as_user_properties(record)

    def pytest_unconfigure(self, config):
        shutil.rmtree(self.fault_dir, ignore_errors=True)
