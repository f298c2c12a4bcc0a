"""Atomic JSON files: a reader never sees a torn file, whatever kills the writer."""

from __future__ import annotations

import functools
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

_UMASK_LOCK = threading.Lock()


@functools.cache
def _umask() -> int:
    """The process's umask (read by setting it, so under a lock, once)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_json(path: Path, data: Any, indent: int | None = 1) -> None:
    """Replace ``path`` with ``data`` atomically (a temporary file beside it, then ``os.replace``), with the mode a
    plain ``open`` would give it (``mkstemp`` makes its file 0600 whatever the umask).

    ``indent=None`` writes one line, with the json module's C encoder (it serves neither ``json.dump`` nor an
    indent): about a fifth of the time, for a file rewritten after every test."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=indent, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
