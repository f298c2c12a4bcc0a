"""The GitHub Actions job matrix, from the sessions nox lists: one job per ``tests(...)`` cell.

    nox -l --json -s tests | python -m flax_regressions.commands.ci [--gpu] [--cpu-runner L] [--gpu-runner L]
    python -m flax_regressions.commands.ci --matrix [--cases DIR ...] [--gpu] ...     (the installed tool: no nox)

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
from pathlib import Path

from flax_regressions.core import status
from flax_regressions.core.results import CellId
from flax_regressions.spec import cases, matrix


def cell_jobs(sessions: list[dict], backends: dict[str, dict], *, gpu: bool = False,
              cpu_runner: str = "ubuntu-latest", gpu_runner: str = "gpu") -> dict:
    """The matrix ``include`` list: every tests(...) session, GPU ones only when ``gpu``, in nox's order."""
    include = []
    for session in sessions:
        spec = session.get("call_spec") or {}
        if session.get("name") != "tests" or not {"flax", "backend"} <= set(spec):
            continue
        needs = backends.get(spec["backend"], {}).get("needs")
        if needs and not gpu:
            continue
        include.append({"session": session["session"], "cell": str(CellId(spec["flax"], spec["backend"])),
                        "runs-on": gpu_runner if needs else cpu_runner})
    return {"include": include}


def matrix_jobs(the_matrix: matrix.Matrix, *, gpu: bool = False, cpu_runner: str = "ubuntu-latest",
                gpu_runner: str = "gpu") -> dict:
    """The matrix ``include`` list from the matrix itself: every default release on each backend, GPU ones only
    when ``gpu``."""
    include = []
    for version in the_matrix.flax:
        for backend, settings in the_matrix.backends.items():
            if settings.get("needs") and not gpu:
                continue
            include.append({"cell": str(CellId(version.version, backend)), "flax": version.version, "backend": backend,
                            "runs-on": gpu_runner if settings.get("needs") else cpu_runner})
    return {"include": include}


def _flag(text: str) -> bool:
    """A workflow expression's boolean as text: true/false (an unset input reads as an empty string)."""
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flax_regressions.commands.ci", description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", type=_flag, nargs="?", const=True, default=False,
                        help="include the cells that need a GPU (true/false; default false)")
    parser.add_argument("--cpu-runner", default="ubuntu-latest", help="runner label for the CPU cells")
    parser.add_argument("--gpu-runner", default="gpu", help="runner label for the GPU cells")
    parser.add_argument("--matrix", action="store_true", help="the matrix's own cells, not nox's listing on stdin")
    parser.add_argument("--cases", action="append", default=[], type=Path, metavar="DIR",
                        help="with --matrix: your own cases directories (as for flax-regressions run)")
    args = parser.parse_args(argv)
    runners = {"gpu": args.gpu, "cpu_runner": args.cpu_runner, "gpu_runner": args.gpu_runner}
    try:
        sessions = [] if args.matrix else json.load(sys.stdin)
        the_matrix = cases.load(args.cases)
    except ValueError as exc:
        print(f"ci: error: standard input is not the JSON of `nox -l --json`: {exc}", file=sys.stderr)
        return status.USAGE_ERROR
    except matrix.MatrixError as exc:
        print(f"ci: error: {exc}", file=sys.stderr)
        return status.USAGE_ERROR
    jobs = matrix_jobs(the_matrix, **runners) if args.matrix else cell_jobs(sessions, the_matrix.backends, **runners)
    if not jobs["include"]:
        print("ci: error: nox listed no tests(...) session to run (list them with `nox -l --json -s tests`)", file=sys.stderr)
        return status.USAGE_ERROR
    print(json.dumps(jobs, separators=(",", ":")))
    return status.OK


if __name__ == "__main__":
    sys.exit(main())
