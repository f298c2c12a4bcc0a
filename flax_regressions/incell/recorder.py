"""A cell's records: built once per test, carried to the process that writes the results file, written there.

A conformance test builds its variant's record where the variant ran (``ran``), or the xdist controller builds
it for a test that took its worker down (``crashed``); either way the record travels as the test report's
``user_properties``, which cross pytest-xdist and land in the JUnit XML, and the ``Recorder`` reads it back.
"""

from __future__ import annotations

import fcntl
import os
import platform
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import distributions
from pathlib import Path

import pytest

from flax_regressions.catalogue.rules import Rule
from flax_regressions.core.failure import Failure
from flax_regressions.core.records import NOT_MEASURED, Outcome, PropertyRecord, VariantRecord
from flax_regressions.core.results import CellOutcome, CellResult, CompileCache, ResultsError
from flax_regressions.incell.context import cell_context


def case_variant(nodeid: str) -> tuple[str, str]:
    """(case, variant) from a test id ending in ``[<case>-<variant>]``."""
    case, _, variant = nodeid.rpartition("[")[2].rstrip("]").partition("-")
    return case, variant


def held_to(
    case: str,
    variant: str,
    rule: Rule | None,
    outcome: Outcome,
    failure: Failure,
    as_expected: bool,
    duration: float,
    measured: bool = True,
) -> VariantRecord:
    """The record of a variant held to its rule (None: matrix.yaml has none here, an unknown; none anywhere, when
    not ``measured``: the variant is new and waits for bisect --write)."""
    return VariantRecord(
        case,
        variant,
        outcome,
        failure.exception,
        failure.message,
        expected="unknown" if rule is None else rule.expect,
        expected_detail=rule.describe() if rule is not None else None if measured else NOT_MEASURED,
        as_expected=as_expected,
        duration_s=round(duration, 3),
    )


def ran(
    case: str, variant: str, rule: Rule | None, exc: BaseException | None, duration: float, measured: bool = True
) -> VariantRecord:
    """A variant that ran to its end or raised: as expected when it did what its rule says."""
    as_expected = rule is not None and (
        (rule.expect == "pass" and exc is None) or (rule.fails and exc is not None and rule.matches(exc))
    )
    if exc is None:
        return held_to(case, variant, rule, Outcome.PASSED, Failure(None, None), as_expected, duration, measured)
    return held_to(case, variant, rule, Outcome.FAILED, Failure.of(exc), as_expected, duration, measured)


def crashed(case: str, variant: str, rule: Rule | None, message: str, duration: float) -> VariantRecord:
    """A variant that hung or killed its worker: an error, whatever its rule says."""
    return held_to(case, variant, rule, Outcome.ERROR, Failure(None, message), False, duration)


def as_user_properties(record: VariantRecord) -> list[tuple[str, object]]:
    return list(record.to_json().items())


def variant_record(report: pytest.TestReport) -> VariantRecord:
    """A conformance test's record: the one it carries, else a skip or an error of the test itself."""
    props = dict(report.user_properties)
    if "outcome" in props:
        return VariantRecord.from_json(props)
    case, variant = case_variant(report.nodeid)
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return VariantRecord(case, variant, Outcome.SKIPPED, message=reason, as_expected=True, duration_s=0.0)
    text = str(report.longrepr).strip().splitlines()
    return VariantRecord(
        case,
        variant,
        Outcome.ERROR,
        message=f"{report.when}: {text[-1] if text else 'unknown error'}",
        as_expected=False,
        duration_s=round(report.duration, 3),
    )


def property_record(report: pytest.TestReport) -> PropertyRecord:
    """passed, failed (with the shrunk example's error and the command that reruns it), skipped or error."""
    case, variant = case_variant(report.nodeid)
    crash = getattr(report.longrepr, "reprcrash", None)
    if report.skipped:
        lines = [report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)]
    else:
        lines = (crash.message if crash else str(report.longrepr or "")).strip().splitlines()
    reproduce = next((line.partition("reproduce: ")[2] for line in lines if line.startswith("reproduce: ")), None)
    outcome = report.outcome if report.when == "call" or report.skipped else "error"
    return PropertyRecord(
        case, variant, Outcome(outcome), lines[0] if lines else None, reproduce, round(report.duration, 3)
    )


class Recorder:
    """Collects one record per test and rewrites the cell's results file after each of them.

    Only the cell's own tests are recorded: the conformance tests (marker ``conformance``) under
    ``results``, one per variant, which the report reads; the property tests (marker ``property``) apart,
    under ``properties``, so they never stand in for a variant's record. Any other test is ignored.

    A run never loses what the file holds for the same environment (the same installed packages): a run narrowed
    with ``-k`` or ``-m`` replaces only the records of what it ran, and a run that records nothing (``-k
    nosuchthing``, Ctrl-C during collection) leaves the file as it was. Each write reads the file again and merges
    under a lock beside it, so two narrowed runs of one cell at once each keep the other's records. The file is
    complete only when this run reached its end and the file it started from was complete. It names the run that
    wrote it last (``run_id``), so the command that started the run can tell a file it wrote from an older one.
    """

    def __init__(self, config: pytest.Config, path: Path, run_id: str | None):
        self.config, self.path, self.run_id = config, path, run_id
        self.packages = {d.metadata["Name"]: d.version for d in distributions()}
        self.started = _now()
        self.earlier_complete = True  # whether the file this run started from was complete (or there was none)
        self.earlier_read = False  # read at the first record: the cell context may import JAX
        self.records: dict[tuple[str, str], VariantRecord] = {}  # this run's own
        self.properties: dict[tuple[str, str], PropertyRecord] = {}
        self.seen: set[tuple[str, str, str]] = set()  # (kind, case, variant) recorded by this run
        self.cache_counts: Counter = Counter()
        self.written: tuple[tuple[int, int, int], CellResult] | None = None  # the file as this run last wrote it

    def _same_environment(self) -> CellResult | None:
        """The results file as it is now, when it holds results of this cell's environment (None: no file, or one
        this run replaces)."""
        try:
            current = CellResult.load(self.path)
        except ResultsError:
            return None
        context = cell_context(self.config)
        if (
            current.outcome is CellOutcome.RAN
            and current.cell == context.cell
            and current.versions == context.versions
            and current.packages == self.packages
        ):
            return current
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        counts = dict(report.user_properties).get("compile_cache")
        self.cache_counts.update(counts if isinstance(counts, dict) else {})
        record: Callable[[pytest.TestReport], VariantRecord | PropertyRecord]
        if "conformance" in report.keywords:
            kind, record = "records", variant_record
        elif "property" in report.keywords:
            kind, record = "properties", property_record
        else:
            return
        if not self.earlier_read:
            self.earlier_read = True
            earlier = self._same_environment()
            self.earlier_complete = earlier is None or earlier.complete
        key = case_variant(report.nodeid)
        first_failure = report.failed and (kind, *key) not in self.seen
        if report.when == "call" or (report.when == "setup" and not report.passed) or first_failure:
            getattr(self, kind)[key] = record(report)
            self.seen.add((kind, *key))
            self.write(complete=False)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.seen:
            self.write(complete=exitstatus in (0, 1) and self.earlier_complete)

    def write(self, complete: bool) -> None:
        context = cell_context(self.config)
        with locked(self.path):
            current = self._as_written() or self._same_environment()
            records = {_key(r): r for r in current.records} if current else {}
            properties = {_key(p): p for p in current.properties} if current else {}
            cell = CellResult(
                context.cell,
                versions=context.versions,
                python=platform.python_version(),
                platform=platform.platform(),
                packages=self.packages,
                started=current.started if current else self.started,
                compile_cache=self.compile_cache(),
                run_id=self.run_id,
            )
            result = cell.with_records(
                (records | self.records).values(), (properties | self.properties).values(), complete, _now()
            )
            result.write(self.path)
            signature = _signature(self.path)
            self.written = (signature, result) if signature else None

    def _as_written(self) -> CellResult | None:
        """What this run wrote last, while the file is still that one (a file another run replaced since is read
        again): reading back a file of hundreds of records after every test cost a cell seconds of CPU."""
        if self.written and _signature(self.path) == self.written[0]:
            return self.written[1]
        return None

    def compile_cache(self) -> CompileCache:
        """The cache as this run had it; off means no counts (JAX 0.5 counts requests even with no directory)."""
        directory = os.environ.get("JAX_COMPILATION_CACHE_DIR")
        if not directory:
            return CompileCache()
        return CompileCache(directory, self.cache_counts["requests"], self.cache_counts["served"])


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock beside a results file (``.<name>.lock``): one writer at a time reads, merges and replaces it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What tells one written file from another: every write replaces the file (core.files.write_json)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _key(record: VariantRecord | PropertyRecord) -> tuple[str, str]:
    return record.case, record.variant


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
