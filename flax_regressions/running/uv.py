"""uv, which builds every environment: where it is, one call of it, and what its failures mean in one line.

A failed call is one of three things, told apart here so each caller can act on it: the registry could not be
reached (``RegistryUnreachable``: says nothing about the release), no Python the cells need could be found
(``PythonMissing``: says nothing about the release either, and every cell needs one), or the environment itself
cannot be built (``EnvError``: unsatisfiable pins, a file whose hash is not the lock's, uv's own first error).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from flax_regressions.core.errors import Error
from flax_regressions.running.registry import RegistryUnreachable


class EnvError(Error):
    """An environment could not be built. Its message is one line, fit for a table cell."""


class PythonMissing(Error):
    """No interpreter of the Python the cells run could be found or downloaded."""


def uv() -> str:
    """The uv that builds environments: on PATH, else the one installed beside this Python (the dev group's)."""
    return shutil.which("uv") or str(Path(sys.executable).parent / "uv")


def run(name: str, args: Sequence[str], stdin: str | None = None) -> None:
    """One uv call for the environment ``name``; raises one of the three errors above when it fails."""
    try:
        proc = subprocess.run([uv(), *args], input=stdin, capture_output=True, text=True)
    except FileNotFoundError:
        raise EnvError(
            "uv, which builds the environments, is not installed: `python3 -m pip install uv`, or put it on PATH"
        ) from None
    if proc.returncode != 0:
        raise failure(name, proc.stderr)


def failure(name: str, stderr: str) -> Error:
    """The exception for a failed uv call (see the module docstring)."""
    python = _missing_python(stderr)
    if python:
        return PythonMissing(
            f"no Python {python} for the cells: uv found none on PATH and could not download one "
            f"({_last_cause(stderr)}); install Python {python} and put it on PATH, or set UV_PYTHON to its path"
        )
    reason = explain(name, stderr)
    return RegistryUnreachable(reason) if _unreachable(stderr) else EnvError(reason)


def _missing_python(stderr: str) -> str | None:
    """The Python version uv could neither find nor download, when that is why it failed."""
    found = re.search(r"No interpreter found for Python (\S+)", stderr)
    if found:
        return found.group(1)
    download = re.search(r"python-build-standalone/\S*?cpython-(\d+\.\d+)", stderr)
    return download.group(1) if download else None


def _unreachable(stderr: str) -> bool:
    return (
        re.search(
            r"dns error|error sending request|Failed to fetch|Connection refused|timed out|"
            r"client error \(Connect\)",
            stderr,
        )
        is not None
    )


def _last_cause(stderr: str) -> str:
    causes = [
        re.sub(r"^(Caused by|cause|hint|error):\s*", "", line.strip()) for line in stderr.splitlines() if line.strip()
    ]
    return causes[-1] if causes else "no message"


def explain(name: str, stderr: str) -> str:
    """Turn a page of uv output into one line: unreachable registry, unsatisfiable pins, a hash that is not the lock's,
    or uv's first error."""
    text = stderr.strip()
    if _unreachable(text):
        return f"could not install {name}: cannot reach the package registry ({_last_cause(text)})"
    mismatch = re.search(r"Hash mismatch for `([^`]+)`\s*Expected:\s*(.*?)\s*Computed:\s*(\S+)", text, re.S)
    if mismatch:
        expected = " or ".join(mismatch.group(2).split())
        return (
            f"could not install {name}: hash mismatch for {mismatch.group(1)}: the lock accepts {expected}, "
            f"the file has {mismatch.group(3)}"
        )
    because = re.search(r"(Because .*?)(?:\n\s*\n|$)", text, re.S)
    if because:
        return f"could not install {name}: " + " ".join(because.group(1).split())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"could not install {name}: {lines[0] if lines else 'uv failed without a message'}"
