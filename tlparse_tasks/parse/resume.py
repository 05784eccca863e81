"""Resuming a parse: a log that has only grown continues where the last parse stopped.

The saved point is the start of the last record read (a growing log may still extend it), the
length of the log the parse read and its SHA-256 (`length`, `digest`), the parser state at
that point and the size and entry count of every store file. It is used only when the options,
the tool version and the state format are the same and the log still starts with exactly
those `length` bytes.

The check is a SHA-256 digest of the log's first `length` bytes, computed by a helper started
before the parse (parse/digests.py). The parse meanwhile reads the new records into temp files
and commits nothing before the check has passed (PrefixChanged otherwise).

It also keeps the history of the points this store grew through (`history`: [offset, digest]
of each resume point since the last parse from the start). Every store file still begins with
the bytes it had at each of them, which is what lets a module keep a state of its own at one
(search.py) and trust it while that point is in the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .. import __version__
from ..atomic import write_bytes
from ..store.streams import APPENDED_FILES, PARSE_STATE_FILE, RAW_JSONL
from .state import STATE_FORMAT, ParseOptions, ParseState

#: Resume points kept in the history: a module state older than this many runs is rebuilt.
HISTORY_POINTS = 64


class PrefixChanged(Exception):
    """The log no longer starts with the bytes the saved point was taken after."""


@dataclass
class ResumePoint:
    """Where the last parse stopped, and what the next one needs to go on from there."""

    offset: int  # byte offset of the first record still to parse
    length: int  # bytes of the log the last parse read (>= offset)
    state: ParseState
    streams: dict[str, tuple[int, int]]  # store file → (bytes, entries) written before `offset`
    history: list[tuple[int, str]]  # the points the store grew through, this one last

    @property
    def digest(self) -> str:
        """The SHA-256 of the first `length` bytes, as saved: the log must still start with them."""
        return self.history[-1][1]


def load_resume(log: Path, idir: Path, options: ParseOptions) -> ResumePoint | None:
    """The saved resume point, if the log is at least as long as the parse read. Whether it
    still starts with the same bytes is for the parse to check (parse/digests.py)."""
    found = _saved_point(log, idir, options)
    if found is None:
        return None
    resume, offset, length = found
    try:
        state = ParseState.from_json(resume["state"])
        streams = {str(name): (int(size), int(count)) for name, (size, count) in resume["streams"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    digest = resume.get("digest")
    if not isinstance(digest, str) or set(streams) != set(APPENDED_FILES):
        return None
    if any(_kept_bytes(idir / name) < size for name, (size, _count) in streams.items()):
        return None
    return ResumePoint(offset, length, state, streams, [*_history(resume), (offset, digest)])


def likely_resume_offset(log: Path, idir: Path, options: ParseOptions) -> int | None:
    """Where a parse of `log` would resume, the log's bytes unchecked: a guess for scheduling
    (what a re-run after an append will read), never for what the parse keeps."""
    try:
        found = _saved_point(log, idir, options)
    except OSError:  # the parse will say what is wrong
        return None
    return None if found is None else found[1]


def _saved_point(log: Path, idir: Path, options: ParseOptions) -> tuple[dict[str, Any], int, int] | None:
    """The saved point (its JSON, offset and length read) when it was saved with these options
    by this version and the log is at least that long; its bytes are not checked."""
    saved = _read_saved(idir / PARSE_STATE_FILE)
    resume = saved.get("resume") if saved is not None else None
    if not isinstance(resume, dict):
        return None
    try:
        state = resume["state"]
        same = state["tool_version"] == __version__ and ParseOptions.from_json(state["options"]) == options
        offset, length = int(resume["offset"]), int(resume["length"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not same or not 0 < offset <= length or log.stat().st_size < length:  # nothing to resume from
        return None
    return resume, offset, length


def _history(resume: dict[str, Any]) -> list[tuple[int, str]]:
    """The saved history (none when unreadable: a module state then starts again)."""
    try:
        return [(int(offset), str(digest)) for offset, digest in resume.get("history", ())]
    except (TypeError, ValueError):
        return []


def _kept_bytes(path: Path) -> int:
    """The bytes of `path` a resumed parse can keep: all of them, but for raw.jsonl whose first
    line (the string table) is written again at the end (-1: no file)."""
    if not path.is_file():
        return -1
    size = path.stat().st_size
    if path.name == RAW_JSONL:
        with open(path, "rb") as handle:
            size -= len(handle.readline())
    return size


def _read_saved(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        saved = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return None
    if not isinstance(saved, dict) or saved.get("format") != STATE_FORMAT:
        return None
    return saved


def save_resume(idir: Path, offset: int, length: int, digest: str, state: dict[str, Any],
                streams: dict[str, tuple[int, int]], history: list[tuple[int, str]], *, root: Path) -> None:
    """Write the resume point: `offset` of the last record, `digest` of the `length` bytes read;
    `state` is a `ParseState.to_json()` snapshot; `history` the points the store grew through
    before (the last HISTORY_POINTS are kept); `root` is OUT. The file begins with the format,
    the offset and the length, in this order, for the hashing helper's guess to read
    (parse/digests.length_to_check)."""
    saved = {"format": STATE_FORMAT,
             "resume": {"offset": offset, "length": length, "digest": digest, "state": state, "streams": streams,
                        "history": [[o, d] for o, d in history[-HISTORY_POINTS:]]}}
    write_bytes(idir / PARSE_STATE_FILE, orjson.dumps(saved), root=root)
