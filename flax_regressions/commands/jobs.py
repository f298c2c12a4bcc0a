"""The GitHub Actions job matrix: one job per cell, from nox's sessions or the matrix itself.

    nox -l --json -s tests | flax-regressions jobs [--gpu] [--cpu-runner L] [--gpu-runner L]
    flax-regressions jobs --matrix [--cases DIR ...] [--gpu] ...     (a team's repository: no noxfile)

prints ``{"include": [{"session": ..., "cell": ..., "runs-on": ...}, ...]}`` for ``strategy.matrix``. The
cells come from nox, so the workflow runs exactly the sessions a developer can run. A cell whose backend
``needs`` something in matrix.yaml (an NVIDIA GPU) goes to the GPU runner label, and only with --gpu: a
standard runner would only skip it. With ``--matrix`` the cells are the matrix's own default ones (those
``flax-regressions run`` and ``report`` take), each job with its ``flax`` and ``backend`` for
``flax-regressions run --flax``: a team's repository has the tool, not this noxfile.
"""

from __future__ import annotations

import argparse
import json
import sys
from argparse import Namespace

from flax_regressions.catalogue import case_dirs
from flax_regressions.catalogue.model import Matrix
from flax_regressions.commands.parser import Parser
from flax_regressions.core import status
from flax_regressions.core.errors import Error
from flax_regressions.core.results import CellId
from flax_regressions.core.workspace import Workspace


def cell_jobs(
    sessions: list[dict],
    backends: dict[str, dict],
    *,
    gpu: bool = False,
    cpu_runner: str = "ubuntu-latest",
    gpu_runner: str = "gpu",
) -> dict:
    """The matrix ``include`` list: every tests(...) session, GPU ones only when ``gpu``, in nox's order."""
    include = []
    for session in sessions:
        spec = session.get("call_spec") or {}
        if session.get("name") != "tests" or not {"flax", "backend"} <= set(spec):
            continue
        needs = backends.get(spec["backend"], {}).get("needs")
        if needs and not gpu:
            continue
        include.append(
            {
                "session": session["session"],
                "cell": str(CellId(spec["flax"], spec["backend"])),
                "runs-on": gpu_runner if needs else cpu_runner,
            }
        )
    return {"include": include}


def matrix_jobs(
    the_matrix: Matrix, *, gpu: bool = False, cpu_runner: str = "ubuntu-latest", gpu_runner: str = "gpu"
) -> dict:
    """The matrix ``include`` list from the matrix itself: every default release on each backend, GPU ones only
    when ``gpu``."""
    include = []
    for version in the_matrix.flax:
        for backend, settings in the_matrix.backends.items():
            if settings.get("needs") and not gpu:
                continue
            include.append(
                {
                    "cell": str(CellId(version.version, backend)),
                    "flax": version.version,
                    "backend": backend,
                    "runs-on": gpu_runner if settings.get("needs") else cpu_runner,
                }
            )
    return {"include": include}


def _flag(text: str) -> bool:
    """A workflow expression's boolean as text: true/false (an unset input reads as an empty string)."""
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def add_arguments(parser: Parser) -> None:
    parser.add_argument(
        "--gpu",
        type=_flag,
        nargs="?",
        const=True,
        default=False,
        help="include the cells that need a GPU (true/false; default false)",
    )
    parser.add_argument("--cpu-runner", default="ubuntu-latest", help="runner label for the CPU cells")
    parser.add_argument("--gpu-runner", default="gpu", help="runner label for the GPU cells")
    parser.add_argument("--matrix", action="store_true", help="the matrix's own cells, not nox's listing on stdin")
    parser.add_cases()


def run(args: Namespace, workspace: Workspace) -> int:
    runners = {"gpu": args.gpu, "cpu_runner": args.cpu_runner, "gpu_runner": args.gpu_runner}
    try:
        sessions = [] if args.matrix else json.load(sys.stdin)
    except ValueError as exc:
        raise Error(f"standard input is not the JSON of `nox -l --json`: {exc}") from None
    the_matrix = case_dirs.load(args.cases)
    jobs = matrix_jobs(the_matrix, **runners) if args.matrix else cell_jobs(sessions, the_matrix.backends, **runners)
    if not jobs["include"]:
        raise Error("nox listed no tests(...) session to run (list them with `nox -l --json -s tests`)")
    print(json.dumps(jobs, separators=(",", ":")))
    return status.OK
