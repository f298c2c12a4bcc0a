"""The repro modules as the cell calls them: imported by path, one variant called and timed, and the versions it ran on.

Repro modules are standalone scripts (``python repro/<case>.py``), not a package, so they are imported from
their file. A module that fails at import is taken out of ``sys.modules`` again: the next variant of the case
then fails with the same import error, not with a missing attribute of a half-imported module.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType

from flax_regressions.core.results import Versions


def installed_versions() -> Versions:
    """Flax, JAX and jaxlib as installed (package metadata only: nothing is imported)."""
    found = {}
    for name in ("flax", "jax", "jaxlib"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return Versions(**found)


def load_repro(repro_dir: Path, case: str) -> ModuleType:
    """Import repro/<case>.py by path, once per process."""
    name = f"repro_{case}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(repro_dir) / f"{case}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def run_variant(repro_dir: Path, case: str, variant: str, kwargs: dict | None = None):
    """Call one variant; return the exception it raised (None if it ran to the end) and its duration."""
    function = getattr(load_repro(repro_dir, case), variant)
    start = time.perf_counter()
    try:
        function(**(kwargs or {}))
    except Exception as exc:  # a variant's failure is data here, not an error of the harness
        return exc, time.perf_counter() - start
    return None, time.perf_counter() - start
