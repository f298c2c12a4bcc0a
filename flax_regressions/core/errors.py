"""One error type for everything a user can act on: bad input, or an environment the harness cannot use.

Every module raises a subclass of ``Error`` for it (a matrix.yaml, a lock file, the registry, an environment that
cannot be built, a gate that cannot compare); the command line handles it once (commands.errors): one line,
``<command>: error: <message>``, and exit status 2, since no verdict was reached. Anything else is a fault of the
harness itself and keeps its traceback.
"""

from __future__ import annotations


class Error(Exception):
    """A problem the user can act on; its message names what is wrong and where."""


def one_line(message: str) -> str:
    """A message on one line, whatever the library that wrote it did (a marker's caret on a second line, a YAML
    problem that quotes its context): its non-blank lines joined, lines of carets and blanks left out."""
    lines = [line.strip() for line in str(message).splitlines()]
    return "; ".join(line for line in lines if line and set(line) - {"^", "~", " "})
