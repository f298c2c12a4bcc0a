"""The whole suite on every Flax release in a range, each with its contemporary JAX.

    nox -s sweep -- [--between A B] [--resume]

The default matrix samples a few releases; the sweep runs the full cell (cells.run_cell) on every
release from A to B (default: the oldest release matrix.yaml's rules cover, to the latest) into
results/sweep/cells/, and merges them with the report's functions into results/sweep/matrix.{md,json}.
It is how "the expectations are right on every release" is checked. Exit status: 0 when every cell is
as expected, 1 when one is not, 2 with a one-line reason on a usage or environment error.
"""

from __future__ import annotations

import sys
import time

from flax_regressions import cells, matrix, releases, report
from flax_regressions.bisect_releases import default_range
from flax_regressions.cli import USAGE_ERROR, Parser
from flax_regressions.results import RESULTS_DIR, cell_id, load_cells

SWEEP_DIR = RESULTS_DIR / "sweep"
BACKEND = "cpu"


def parse_args(argv: list[str]):
    parser = Parser("sweep", description="Run every case on every Flax release in a range.")
    parser.add_argument("--between", nargs=2, metavar=("A", "B"),
                        help="the first and last Flax release (default: the oldest matrix.yaml covers, and latest)")
    parser.add_argument("--resume", action="store_true", help="keep the cells an earlier sweep completed; run the rest")
    return parser.parse_args(argv)


def main(argv: list[str], the_matrix: matrix.Matrix | None = None, log=print) -> int:
    args = parse_args(argv)
    try:
        the_matrix = the_matrix or matrix.load()
        first, last = args.between or (default_range(the_matrix), "latest")
        versions = releases.between(the_matrix.python, first, last)
    except (releases.RegistryError, matrix.MatrixError) as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    cells_dir = SWEEP_DIR / "cells"
    wanted = [cell_id(v, BACKEND) for v in versions]
    done, _ = load_cells(cells_dir) if cells_dir.exists() else ({}, {})
    for stale in set(done) - set(wanted):  # the report reads every file here: keep only this sweep's cells
        (cells_dir / f"{stale}.json").unlink()
    start = time.monotonic()
    for n, version in enumerate(versions, 1):
        cell = cell_id(version, BACKEND)
        if args.resume and done.get(cell, {}).get("complete"):
            log(f"sweep: {n}/{len(versions)} flax {version}: kept from the earlier sweep")
            continue
        step = time.monotonic()
        cells.run_cell(the_matrix, version, BACKEND, ["-q"], cells_dir=cells_dir, log=log)
        log(f"sweep: {n}/{len(versions)} flax {version}: {time.monotonic() - step:.0f}s")
    rows = report.write_report(wanted, cells_dir, SWEEP_DIR, the_matrix)
    print((SWEEP_DIR / "matrix.md").read_text())
    bad = report.summary_lines(rows)
    log(f"sweep: {len(rows) - len(bad)} of {len(rows)} cells as expected on {len(versions)} Flax releases "
        f"{versions[0]} .. {versions[-1]} ({time.monotonic() - start:.0f}s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
