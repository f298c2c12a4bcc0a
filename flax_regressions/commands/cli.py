"""The ``flax-regressions`` command, and the nox sessions' too: every command behind one entry point.

    flax-regressions [--workdir DIR] [--envdir DIR] <command> [ARGS] [-- PYTEST ARGS]

Each command is a module of this package with ``add_arguments(parser)`` and ``run(args, workspace) -> int``;
``main`` builds their parsers, resolves the work directory once (``--workdir``, else the directory it runs in; the
environments under ``--envdir``, else ``$FLAX_REGRESSIONS_ENVDIR``, else ``<workdir>/.envs``) and passes it down,
and handles the one error type (core.errors.Error) once: one line, ``<command>: error: <what>``, exit status 2.
The nox sessions call ``main`` too, so both say the same things the same way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from types import ModuleType

from flax_regressions.commands import audit, bisect, bugreport, gate, jobs, new, report, run, scan, sweep, validate
from flax_regressions.commands.parser import TOOL, Parser
from flax_regressions.core.errors import Error, one_line
from flax_regressions.core.status import USAGE_ERROR
from flax_regressions.core.workspace import ENVDIR_ENV, Workspace

COMMANDS: dict[str, ModuleType] = {
    "run": run,
    "gate": gate,
    "bisect": bisect,
    "sweep": sweep,
    "bugreport": bugreport,
    "report": report,
    "validate": validate,
    "new": new,
    "audit": audit,
    "scan": scan,
    "jobs": jobs,
}
TAKES_PYTEST_ARGS = {"run"}  # the commands whose arguments after -- go to every cell's pytest


def parser() -> Parser:
    top = Parser(prog=TOOL, description="Which known Flax bugs still bite, and which workarounds still work.")
    top.add_argument("--version", action="version", version=f"{TOOL} {metadata.version(TOOL)}")
    top.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="where the working files go: results/, reports/, .envs/ (default: the current directory)",
    )
    top.add_argument(
        "--envdir",
        type=Path,
        metavar="DIR",
        help=f"where the environments live (default: ${ENVDIR_ENV}, else <workdir>/.envs)",
    )
    commands = top.add_subparsers(dest="command", metavar="<command>", required=True, parser_class=Parser)
    for name, module in COMMANDS.items():
        doc = (module.__doc__ or "").strip().splitlines()[0]
        module.add_arguments(commands.add_parser(name, help=doc, description=doc))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, pytest_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    args = parser().parse_args(own)
    name = args.command
    if pytest_args and name not in TAKES_PYTEST_ARGS:
        print(f"{TOOL} {name}: error: takes no pytest arguments after -- (run does)", file=sys.stderr)
        return USAGE_ERROR
    args.pytest_args = pytest_args
    try:
        workspace = resolve_workspace(args.workdir, args.envdir)
        return COMMANDS[name].run(args, workspace)
    except Error as exc:
        print(f"{name}: error: {one_line(str(exc))}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def resolve_workspace(workdir: Path | None, envdir: Path | None) -> Workspace:
    """The work directory, made if it is not there, and refused in one line when it cannot be written."""
    given = envdir or os.environ.get(ENVDIR_ENV)
    workspace = Workspace.at(workdir or Path.cwd(), Path(given) if given else None)
    try:
        workspace.root.mkdir(parents=True, exist_ok=True)
        probe = workspace.root / f".{TOOL}-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise Error(f"--workdir {workdir or workspace.root}: cannot write there ({exc.strerror})") from None
    return workspace
