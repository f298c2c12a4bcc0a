"""What a variant is: a documented call that shows the bug, or a workaround. Its name says which."""

from __future__ import annotations

import re

NAME = re.compile(r"^(bug|fix)(_[a-z0-9_]+)?$")  # bug, fix, bug_<what>, fix_<what>


def is_bug(variant: str) -> bool:
    """True for ``bug`` and ``bug_*`` (the failing call), False for ``fix`` and ``fix_*`` (a workaround)."""
    return variant.startswith("bug")


def kind(variant: str) -> str:
    return "bug" if is_bug(variant) else "fix"
