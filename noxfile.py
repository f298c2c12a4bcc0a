"""nox sessions for flax-regressions, generated from matrix.yaml; each calls flax_regressions.commands.

    nox                                   every CPU cell of the default matrix, in parallel, then the report
    nox -l                                the sessions
    nox -s validate                       check matrix.yaml only (every session checks it first)
    nox -s "tests(flax='0.10.5', backend='cpu')" -- -k rnn_jit      one cell, one case
    nox -s gate -- --from 0.10.5 --to 0.11.0   what an upgrade breaks; exits 0, 1 (it breaks) or 2 (cannot tell)
    nox -s bugreport -- rnn_jit --flax 0.10.5  a paste-ready upstream bug report under reports/
"""

from __future__ import annotations

import sys

import nox

from flax_regressions.commands import bisect as bisect_command
from flax_regressions.commands import bugreport as bugreport_command
from flax_regressions.commands import gate as gate_command
from flax_regressions.commands import report as report_command
from flax_regressions.commands import sweep as sweep_command
from flax_regressions.commands import validate as validate_command
from flax_regressions.core import status
from flax_regressions.core.results import CellOutcome
from flax_regressions.running import cells
from flax_regressions.spec import matrix

try:  # every session starts here: a broken matrix.yaml stops nox with one line and exit status 2, before anything runs
    MATRIX = matrix.load()
except matrix.MatrixError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(status.USAGE_ERROR)

CELLS = [(v.version, backend) for v in MATRIX.flax for backend in MATRIX.backends]
# Newest release first: two cells run at a time, the longest should start first, and the latest's runs the most
# variants to their end (measured, cache off: 40 s against 29 to 34 s; oldest first, its lane ended 13 s after the
# other's).
nox.options.sessions = [f"tests(flax='{v.version}', backend='cpu')" for v in reversed(MATRIX.flax)] + ["report"]
nox.options.default_venv_backend = "none"
nox.options.parallel = 2


@nox.session(allow_parallel=True)
def validate(session: nox.Session) -> None:
    """Check matrix.yaml and the repro modules it names; builds nothing (every session runs this check first)."""
    session.log(validate_command.describe(MATRIX))


@nox.session(allow_parallel=True)
@nox.parametrize(("flax", "backend"), CELLS)
def tests(session: nox.Session, flax: str, backend: str) -> None:
    """Every case and variant on one Flax release with its JAX, on one backend."""
    result = cells.run_cell(MATRIX, flax, backend, session.posargs, log=session.log)
    if result.outcome is CellOutcome.SKIPPED:
        session.skip(result.reason)
    if result.outcome is not CellOutcome.RAN:
        session.error(result.reason)
    if result.rerun_failed:
        session.error(f"not run now: {result.rerun_failed} (the last good result is kept)")


@nox.session(allow_parallel=False)
def report(session: nox.Session) -> None:
    """Merge the cells into results/matrix.{json,md}; fail if any is not as expected: -- [--report-log FILE]."""
    argv = session.posargs
    if argv and not argv[0].startswith("--report-log"):  # nox hands the cells' pytest arguments to every session
        session.log(f"report: the arguments after -- are the cells' ({' '.join(argv)}): not this session's")
        argv = []
    _exit_with(session, report_command.main(MATRIX, log=session.log, argv=argv))


def _exit_with(session: nox.Session, code: int) -> None:
    """End nox with the module's own exit status: nox would turn any failure into 1, and CI needs 1 vs 2."""
    if code:
        session.log(f"exit status {code}")
        raise SystemExit(code)


@nox.session(allow_parallel=False)
def gate(session: nox.Session) -> None:
    """Upgrade gate: -- [--from V] [--to V] [--backend B]; exits 0 (nothing breaks), 1 (a fix breaks, a bug appears) or 2."""
    _exit_with(session, gate_command.main(session.posargs))


@nox.session(allow_parallel=False)
def bugreport(session: nox.Session) -> None:
    """Paste-ready upstream bug report: -- <case> [--flax V] [--backend B] writes reports/<case>-flax-<V>.md."""
    _exit_with(session, bugreport_command.main(session.posargs))


@nox.session(allow_parallel=False)
def bisect(session: nox.Session) -> None:
    """Where each variant changed: -- <case> [--variant V] [--between A B] [--write]; Flax (and JAX) release bisection."""
    _exit_with(session, bisect_command.main(session.posargs, MATRIX, log=session.log))


@nox.session(allow_parallel=False)
def sweep(session: nox.Session) -> None:
    """Every case on every Flax release: -- [--between A B] [--resume]; results/sweep/matrix.md, exits 1 if any is off."""
    _exit_with(session, sweep_command.main(session.posargs, MATRIX, log=session.log))
