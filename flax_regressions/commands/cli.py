"""The ``flax-regressions`` command: the nox sessions' commands, from a checkout or from the installed package.

    flax-regressions [--workdir DIR] <command> [ARGS]
        run        every default cell, two at once, then the report (``uv run nox``); --here: this interpreter
        gate       what an upgrade from one release to another breaks (``nox -s gate``)
        bugreport  a paste-ready upstream bug report (``nox -s bugreport``)
        bisect     where a case's variants changed (``nox -s bisect``)
        sweep      every case on every release in a range (``nox -s sweep``)
        validate   check the matrix; build nothing (``nox -s validate``)
        report     merge the cells written so far (``nox -s report``)

Each command is its commands/<name>.py ``main``, with the same flags, exit statuses and output files as its
nox session, and ``--cases DIR`` for your own cases. The working files go under the work directory:
``--workdir DIR`` (given anywhere before a ``--``), else the directory the command runs in. It is fixed here,
in $FLAX_REGRESSIONS_WORKDIR, before any module that reads core.paths is imported, and every cell the
command starts inherits it. $FLAX_REGRESSIONS_ENVDIR, when set, holds the environments instead of the work
directory's .envs/ (core.paths).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from flax_regressions.commands.parser import TOOL, Parser
from flax_regressions.core.status import USAGE_ERROR

COMMANDS = ("run", "gate", "bugreport", "bisect", "sweep", "validate", "report")
WORKDIR_ENV = "FLAX_REGRESSIONS_WORKDIR"  # core.paths reads it (imported only after it is set)


def split_workdir(argv: list[str]) -> tuple[str | None, list[str]]:
    """``--workdir DIR`` (or ``--workdir=DIR``) taken out of the arguments before any ``--``; the rest, in order."""
    end = argv.index("--") if "--" in argv else len(argv)
    workdir, rest, i = None, [], 0
    while i < end:
        if argv[i] == "--workdir" and i + 1 < end:
            workdir, i = argv[i + 1], i + 2
            continue
        if argv[i].startswith("--workdir="):
            workdir = argv[i].split("=", 1)[1]
        else:
            rest.append(argv[i])
        i += 1
    return workdir, rest + argv[end:]


def main(argv: list[str] | None = None) -> int:
    workdir, argv = split_workdir(list(sys.argv[1:] if argv is None else argv))
    parser = Parser(TOOL, prog=TOOL, description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", metavar="DIR", help="where the working files go (default: the current directory)")
    parser.add_argument("command", choices=COMMANDS)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        print("\n" + __doc__.split("\n\n")[1])
        return 0 if argv else USAGE_ERROR
    name = parser.parse_args(argv[:1]).command
    if workdir is not None:
        os.environ[WORKDIR_ENV] = str(Path(workdir).resolve())
    os.environ.setdefault(WORKDIR_ENV, str(Path.cwd()))
    try:
        Path(os.environ[WORKDIR_ENV]).mkdir(parents=True, exist_ok=True)
        probe = Path(os.environ[WORKDIR_ENV]) / f".flax-regressions-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        print(f"{TOOL}: error: --workdir {workdir or os.environ[WORKDIR_ENV]}: cannot write there ({exc.strerror})",
              file=sys.stderr)
        return USAGE_ERROR
    command = importlib.import_module(f"flax_regressions.commands.{name}")  # core.paths reads the work directory now
    rest = argv[1:]
    return command.main(argv=rest) if name == "report" else command.main(rest)


if __name__ == "__main__":
    sys.exit(main())
