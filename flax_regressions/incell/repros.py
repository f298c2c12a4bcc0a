"""The repro modules as the cell calls them: imported by path, one variant called and timed, and the versions it ran on.

Repro modules are standalone scripts (``python repro/<case>.py``), not a package, so they are imported from
their file. matrix.yaml's validation has compiled every module, but only an import shows a package missing
from the cell's environment: a module that fails at import is ``ReproImportError``, one line naming the module,
the line and the real error, and it is taken out of ``sys.modules`` again, so every variant of the case fails
with that same error, never with a missing attribute of a half-imported module.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import sys
import time
import traceback
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from flax_regressions.core.failure import first_line
from flax_regressions.core.results import Versions


class ReproImportError(Exception):
    """A repro module that failed at import: ``repro/<case>.py:LINE: import failed: <exception>: <message>``."""


def installed_versions() -> Versions:
    """Flax, JAX and jaxlib as installed (package metadata only: nothing is imported)."""
    found = {}
    for name in ("flax", "jax", "jaxlib"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return Versions(**found)


class _FromSource(importlib.machinery.SourceFileLoader):
    """Compiles a repro module from its source at every import, never from bytecode. A cell keeps its bytecode
    (running.cells.keep_bytecode), and Python trusts a bytecode file while its source has the same size and the same
    modification time in whole seconds: a repro module edited within the second, to the same size, would run as it
    was. Repro modules are edited between runs (a team's own cases, the harness's tests), and small."""

    def get_code(self, fullname: str) -> CodeType:
        return self.source_to_code(self.get_data(self.path), self.path)


def load_repro(repro_dir: Path, case: str) -> ModuleType:
    """Import repro/<case>.py by path, once per process; ReproImportError when it fails (see the module docstring)."""
    name = f"repro_{case}"
    if name in sys.modules:
        return sys.modules[name]
    path = str(Path(repro_dir) / f"{case}.py")
    spec = importlib.util.spec_from_file_location(name, path, loader=_FromSource(name, path))
    assert spec is not None and spec.loader is not None  # a file location with its loader always has a spec
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if not isinstance(exc, Exception):
            raise  # Ctrl-C, or the run ending: not the module's failure
        frames = traceback.extract_tb(exc.__traceback__)
        line = next((f.lineno for f in reversed(frames) if f.filename == spec.origin), None)  # the module's own line
        where = f"repro/{case}.py" + (f":{line}" if line else "")  # as matrix.yaml's own errors name it
        raise ReproImportError(f"{where}: import failed: {type(exc).__name__}: {first_line(exc)}") from exc
    return module


def run_variant(
    repro_dir: Path, case: str, variant: str, kwargs: dict[str, Any] | None = None, watched: tuple[str, ...] = ()
) -> tuple[Exception | None, float]:
    """Call one variant; return the exception it raised (None if it ran to the end) and its duration.

    The ``watched`` warning categories (built-in names, e.g. DeprecationWarning: matrix.yaml's ``warns``) are
    raised as exceptions during the call, so a warning the variant emits is what it "raised".
    """
    function = getattr(load_repro(repro_dir, case), variant)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            for category in watched:
                warnings.simplefilter("error", getattr(builtins, category))
            function(**(kwargs or {}))
    except Exception as exc:  # a variant's failure is data here, not an error of the harness
        return exc, time.perf_counter() - start
    return None, time.perf_counter() - start
