"""The GitHub Actions job matrix, from the sessions nox lists: one job per ``tests(...)`` cell.

    nox -l --json -s tests | python -m flax_regressions.commands.ci [--gpu] [--cpu-runner L] [--gpu-runner L]

prints ``{"include": [{"session": ..., "cell": ..., "runs-on": ...}, ...]}`` for ``strategy.matrix``. The
cells come from nox, so the workflow runs exactly the sessions a developer can run. A cell whose backend
``needs`` something in matrix.yaml (an NVIDIA GPU) goes to the GPU runner label, and only with --gpu: a
standard runner would only skip it.
"""

from __future__ import annotations

import argparse
import json
import sys

from flax_regressions.core import status
from flax_regressions.core.results import CellId
from flax_regressions.spec import matrix


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
    args = parser.parse_args(argv)
    try:
        sessions = json.load(sys.stdin)
        the_matrix = matrix.load()
    except ValueError as exc:
        print(f"ci: error: standard input is not the JSON of `nox -l --json`: {exc}", file=sys.stderr)
        return status.USAGE_ERROR
    except matrix.MatrixError as exc:
        print(f"ci: error: {exc}", file=sys.stderr)
        return status.USAGE_ERROR
    jobs = cell_jobs(sessions, the_matrix.backends, gpu=args.gpu, cpu_runner=args.cpu_runner, gpu_runner=args.gpu_runner)
    if not jobs["include"]:
        print("ci: error: nox listed no tests(...) session to run (list them with `nox -l --json -s tests`)", file=sys.stderr)
        return status.USAGE_ERROR
    print(json.dumps(jobs, separators=(",", ":")))
    return status.OK


if __name__ == "__main__":
    sys.exit(main())
