"""Processes a variant leaves behind: ended after each variant, so none outlives its cell.

A variant may start a process (a subprocess, a server, a daemon that double-forks away from its parent) and return
or time out without ending it; it would then run on after the cell, holding files, ports or a CPU. The process
that runs the variants is made a child subreaper (Linux's ``PR_SET_CHILD_SUBREAPER``), so a daemon orphaned by its
parent is re-parented to it instead of to init and stays its descendant; after each variant every descendant is
killed. The xdist controller is a subreaper too: a worker that a timeout or a crash ends leaves its variant's
processes to it, and it kills them (all but the live workers) after each crash and at the end of the run. Where
there is no /proc (not Linux), nothing is done.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Callable
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (best effort: Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(root: int, keep: frozenset[int] = frozenset()) -> list[int]:
    """Every live process below ``root`` but those in ``keep`` and theirs, read from /proc (empty where there is
    none)."""
    children = _children if Path(f"/proc/{root}/task/{root}/children").exists() else _children_from_all_processes()
    found, todo = [], [root]
    while todo:
        for child in children(todo.pop()):
            if child not in keep:
                found.append(child)
                todo.append(child)
    return found


def _children(pid: int) -> list[int]:
    """A process's children, from its threads' ``children`` files: after most variants there are none, and this
    reads a few files where reading every process on the machine after every variant took a second of a cell."""
    found = []
    with contextlib.suppress(OSError):  # ended meanwhile
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _children_from_all_processes() -> Callable[[int], list[int]]:
    """Where the kernel keeps no ``children`` files (CONFIG_PROC_CHILDREN off): every process's parent."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in parentheses may hold spaces
        children.setdefault(ppid, []).append(int(entry.name))
    return lambda pid: children.get(pid, [])


def end_leftovers(keep: frozenset[int] = frozenset()) -> list[int]:
    """Kill every descendant of this process but ``keep`` (and theirs), reap the ones that were its children; return
    their pids."""
    left = descendants(os.getpid(), keep)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for pid in left:
        with contextlib.suppress(ChildProcessError):  # not ours to reap: its parent (also killed) was
            os.waitpid(pid, 0)
    return left
