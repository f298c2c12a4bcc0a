"""nox sessions for flax-regressions: each is one call of the flax-regressions command (commands.cli).

nox                                   the main job: every CPU cell of the default matrix, two at once, then the report
nox -l                                the sessions
nox -s validate                       check matrix.yaml only (every session checks it first)
nox -s "tests(flax='0.10.5', backend='cpu')" -- -k rnn_jit      one cell, one case
nox -s gate -- --from 0.10.5 --to 0.11.0   what an upgrade breaks; exits 0, 1 (it breaks) or 2 (cannot tell)
nox -s bugreport -- rnn_jit --flax 0.10.5  a paste-ready upstream bug report under reports/
"""

from __future__ import annotations

import sys

import nox

from flax_regressions.catalogue import reader
from flax_regressions.commands import cli
from flax_regressions.core import status
from flax_regressions.running import cells

try:  # every session starts here: a broken matrix.yaml stops nox with one line and exit status 2, before anything runs
    MATRIX = reader.load()
except reader.MatrixError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(status.USAGE_ERROR)

nox.options.sessions = ["matrix"]
nox.options.default_venv_backend = "none"


def flax_regressions(session: nox.Session, *argv: str) -> None:
    """Run the command in this process; end nox with its own exit status (nox turns any failure into 1, and CI
    tells "it breaks" (1) from "cannot tell" (2) by it)."""
    code = cli.main(list(argv))
    if code:
        session.log(f"exit status {code}")
        raise SystemExit(code)


@nox.session
def matrix(session: nox.Session) -> None:
    """The main job: every CPU cell of the default matrix, two at once, then the report (flax-regressions run)."""
    flax_regressions(session, "run", "--", *session.posargs)


@nox.session
def validate(session: nox.Session) -> None:
    """Check matrix.yaml and the repro modules it names; builds nothing (every session runs this check first)."""
    flax_regressions(session, "validate")


@nox.session
@nox.parametrize(("flax", "backend"), [(v.version, backend) for v in MATRIX.flax for backend in MATRIX.backends])
def tests(session: nox.Session, flax: str, backend: str) -> None:
    """Every case and variant on one Flax release with its JAX, on one backend (the CI workflow's jobs)."""
    absent = cells.missing_backend(MATRIX, backend)
    if absent:
        session.skip(absent)
    flax_regressions(session, "run", "--flax", flax, "--backend", backend, "--", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Merge the cells into results/matrix.{json,md}; fail if any is not as expected: -- [--report-log FILE]."""
    flax_regressions(session, "report", *session.posargs)


@nox.session
def gate(session: nox.Session) -> None:
    """Upgrade gate: -- [--from V] [--to V] [--backend B]; exits 0 (nothing breaks), 1 (it breaks) or 2 (no verdict)."""
    flax_regressions(session, "gate", *session.posargs)


@nox.session
def bugreport(session: nox.Session) -> None:
    """Paste-ready upstream bug report: -- <case> [--flax V] [--backend B] writes reports/<case>-flax-<V>.md."""
    flax_regressions(session, "bugreport", *session.posargs)


@nox.session
def bisect(session: nox.Session) -> None:
    """Where each variant changed: -- <case> [--variant V] [--between A B] [--write]; Flax (and JAX) releases."""
    flax_regressions(session, "bisect", *session.posargs)


@nox.session
def sweep(session: nox.Session) -> None:
    """Every case on every Flax release: -- [--between A B] [--resume]; results/sweep/matrix.md, 1 if any is off."""
    flax_regressions(session, "sweep", *session.posargs)
