"""The pytest plugin behind incell/conformance_tests.py: expectations at collection, outcomes recorded per test.

Collection reads the installed Flax/JAX/jaxlib versions (package metadata only, no import) and the backend,
and gives every (case, variant) the matrix.yaml rule that holds for them (incell.context). An expected
failure becomes a strict xfail bound to ``ExpectedFailure``: the test raises it only when the variant failed
the way matrix.yaml says, so a different exception fails the test with its own traceback, and a variant that
passes is a strict XPASS whose reason names the case and says to update matrix.yaml.

Every test carries what the variant did in its ``user_properties`` and the recorder rewrites the cell's
results file after each test (incell.recorder). A variant that hangs or kills the interpreter is recorded
as an error naming the timeout or the signal (incell.crashes), one whose module fails at import as an error
naming that import (incell.repros).

Tests are parametrized by (case, variant) alone (each looks its rule up in the cell context), and their ids
are ``<case>-<variant>`` as matrix.yaml spells them, not ASCII-escaped as pytest would: what reads a case back
from a test id (the recorder, the crash reporter, ``-k``) then gets matrix.yaml's, a non-ASCII one included.

The property tests (incell/property_tests.py, marker ``property``) use the same rules with generated sizes;
they parametrize themselves (incell.properties), and this plugin registers their hypothesis profiles.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Generator
from pathlib import Path

import pytest

from flax_regressions.catalogue import repro_modules
from flax_regressions.catalogue.case_dirs import load as load_matrix
from flax_regressions.catalogue.model import MatrixError
from flax_regressions.core.failure import Failure, first_line
from flax_regressions.core.records import NOT_MEASURED, Outcome
from flax_regressions.core.results import CellId
from flax_regressions.core.variant import is_bug
from flax_regressions.core.workspace import Workspace
from flax_regressions.incell import cache_use, crashes, faults, properties, recorder
from flax_regressions.incell.context import cell_context, configure_cell
from flax_regressions.incell.pytest_entry import ENTRY_POINT, add_cases_option
from flax_regressions.incell.repros import ReproImportError, installed_versions
from flax_regressions.running import compile_cache

HOST_DEVICES = "--xla_force_host_platform_device_count=2"


class ExpectedFailure(Exception):
    """The variant failed exactly as matrix.yaml expects (the bug reproduces)."""


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("flax-regressions")
    if not pluginmanager.has_plugin(ENTRY_POINT):  # else the entry point added --flax-cases (incell.pytest_entry)
        add_cases_option(parser)
    group.addoption(
        "--backend", default=None, help="the JAX backend this run is for (default: jax's own, gpu read as cuda)"
    )
    group.addoption(
        "--cell",
        default=None,
        help="the cell this run is for, as its results name it (default: flax-<installed flax>-<backend>)",
    )
    group.addoption(
        "--matrix",
        default=None,
        help="the matrix file (its cases are in repro/ beside it; with "
        "--flax-cases, the built-in one they can include; default: the "
        "built-in catalogue's)",
    )
    group.addoption(
        "--results-file", default=None, help="write this cell's results JSON here, atomically, after every test"
    )
    group.addoption(
        "--run-id",
        default=None,
        help="name this run in the results file (the command that started it checks the file is its own)",
    )
    group.addoption(
        "--properties",
        choices=properties.SCOPES,
        default="all",
        help="which variants the property tests hold over generated sizes: all (default), or the workarounds that "
        "work here (what the main job runs; see flax_regressions.incell.properties)",
    )
    group.addoption(
        "--variant-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"record a variant still running after this long as an error and stop it (default: "
        f"${faults.TIMEOUT_ENV} or {faults.DEFAULT_TIMEOUT:g}; 0: never; see flax_regressions.incell.faults)",
    )


@pytest.hookimpl(tryfirst=True)  # before hypothesis' own pytest_configure loads --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    properties.register_profiles()
    config.addinivalue_line("markers", "conformance: a case/variant run against the installed Flax")
    config.addinivalue_line("markers", "property: a case/variant held to its rule over generated sizes (hypothesis)")
    try:
        the_matrix = load_matrix(config.getoption("--flax-cases"), config.getoption("--matrix"))
    except MatrixError as exc:
        pytest.exit(f"error: {exc}", returncode=2)
    backend = config.getoption("--backend")
    if backend and backend not in the_matrix.backends:
        pytest.exit(
            f"error: --backend {backend}: unknown backend (matrix.yaml has {', '.join(the_matrix.backends)})",
            returncode=2,
        )
    if not (backend or os.environ.get("JAX_PLATFORMS")) and not _importable("jax"):
        pytest.exit(
            "error: no --backend given, and JAX, which would name it, is not installed in this interpreter "
            f"({sys.executable})",
            returncode=2,
        )
    cell = _cell(config.getoption("--cell"), backend)
    _compile_cache(Workspace.at(config.rootpath).compile_cache)
    _host_devices()
    crashes.configure(config, the_matrix)
    configure_cell(config, the_matrix, cell)
    path = config.getoption("--results-file")
    if path and not hasattr(config, "workerinput"):  # only the controller writes under pytest-xdist
        config.pluginmanager.register(
            recorder.Recorder(config, Path(path), config.getoption("--run-id")), "flax-regressions-recorder"
        )


def _importable(name: str) -> bool:
    """Whether a top-level module can be found, without importing it (JAX takes a second to import)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def _compile_cache(directory: Path) -> None:
    """Turn JAX's persistent compilation cache on for this run (in ``directory``, unless the command that started it
    named one, running.harness.cell_environment), or off where the installed JAX cannot be trusted with it
    (running.compile_cache). Environment variables, set before JAX is imported: JAX reads them then, and
    pytest-xdist's workers inherit them."""
    if compile_cache.trusted(installed_versions().jax):
        for name, value in compile_cache.settings(directory).items():
            os.environ.setdefault(name, value)
    else:
        for name in compile_cache.VARIABLES:
            os.environ.pop(name, None)


def _host_devices() -> None:
    """Give JAX two CPU devices, so the cases about sharding and device placement (jit_static_shardings,
    jit_backend) have a device that is not the default one. XLA reads the flag when JAX starts, so it is set here,
    before any repro module imports JAX; a device count already in XLA_FLAGS is kept."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "--xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {HOST_DEVICES}".strip()


def _cell(text: str | None, backend: str | None) -> CellId | None:
    if text is None:
        return None
    try:
        cell = CellId.parse(text)
    except ValueError as exc:
        pytest.exit(f"error: --cell: {exc}", returncode=2)
    if backend and cell.backend != backend:
        pytest.exit(f"error: --cell {text}: its backend is not --backend {backend}", returncode=2)
    return cell


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """A case or variant id as it is (see the module docstring); None: pytest's own id for anything else."""
    return val if argname in ("case", "variant") and isinstance(val, str) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not {"case", "variant"} <= set(metafunc.fixturenames) or metafunc.definition.get_closest_marker("property"):
        return  # property tests parametrize themselves (incell.properties.parametrize)
    context = cell_context(metafunc.config)
    params = []
    for case, variant, rule in context.expectations:
        marks = [pytest.mark.conformance]
        if rule is not None and rule.fails:
            marks.append(
                pytest.mark.xfail(
                    strict=True,
                    raises=ExpectedFailure,
                    reason=(
                        f"{case}-{variant}: expected to {rule.describe()} on {context.where}; if this XPASSes, "
                        + ("the bug no longer reproduces" if is_bug(variant) else "the workaround works again")
                        + " on this Flax/JAX: update matrix.yaml"
                    ),
                )
            )
        params.append(pytest.param(case, variant, marks=marks))
    metafunc.parametrize(("case", "variant"), params)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Count the compilation cache's work (importing JAX) before the first variant's timeout starts, in a run whose
    variants import JAX anyway: a run of made-up cases (the harness's own tests) never pays for it."""
    variants = [item for item in session.items if isinstance(item, pytest.Function) and _runs_a_variant(item)]
    cases = {str(item.callspec.params["case"]) for item in variants}
    if cases and any(repro_modules.imports_jax(cell_context(session.config).matrix.repro_file(case)) for case in cases):
        cache_use.listen()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Count what the compilation cache served the cell's own tests (the recorder sums it into the results file)."""
    if not _runs_a_variant(item):
        yield
        return
    with cache_use.counted() as counts:
        yield
    item.user_properties.append(("compile_cache", counts))


def _runs_a_variant(item: pytest.Item) -> bool:
    """A conformance or property test: one of the cell's own, parametrized by its case and variant."""
    return bool({"conformance", "property"} & set(item.keywords)) and hasattr(item, "callspec")


def check_variant(case: str, variant: str, node: pytest.Item) -> None:
    """Run the variant, record what it did, and hold it to its rule (see the module docstring)."""
    context = cell_context(node.config)
    rule, measured = context.rule(case, variant), bool(context.matrix.cases[case][variant])
    try:
        exc, duration = context.run(case, variant)
    except ReproImportError as error:  # the variant never ran: an error, whatever its rule says
        record = recorder.held_to(case, variant, rule, Outcome.ERROR, Failure(None, str(error)), False, 0.0, measured)
        node.user_properties.extend(recorder.as_user_properties(record))
        raise pytest.fail.Exception(str(error), pytrace=False) from None  # one line, not the import's traceback
    record = recorder.ran(case, variant, rule, exc, duration, measured)
    node.user_properties.extend(recorder.as_user_properties(record))
    if rule is None:
        unknown = NOT_MEASURED if not measured else f"matrix.yaml has no expectation for it on {context.where}"
        pytest.fail(
            f"unknown: {case}-{variant}: {unknown}; the variant {record.outcome.value}"
            + ("" if exc is None else f" with {record.exception}: {record.message}"),
            pytrace=False,
        )
    if exc is None:
        return  # a pass; for an expected failure this is the strict XPASS
    if rule.fails and record.as_expected:
        # Not chained to the variant's exception: pytest would format its traceback, deep in JAX and Flax, parsing
        # their sources, for every expected failure, in a report that shows the reason alone. --runxfail shows it.
        raise ExpectedFailure(f"{type(exc).__name__}: {first_line(exc)}") from (
            exc if node.config.option.runxfail else None
        )
    raise exc
