"""Where the store stops changing: the parse's resume point, as a module that keeps a state of
its own between runs sees it.

A grown log is parsed again from the start of its last record (parse/resume.py), so every store
file keeps, byte for byte, what it held before that point. A module may therefore save what it
computed from those bytes, with the point, and next time start from there, provided the point is
still in the parse's history (no parse from the start since) and the module's code is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .reader import StoreReader
from .streams import PARSE_STATE_FILE


@dataclass(frozen=True)
class StablePoint:
    """The parse's current resume point."""

    offset: int  # in the log
    digest: str  # SHA-256 of the bytes of the log the parse read (past `offset`): with it, names the point
    line: int  # the last log line before it: records of later lines come after it
    sizes: dict[str, int]  # store file → its bytes before the point, final from now on
    history: frozenset[tuple[int, str]]  # earlier points whose bytes the store still holds

    def holds(self, offset: int, digest: str) -> bool:
        """The store still begins with the bytes it had at the point (`offset`, `digest`)."""
        return (offset, digest) == (self.offset, self.digest) or (offset, digest) in self.history

    def continues(self, saved: Any, sizes: dict[str, int]) -> bool:
        """A module state saved at the point `saved` (its [offset, digest], as written) that read
        `sizes` bytes of store files can go on from here: the store still holds those bytes."""
        return self.holds(int(saved[0]), str(saved[1])) and all(
            0 <= size <= self.sizes.get(name, -1) for name, size in sizes.items())


def stable_point(store: StoreReader) -> StablePoint | None:
    """The point, or None when the parse saved none or it cannot be read (all is then new)."""
    try:
        resume = store.read_json(PARSE_STATE_FILE)["resume"]
        return StablePoint(int(resume["offset"]), str(resume["digest"]), int(resume["state"]["line"]),
                           {str(name): int(size) for name, (size, _count) in resume["streams"].items()},
                           frozenset((int(o), str(d)) for o, d in resume.get("history", ())))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
