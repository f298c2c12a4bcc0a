"""When two failures are the same failure: the gate, bisect and the matrix rules all ask this one module.

A failure is its exception type and its message. Two runs of one failure differ in what is not the
failure's: memory addresses, and across releases shapes, parameter paths and rewordings around a stable
phrase. So two failures are the same when their types agree and their messages, addresses blanked, are
equal or share a phrase of at least three plain words (``common_phrase``). The phrase is also what a
matrix.yaml rule's ``match`` is made of (catalogue.edit), so a rule matches exactly the failures this
module calls the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_WORDS = 8  # a phrase is short, not the whole message
MIN_PLAIN_WORDS = 3  # fewer common words than this and two messages are different failures
PLAIN_WORD = re.compile(r"""["']?[A-Za-z_][A-Za-z_.]*["']?[,.:;]?""")


def normalized(message: str | None) -> str:
    """A message with its memory addresses blanked: two runs of the same failure compare equal."""
    return re.sub(r"0x[0-9a-fA-F]+", "0x…", message or "")


def first_line(exc: BaseException) -> str:
    """What a record keeps of an exception's message: its first non-blank line."""
    return (str(exc).strip().splitlines() or [""])[0]


@dataclass(frozen=True)
class Failure:
    """An exception type (its class name) and a message, as a results record keeps them."""

    exception: str | None
    message: str | None

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        return cls(type(exc).__name__, first_line(exc))

    def same_as(self, other: Failure) -> bool:
        return one_failure([self, other])


def one_failure(failures: list[Failure]) -> bool:
    """Whether failures (of one variant over a stretch of releases, say) are all one failure: one exception
    type, and messages equal once addresses are blanked, or all sharing one phrase."""
    if len({f.exception for f in failures}) > 1:
        return False
    messages = [normalized(f.message) for f in failures]
    return len(set(messages)) == 1 or common_phrase(messages) is not None


def common_phrase(messages: list[str]) -> str | None:
    """A short phrase found in every message: their first common run of plain words.

    Plain words (no digits, brackets or paths) are what stays the same from one release to the next;
    shapes, addresses and parameter paths do not. A phrase does not run past the end of a sentence.
    None when the messages share no such phrase (they are different failures).
    """
    if not messages:
        return None
    if len(set(messages)) == 1 and len(PLAIN_WORD.findall(messages[0])) < MIN_PLAIN_WORDS:
        return messages[0][:60] or None
    words = list(re.finditer(r"\S+", messages[0]))
    best, best_score = None, None
    for i in range(len(words)):
        for j in range(i + 1, min(i + MAX_WORDS, len(words)) + 1):
            window = [m.group() for m in words[i:j]]
            if any(w.endswith(".") for w in window[:-1]):
                break
            if not PLAIN_WORD.fullmatch(window[-1]):
                break
            if len(window) < MIN_PLAIN_WORDS:
                continue
            score = (
                min(len(window), 4),
                -i,
                len(window),
            )  # the first phrase of four plain words, then the longest there
            if best_score is not None and score <= best_score:
                continue
            phrase = messages[0][words[i].start() : words[j - 1].end()].rstrip(",.:;")
            if all(phrase in m for m in messages[1:]):
                best, best_score = phrase, score
    return best
