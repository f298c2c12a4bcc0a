"""The pytest plugin behind tests/test_cases.py: expectations at collection, outcomes recorded per test.

Collection reads the installed Flax/JAX/jaxlib versions (package metadata only, no import) and the backend,
and gives every (case, variant) the matrix.yaml rule that holds for them. An expected failure becomes a
strict xfail bound to ``ExpectedFailure``: the test raises it only when the variant failed the way
matrix.yaml says, so a different exception fails the test with its own traceback, and a variant that
passes is a strict XPASS whose reason names the case and says to update matrix.yaml.

Every test stores what the variant did in its ``user_properties`` (they travel through pytest-xdist and land
in the JUnit XML), and the recorder rewrites the cell's results file after each test.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

import pytest

from flax_regressions import matrix, results


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


def backend_of(config) -> str:
    chosen = config.getoption("--backend") or os.environ.get("JAX_PLATFORMS", "").split(",")[0]
    if chosen:
        return chosen
    import jax

    return {"gpu": "cuda"}.get(jax.default_backend(), jax.default_backend())


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance: a case/variant run against the installed Flax")
    try:
        the_matrix = matrix.load(config.getoption("--matrix"))
    except matrix.MatrixError as exc:
        pytest.exit(f"error: {exc}", returncode=2)
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


def pytest_generate_tests(metafunc):
    if not {"case", "variant"} <= set(metafunc.fixturenames):
        return
    state = cell_context(metafunc.config)
    the_matrix = state["matrix"]
    versions, backend = state["versions"], state["backend"]
    params = []
    for case, variant in the_matrix.variants():
        rule = the_matrix.expectation(case, variant, versions["flax"], versions["jax"], backend)
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


class Recorder:
    """Collects one record per test and rewrites the cell's results file after each of them."""

    def __init__(self, config, path: Path):
        self.config, self.path = config, path
        self.records: dict[str, dict] = {}
        self.packages = {d.metadata["Name"]: d.version for d in distributions()}
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def pytest_runtest_logreport(self, report):
        first_failure = report.failed and report.nodeid not in self.records
        if report.when == "call" or (report.when == "setup" and not report.passed) or first_failure:
            self.records[report.nodeid] = self.record(report, dict(report.user_properties))
            self.write(complete=False)

    def record(self, report, props: dict) -> dict:
        param = report.nodeid.rpartition("[")[2].rstrip("]")
        case, _, variant = param.partition("-")
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
            },
        )
