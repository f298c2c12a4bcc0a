"""The pytest plugin behind tests/test_cases.py: expectations at collection, outcomes recorded per test.

Collection reads the installed Flax/JAX/jaxlib versions (package metadata only, no import) and the backend,
and gives every (case, variant) the matrix.yaml rule that holds for them. An expected failure becomes a
strict xfail bound to ``ExpectedFailure``: the test raises it only when the variant failed the way
matrix.yaml says, so a different exception fails the test with its own traceback, and a variant that
passes is a strict XPASS whose reason names the case and says to update matrix.yaml.

Every test stores what the variant did in its ``user_properties`` (they travel through pytest-xdist and land
in the JUnit XML), and the recorder rewrites the cell's results file after each test. A variant that hangs
or kills the interpreter is recorded as an error naming the timeout or the signal (flax_regressions.faults).

The property tests (tests/test_properties.py, marker ``property``) use the same rules with generated sizes;
they parametrize themselves (flax_regressions.properties), and this plugin registers their hypothesis
profiles and records them apart from the conformance records.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

import pytest

from flax_regressions import faults, matrix, results


class ExpectedFailure(Exception):
    """The variant failed exactly as matrix.yaml expects (the bug reproduces)."""


def installed_versions() -> dict[str, str]:
    out = {}
    for name in ("flax", "jax", "jaxlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def load_repro(repro_dir: Path, case: str):
    """Import repro/<case>.py by path: repro modules are standalone scripts, not a package."""
    name = f"repro_{case}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, repro_dir / f"{case}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def run_variant(repro_dir: Path, case: str, variant: str, kwargs: dict | None = None):
    """Call one variant; return the exception it raised (None if it ran to the end) and its duration."""
    function = getattr(load_repro(repro_dir, case), variant)
    start = time.perf_counter()
    try:
        function(**(kwargs or {}))
    except Exception as exc:  # a variant's failure is data here, not an error of the harness
        return exc, time.perf_counter() - start
    return None, time.perf_counter() - start


def pytest_addoption(parser):
    group = parser.getgroup("flax-regressions")
    group.addoption("--backend", default=None, help="the JAX backend this run is for (default: jax's own, gpu read as cuda)")
    group.addoption("--matrix", default=str(matrix.MATRIX_FILE), help="the matrix file (its cases are in repro/ beside it)")
    group.addoption("--results-file", default=None, help="write this cell's results JSON here, atomically, after every test")
    group.addoption("--variant-timeout", type=float, default=None, metavar="SECONDS",
                    help=f"record a variant still running after this long as an error and stop it (default: "
                         f"${faults.TIMEOUT_ENV} or {faults.DEFAULT_TIMEOUT:g}; 0: never; see flax_regressions.faults)")


def backend_of(config) -> str:
    chosen = config.getoption("--backend") or os.environ.get("JAX_PLATFORMS", "").split(",")[0]
    if chosen:
        return chosen
    import jax

    return {"gpu": "cuda"}.get(jax.default_backend(), jax.default_backend())


@pytest.hookimpl(tryfirst=True)  # before hypothesis' own pytest_configure loads --hypothesis-profile
def pytest_configure(config):
    from flax_regressions import properties  # imports this module: not at the top

    properties.register_profiles()
    config.addinivalue_line("markers", "conformance: a case/variant run against the installed Flax")
    config.addinivalue_line("markers", "property: a case/variant held to its rule over generated sizes (hypothesis)")
    try:
        the_matrix = matrix.load(config.getoption("--matrix"))
    except matrix.MatrixError as exc:
        pytest.exit(f"error: {exc}", returncode=2)
    backend = config.getoption("--backend")
    if backend and backend not in the_matrix.backends:
        pytest.exit(f"error: --backend {backend}: unknown backend (matrix.yaml has {', '.join(the_matrix.backends)})", returncode=2)
    _configure_faults(config, the_matrix)
    config.stash[_state] = {"versions": installed_versions(), "backend": None, "matrix": the_matrix}
    path = config.getoption("--results-file")
    if path and not hasattr(config, "workerinput"):  # only the controller writes under pytest-xdist
        config.pluginmanager.register(Recorder(config, Path(path)), "flax-regressions-recorder")


_state = pytest.StashKey[dict]()


def cell_context(config) -> dict:
    state = config.stash[_state]
    if state["backend"] is None:
        state["backend"] = backend_of(config)
    return state


def expectations(config) -> list[tuple[str, str, object]]:
    """Every (case, variant) of the matrix with the rule that holds for this cell (None: an unknown)."""
    state = cell_context(config)
    versions, backend = state["versions"], state["backend"]
    return [(case, variant, state["matrix"].expectation(case, variant, versions["flax"], versions["jax"], backend))
            for case, variant in state["matrix"].variants()]


def pytest_generate_tests(metafunc):
    if not {"case", "variant"} <= set(metafunc.fixturenames) or metafunc.definition.get_closest_marker("property"):
        return  # property tests parametrize themselves (flax_regressions.properties.parametrize)
    state = cell_context(metafunc.config)
    versions, backend = state["versions"], state["backend"]
    params = []
    for case, variant, rule in expectations(metafunc.config):
        marks = [pytest.mark.conformance]
        if rule is not None and rule.expect == "fail":
            marks.append(
                pytest.mark.xfail(
                    strict=True,
                    raises=ExpectedFailure,
                    reason=(
                        f"{case}-{variant}: expected to {rule.describe()} on flax {versions['flax']}, "
                        f"jax {versions['jax']} ({backend}); if this XPASSes, "
                        + ("the bug no longer reproduces" if variant.startswith("bug") else "the workaround works again")
                        + " on this Flax/JAX: update matrix.yaml"
                    ),
                )
            )
        params.append(pytest.param(case, variant, rule, id=f"{case}-{variant}", marks=marks))
    metafunc.parametrize(("case", "variant", "rule"), params)


def check_variant(case: str, variant: str, rule, node) -> None:
    """Run the variant, record what it did, and hold it to its rule (see the module docstring)."""
    state = cell_context(node.config)
    exc, duration = run_variant(state["matrix"].repro_dir, case, variant)
    outcome = "passed" if exc is None else "failed"
    expected = "unknown" if rule is None else rule.expect
    as_expected = rule is not None and (
        (rule.expect == "pass" and exc is None) or (rule.expect == "fail" and exc is not None and rule.matches(exc))
    )
    node.user_properties.extend(
        [
            ("case", case),
            ("variant", variant),
            ("outcome", outcome),
            ("exception", None if exc is None else type(exc).__name__),
            ("message", None if exc is None else first_line(exc)),
            ("expected", expected),
            ("expected_detail", None if rule is None else rule.describe()),
            ("as_expected", as_expected),
            ("duration_s", round(duration, 3)),
        ]
    )
    if rule is None:
        pytest.fail(
            f"unknown: matrix.yaml has no expectation for {case}-{variant} on flax {state['versions']['flax']}, "
            f"jax {state['versions']['jax']} ({state['backend']}); the variant {outcome}"
            + ("" if exc is None else f" with {type(exc).__name__}: {first_line(exc)}"),
            pytrace=False,
        )
    if exc is None:
        return  # a pass; for an expected failure this is the strict XPASS
    if rule.expect == "fail" and as_expected:
        raise ExpectedFailure(f"{type(exc).__name__}: {first_line(exc)}") from exc
    raise exc


def _case_variant(nodeid: str) -> tuple[str, str]:
    case, _, variant = nodeid.rpartition("[")[2].rstrip("]").partition("-")
    return case, variant


class Recorder:
    """Collects one record per test and rewrites the cell's results file after each of them.

    Only the cell's own tests are recorded: the conformance tests (marker ``conformance``) under
    ``results``, one per variant, which the report reads; the property tests (marker ``property``) apart,
    under ``properties``, so they never stand in for a variant's record. Any other test is ignored.
    """

    def __init__(self, config, path: Path):
        self.config, self.path = config, path
        self.records: dict[str, dict] = {}
        self.properties: dict[str, dict] = {}
        self.packages = {d.metadata["Name"]: d.version for d in distributions()}
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def pytest_runtest_logreport(self, report):
        if "conformance" in report.keywords:
            records, record = self.records, self.record
        elif "property" in report.keywords:
            records, record = self.properties, self.property_record
        else:
            return
        first_failure = report.failed and report.nodeid not in records
        if report.when == "call" or (report.when == "setup" and not report.passed) or first_failure:
            records[report.nodeid] = record(report, dict(report.user_properties))
            self.write(complete=False)

    @staticmethod
    def property_record(report, props: dict) -> dict:
        """passed, failed (with the shrunk example's error and the command that reruns it), skipped or error."""
        case, variant = _case_variant(report.nodeid)
        crash = getattr(report.longrepr, "reprcrash", None)
        if report.skipped:
            lines = [report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)]
        else:
            lines = (crash.message if crash else str(report.longrepr or "")).strip().splitlines()
        reproduce = next((line.partition("reproduce: ")[2] for line in lines if line.startswith("reproduce: ")), None)
        outcome = report.outcome if report.when == "call" or report.skipped else "error"
        return {"case": case, "variant": variant, "outcome": outcome, "message": lines[0] if lines else None,
                "reproduce": reproduce, "duration_s": round(report.duration, 3)}

    def record(self, report, props: dict) -> dict:
        case, variant = _case_variant(report.nodeid)
        if "outcome" in props:
            return {k: props.get(k) for k in (
                "case", "variant", "outcome", "exception", "message", "expected", "expected_detail", "as_expected", "duration_s"
            )}
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            return {"case": case, "variant": variant, "outcome": "skipped", "exception": None, "message": reason,
                    "expected": None, "expected_detail": None, "as_expected": True, "duration_s": 0.0}
        text = str(report.longrepr).strip().splitlines()
        return {"case": case, "variant": variant, "outcome": "error", "exception": None,
                "message": f"{report.when}: {text[-1] if text else 'unknown error'}", "expected": None,
                "expected_detail": None, "as_expected": False, "duration_s": round(report.duration, 3)}

    def pytest_sessionfinish(self, session, exitstatus):
        self.write(complete=exitstatus in (0, 1))

    def write(self, complete: bool) -> None:
        state = cell_context(self.config)
        results.write_json(
            self.path,
            {
                "cell": self.path.stem,
                "backend": state["backend"],
                "versions": state["versions"],
                "python": platform.python_version(),
                "platform": platform.platform(),
                "packages": self.packages,
                "started": self.started,
                "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "complete": complete,
                "cell_outcome": "ran",
                "results": sorted(self.records.values(), key=lambda r: (r["case"], r["variant"])),
                "properties": sorted(self.properties.values(), key=lambda r: (r["case"], r["variant"])),
            },
        )


# Hangs and crashes (see flax_regressions.faults): a watchdog where the variants run, a post-mortem in the
# xdist controller when one of them takes its worker down.

_timeout = pytest.StashKey[float]()
_watchdog = pytest.StashKey[faults.Watchdog]()
_sigterm = pytest.StashKey[object]()

WATCHED = ("conformance", "property")  # the markers of the tests that run variants


def _configure_faults(config, the_matrix) -> None:
    """The variant timeout; in the xdist controller, the crash reporter and enough worker restarts; and, where
    the results file is written, SIGTERM taken as Ctrl-C (see faults.sigterm_as_interrupt)."""
    try:
        timeout = config.getoption("--variant-timeout")
        config.stash[_timeout] = faults.default_timeout() if timeout is None else timeout
    except ValueError as exc:
        pytest.exit(f"error: {exc}", returncode=2)
    if hasattr(config, "workerinput"):
        return
    if getattr(config.option, "numprocesses", None):
        config.pluginmanager.register(CrashReporter(config), "flax-regressions-crashes")
        if config.option.maxworkerrestart is None:  # xdist's default (4 per worker) would end a cell after 4 crashes
            config.option.maxworkerrestart = 4 * len(the_matrix.variants())
    if config.getoption("--results-file"):
        config.stash[_sigterm] = faults.sigterm_as_interrupt()


def pytest_sessionstart(session):
    """Where the variants run (an xdist worker, or pytest without xdist): the watchdog, its output to the worker's file."""
    config = session.config
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # an xdist controller runs no variant
    path = getattr(config, "workerinput", {}).get(faults.WORKER_KEY)
    config.stash[_watchdog] = faults.Watchdog(config.stash[_timeout], path)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """The watchdog runs for the tests that run variants, from setup to teardown."""
    watchdog = item.config.stash.get(_watchdog, None)
    kinds = [name for name in WATCHED if item.get_closest_marker(name)]
    if watchdog is None or not kinds:
        return (yield)
    watchdog.arm(item.nodeid, kinds)
    try:
        return (yield)
    finally:
        watchdog.disarm()


def pytest_unconfigure(config):
    if _watchdog in config.stash:
        config.stash[_watchdog].close()
    if config.stash.get(_sigterm, None) is not None:
        signal.signal(signal.SIGTERM, config.stash[_sigterm])


class CrashReporter:
    """In the xdist controller: a fault file for each worker, and a post-mortem for a test that took one down."""

    def __init__(self, config):
        self.config, self.started = config, {}
        self.fault_dir = Path(tempfile.mkdtemp(prefix="flax-regressions-faults-"))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        node.workerinput[faults.WORKER_KEY] = str(self.fault_dir / f"{node.gateway.id}.txt")

    def pytest_runtest_logstart(self, nodeid, location):
        self.started[nodeid] = time.monotonic()

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem, report, sched):
        """Replace xdist's "worker crashed" with what happened, and give the test a variant's record."""
        timeout = self.config.stash[_timeout]
        message, dump, kinds = faults.post_mortem(report.node, timeout)
        report.longrepr = f"{message}\n{dump}" if dump else message
        report.keywords = dict.fromkeys(kinds, 1)
        report.duration = timeout if message.startswith("timeout") else time.monotonic() - self.started.get(
            crashitem, time.monotonic())
        case, variant = _case_variant(crashitem)
        rule = {(c, v): r for c, v, r in expectations(self.config)}.get((case, variant))
        report.user_properties = [
            ("case", case), ("variant", variant), ("outcome", "error"), ("exception", None), ("message", message),
            ("expected", "unknown" if rule is None else rule.expect),
            ("expected_detail", None if rule is None else rule.describe()), ("as_expected", False),
            ("duration_s", round(report.duration, 3)),
        ]

    def pytest_unconfigure(self, config):
        shutil.rmtree(self.fault_dir, ignore_errors=True)
