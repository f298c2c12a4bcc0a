"""Running the standalone script, and asking JAX about itself, in the release's own environment.

The report shows what a maintainer will see: the traceback the pasted script prints on that release and
``jax.print_environment_info()`` from the same environment, never the harness's. Both run from a scratch
directory with the harness's Python path removed, and local paths are shortened so the report names no
directory of this machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from flax_regressions.analysis.bugreport import ReportError
from flax_regressions.core.failure import Failure
from flax_regressions.core.workspace import Workspace
from flax_regressions.running.harness import cell_environment

SCRIPT_TIMEOUT_S = 600

# Run in the release's environment: versions first (one JSON line), then JAX's own environment report.
SYSTEM_INFO = r"""
import json, os, platform, sys
from importlib.metadata import version
print(json.dumps({"flax": version("flax"), "jax": version("jax"), "jaxlib": version("jaxlib"),
                  "python": platform.python_version(), "platform": platform.platform(),
                  "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "")}))
import jax
if hasattr(jax, "print_environment_info"):
    jax.print_environment_info()
else:
    print("jax.print_environment_info() does not exist in this JAX")
"""

EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))(?::\s*(.*)|$)")


def run_script(workspace: Workspace, python: Path, script: str, backend: str, name: str) -> tuple[int, str]:
    """Run ``script`` as ``<name>`` in a scratch directory with the release's Python; return (status, output).

    Paths in the output are shortened so that the report names no directory of this machine: the script is
    ``<name>``, and the environment's packages are ``.../site-packages/...``.
    """
    with tempfile.TemporaryDirectory(prefix="flax-bugreport-") as scratch:
        (Path(scratch) / name).write_text(script)
        try:
            proc = subprocess.run(
                [str(python), name],
                cwd=scratch,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=_env(workspace, backend),
                timeout=SCRIPT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise ReportError(f"{name} ran longer than {SCRIPT_TIMEOUT_S}s in {python.parent.parent.name}") from None
        output = proc.stdout.replace(str(Path(scratch).resolve()) + "/", "").replace(scratch + "/", "")
    site = re.escape(str(python.parent.parent)) + r"/lib/python[0-9.]+/site-packages"
    return proc.returncode, re.sub(site, ".../site-packages", output)


def system_info(workspace: Workspace, python: Path, backend: str) -> tuple[dict, str]:
    """The versions (as a dict) and ``jax.print_environment_info()``'s output, from the release's environment."""
    proc = subprocess.run(
        [str(python), "-c", SYSTEM_INFO],
        capture_output=True,
        text=True,
        env=_env(workspace, backend),
        cwd=tempfile.gettempdir(),
        timeout=SCRIPT_TIMEOUT_S,
    )
    first, _, rest = proc.stdout.partition("\n")
    try:
        versions = json.loads(first)
    except ValueError:
        why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReportError(f"could not read the versions of {python.parent.parent.name}: {why}") from None
    return versions, rest.strip() or proc.stderr.strip()


def _env(workspace: Workspace, backend: str) -> dict[str, str]:
    """The caller's environment but its Python search path, with a cell's backend and kept bytecode."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | cell_environment(workspace, backend, env)


def failure_of(output: str) -> Failure:
    """What the script died of, from its traceback's ``module.Type: message`` line (the last one: JAX may
    print a note after it); the type without its module (``flax.errors.TraceContextError`` ->
    ``TraceContextError``), as a results record keeps it. Both None when no such line is printed."""
    for line in reversed(output.strip().splitlines()):
        match = EXCEPTION_LINE.match(line)
        if match:
            return Failure(match.group(1).rsplit(".", 1)[-1], (match.group(2) or "").strip())
    return Failure(None, None)
