"""nox sessions for flax-regressions. Sessions are generated from matrix.yaml; the logic is in flax_regressions/.

    nox                                   every CPU cell of the default matrix, in parallel, then the report
    nox -l                                the sessions
    nox -s "tests(flax='0.10.5', backend='cpu')" -- -k rnn_jit      one cell, one case
"""

from __future__ import annotations

import json
import os
import sys

import nox

from flax_regressions import cells, matrix
from flax_regressions import report as matrix_report

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

