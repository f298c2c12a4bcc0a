"""nox sessions for flax-regressions. Sessions are generated from matrix.yaml; the logic is in flax_regressions/.

    nox                                   every CPU cell of the default matrix, in parallel, then the report
    nox -l                                the sessions
    nox -s "tests(flax='0.10.5', backend='cpu')" -- -k rnn_jit      one cell, one case
"""

from __future__ import annotations

import os
import sys

import nox

from flax_regressions import cells, envs, matrix, releases
from flax_regressions import report as matrix_report
from flax_regressions.results import CELLS_DIR, cell_id, write_cell_error

try:
    MATRIX = matrix.load()
except matrix.MatrixError as exc:
    sys.exit(f"error: {exc}")

CELLS = [(v.version, backend) for v in MATRIX.flax for backend in MATRIX.backends]
nox.options.sessions = [f"tests(flax='{v.version}', backend='cpu')" for v in MATRIX.flax] + ["report"]
nox.options.default_venv_backend = "none"
nox.options.parallel = 2


@nox.session(allow_parallel=True)
@nox.parametrize(("flax", "backend"), CELLS)
def tests(session: nox.Session, flax: str, backend: str) -> None:
    """Every case and variant on one Flax release with its JAX, on one backend."""
    cell = cell_id(flax, backend)
    reason = cells.missing_backend(MATRIX, backend)
    if reason:
        write_cell_error(CELLS_DIR, cell, backend, "skipped", reason)
        session.skip(reason)
    try:
        python = envs.ensure(cells.spec_for(MATRIX, flax, backend), log=session.log)
    except (envs.EnvError, releases.RegistryError) as exc:
        write_cell_error(CELLS_DIR, cell, backend, "error", str(exc))
        session.error(str(exc))
    env = {"JAX_PLATFORMS": backend}
    session.run(*cells.pytest_command(python, flax, backend, session.posargs), env=env, external=True)


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

