"""Markdown pieces every document is made of, and the one place that writes a document and the job summary."""

from __future__ import annotations

import os
import re
from pathlib import Path

MESSAGE_LIMIT = 120  # characters of an exception message in a document; the JSON keeps it whole


def escaped(text: str) -> str:
    """Text that stays inside its table cell."""
    return str(text).replace("|", "\\|")


def shortened(message: str | None, limit: int = MESSAGE_LIMIT) -> str:
    """A message as every document shows it: without its trailing documentation link, cut at ``limit``.

    An exception's first line can be a megabyte (a whole array in the message); a table cell, a job summary or a
    terminal line gets its start, and the JSON files keep it whole. Linear in the message's length, whatever it holds.
    """
    message = message or ""
    head, _, tail = message.rpartition("(")
    if re.fullmatch(r"https?://[^)]*\)", tail):
        message = head.rstrip()
    return message if len(message) <= limit else message[: limit - 3] + "..."


def shown_message(message: str | None, limit: int = MESSAGE_LIMIT) -> str:
    """A message for a table cell: shortened, pipes escaped."""
    return escaped(shortened(message, limit))


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines; the cells are escaped by the caller, which knows which hold Markdown."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def write(path: Path, text: str, summary: bool = True) -> None:
    """Write a document; with ``summary``, also append it to the GitHub job summary when one is set."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if summary and (job_summary := os.environ.get("GITHUB_STEP_SUMMARY")):
        with open(job_summary, "a") as f:
            f.write(text.rstrip("\n") + "\n\n")  # a blank line before the next step's section
