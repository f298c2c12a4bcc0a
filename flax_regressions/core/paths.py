"""Where the suite keeps its inputs (the built-in catalogue) and its working files (the work directory).

The built-in catalogue is ``matrix.yaml`` and ``repro/``: at the root of a checkout, or, in an installed
package, the copy the wheel ships under ``flax_regressions/catalogue/`` (pyproject's force-include). The
working files (environments, results, reports, the compilation cache) go under the work directory, never
inside an installed package: ``$FLAX_REGRESSIONS_WORKDIR`` (the ``flax-regressions`` command sets it from
``--workdir``, else to the directory it runs in; the cells it starts inherit it), else a checkout's root (nox
and pytest there), else the directory the process runs in. The environments may live elsewhere:
``$FLAX_REGRESSIONS_ENVDIR`` (nox's ``--envdir``) lets several work directories (a team's repositories, the
harness's own end-to-end tests) share one set, built once; their bytecode goes with them. It is read once, at
import: the constants below are the only places that name these directories.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
ROOT = PACKAGE_DIR.parent  # a checkout's root; for an installed package, its site-packages
PACKAGED_CATALOGUE = PACKAGE_DIR / "catalogue"
INSTALLED = PACKAGED_CATALOGUE.is_dir()  # a wheel's install, not a checkout (an editable install is a checkout)
CATALOGUE_DIR = PACKAGED_CATALOGUE if INSTALLED else ROOT
MATRIX_FILE = CATALOGUE_DIR / "matrix.yaml"

WORKDIR_ENV = "FLAX_REGRESSIONS_WORKDIR"
WORKDIR = Path(os.environ.get(WORKDIR_ENV) or (Path.cwd() if INSTALLED else ROOT)).resolve()
ENVDIR_ENV = "FLAX_REGRESSIONS_ENVDIR"
ENVS_DIR = Path(os.environ.get(ENVDIR_ENV) or WORKDIR / ".envs").resolve()
RESULTS_DIR = WORKDIR / "results"
CELLS_DIR = RESULTS_DIR / "cells"
REPORTS_DIR = WORKDIR / "reports"
COMPILE_CACHE_DIR = WORKDIR / ".jax-cache"
BYTECODE_DIR = ENVS_DIR / "bytecode"  # what the cells' Pythons compile (running.cells.cell_environment)
HARNESS_DIR = WORKDIR / ".envs" / "harness" if INSTALLED else ROOT  # a cell's pytest runs here, the package importable from it


def shown_path(path: Path) -> str:
    """A path as a message shows it: relative to the work directory (or the checkout) when it is inside it."""
    resolved = Path(path).resolve()
    for base in (WORKDIR, ROOT):
        try:
            return str(resolved.relative_to(base))
        except ValueError:
            pass
    return str(path)
