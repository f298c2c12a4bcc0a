"""nox sessions for flax-regressions. Sessions are generated from matrix.yaml; the logic is in flax_regressions/.

    nox                                   every CPU cell of the default matrix, in parallel, then the report
    nox -l                                the sessions
    nox -s validate                       check matrix.yaml only (every session checks it first)
    nox -s "tests(flax='0.10.5', backend='cpu')" -- -k rnn_jit      one cell, one case
    nox -s gate -- --from 0.10.5 --to 0.11.0   what an upgrade breaks; exits 0, 1 (it breaks) or 2 (cannot tell)
    nox -s bugreport -- rnn_jit --flax 0.10.5  a paste-ready upstream bug report under reports/
"""

from __future__ import annotations

import json
import os
import sys

import nox

from flax_regressions import cells, matrix
from flax_regressions import bisect_releases
from flax_regressions import bugreport as bug_report
from flax_regressions import gate as upgrade_gate
from flax_regressions import report as matrix_report
from flax_regressions import sweep as release_sweep

try:  # every session starts here: a broken matrix.yaml stops nox with one line and exit status 2, before anything runs
    MATRIX = matrix.load()
except matrix.MatrixError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)

CELLS = [(v.version, backend) for v in MATRIX.flax for backend in MATRIX.backends]
nox.options.sessions = [f"tests(flax='{v.version}', backend='cpu')" for v in MATRIX.flax] + ["report"]
nox.options.default_venv_backend = "none"
nox.options.parallel = 2


@nox.session(allow_parallel=True)
def validate(session: nox.Session) -> None:
    """Check matrix.yaml and the repro modules it names; builds nothing (every session runs this check first)."""
    session.log(f"matrix.yaml is valid: {len(MATRIX.cases)} cases, {len(MATRIX.variants())} variants, "
                f"flax {', '.join(v.version for v in MATRIX.flax)}")


@nox.session(allow_parallel=True)
@nox.parametrize(("flax", "backend"), CELLS)
def tests(session: nox.Session, flax: str, backend: str) -> None:
    """Every case and variant on one Flax release with its JAX, on one backend."""
    def run_pytest(command: list[str], env: dict[str, str]) -> None:
        session.run(*command, env=env, external=True)

    path = cells.run_cell(MATRIX, flax, backend, session.posargs, log=session.log, runner=run_pytest)
    recorded = json.loads(path.read_text())
    if recorded["cell_outcome"] == "skipped":
        session.skip(recorded["reason"])
    if recorded["cell_outcome"] == "error":
        session.error(recorded["reason"])


@nox.session(allow_parallel=False)
def report(session: nox.Session) -> None:
    """Merge the cells into results/matrix.{json,md}; fail if any is not as expected."""
    rows = matrix_report.write_report(matrix_report.default_cells(MATRIX))
    print((matrix_report.RESULTS_DIR / "matrix.md").read_text())
    if summary := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary, "a") as f:
            f.write((matrix_report.RESULTS_DIR / "matrix.md").read_text())
    bad = matrix_report.summary_lines(rows)
    if bad:
        session.error(f"{len(bad)} cells not as expected:\n  " + "\n  ".join(bad))
    session.log(f"all {len(rows)} cells as expected")


def _exit_with(session: nox.Session, code: int) -> None:
    """End nox with the module's own exit status: nox would turn any failure into 1, and CI needs 1 vs 2."""
    if code:
        session.log(f"exit status {code}")
        raise SystemExit(code)


@nox.session(allow_parallel=False)
def gate(session: nox.Session) -> None:
    """Upgrade gate: -- [--from V] [--to V] [--backend B]; exits 0 (nothing breaks), 1 (a fix breaks, a bug appears) or 2."""
    _exit_with(session, upgrade_gate.main(session.posargs))


@nox.session(allow_parallel=False)
def bugreport(session: nox.Session) -> None:
    """Paste-ready upstream bug report: -- <case> [--flax V] [--backend B] writes reports/<case>-flax-<V>.md."""
    _exit_with(session, bug_report.main(session.posargs))


@nox.session(allow_parallel=False)
def bisect(session: nox.Session) -> None:
    """Where each variant changed: -- <case> [--variant V] [--between A B] [--write]; Flax (and JAX) release bisection."""
    _exit_with(session, bisect_releases.main(session.posargs, MATRIX, log=session.log))


@nox.session(allow_parallel=False)
def sweep(session: nox.Session) -> None:
    """Every case on every Flax release: -- [--between A B] [--resume]; results/sweep/matrix.md, exits 1 if any is off."""
    _exit_with(session, release_sweep.main(session.posargs, MATRIX, log=session.log))
