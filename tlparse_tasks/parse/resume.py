"""Resuming a parse: a log that has only grown continues where the last parse stopped.

The saved point is the start of the last record read (a growing log may still extend it),
with the SHA-256 of the log up to there, the parser state at that moment and the size and
entry count of every store file. It is used only when the options, the tool version and the
state format are the same and the log still starts with exactly those bytes.

Hashing those bytes (100 MB: 0.05 s) is half of a re-run's parse after a small append, so it
runs in a thread (`PrefixDigest`) while the parse reads the new records into temp files; the
parse commits nothing before the digest is known to match (`PrefixChanged` otherwise).

It also keeps the history of the points this store grew through (`history`: [offset, digest]
of each resume point since the last parse from the start). Every store file still begins with
the bytes it had at each of them, which is what lets a module keep a state of its own at one
(search.py) and trust it while that point is in the history.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
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
    offset: int  # byte offset of the first record still to parse
    hasher: PrefixDigest  # SHA-256 of the log up to `offset` (being checked), ready to be continued
    state: ParseState
    streams: dict[str, tuple[int, int]]  # store file → (bytes, entries) written before `offset`
    history: list[tuple[int, str]]  # the points the store grew through, this one last

    @property
    def digest(self) -> str:
        """The SHA-256 of the log up to `offset`, as saved (the parse checks it before it commits)."""
        return self.history[-1][1]


class PrefixDigest:
    """A SHA-256 that continues the digest of a log's first `length` bytes, which a thread
    computes meanwhile (hashlib and file reads release the GIL).

    The bytes given to `update` before the prefix is hashed wait in memory, at most
    `MAX_WAITING` of them: past that, `update` waits for the thread. When the prefix digest is
    known it is compared with `expected`: a difference raises PrefixChanged, from whichever call
    learned it; a match calls `on_verified` once."""

    MAX_WAITING = 8 << 20

    def __init__(self, path: Path, length: int, expected: str) -> None:
        self.expected = expected
        self.on_verified: Callable[[], None] | None = None
        self._waiting: list[bytes] = []
        self._waiting_bytes = 0
        self._hasher: Any = None
        self._result: Any = None
        self._thread = threading.Thread(target=self._hash, args=(path, length), daemon=True,
                                        name="prefix-digest")
        self._thread.start()

    def _hash(self, path: Path, length: int) -> None:
        try:
            self._result = hash_prefix(path, length)
        except BaseException as error:  # re-raised by the parse's thread in `wait`
            self._result = error

    def wait(self) -> Any:
        """The continued hasher, once the prefix is hashed and checked."""
        if self._hasher is None:
            self._thread.join()
            if isinstance(self._result, BaseException):
                raise self._result
            hasher = self._result
            if hasher.hexdigest() != self.expected:
                raise PrefixChanged()
            for data in self._waiting:
                hasher.update(data)
            self._waiting, self._waiting_bytes, self._hasher = [], 0, hasher
            if self.on_verified is not None:
                self.on_verified()
        return self._hasher

    def update(self, data: bytes | memoryview) -> None:
        if self._hasher is not None:
            self._hasher.update(data)
            return
        self._waiting.append(bytes(data))
        self._waiting_bytes += len(data)
        if self._waiting_bytes > self.MAX_WAITING or not self._thread.is_alive():
            self.wait()

    def copy(self) -> Any:
        return self.wait().copy()

    def hexdigest(self) -> str:
        return str(self.wait().hexdigest())

    def close(self) -> None:
        """Let the thread end (after a failure: no thread outlives the parse, e.g. into a fork)."""
        self._thread.join()


def hash_prefix(path: Path, length: int) -> Any:
    """SHA-256 of the first `length` bytes of `path`, as a hasher that can go on."""
    digest = hashlib.sha256()
    remaining = length
    with open(path, "rb") as handle:
        while remaining:
            chunk = handle.read(min(remaining, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest


def load_resume(log: Path, idir: Path, options: ParseOptions) -> ResumePoint | None:
    """The saved resume point, if the log is at least as long; whether its prefix is still the
    same is being checked (`ResumePoint.hasher`)."""
    found = _saved_point(log, idir, options)
    if found is None:
        return None
    resume, offset = found
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
    return ResumePoint(offset, PrefixDigest(log, offset, digest), state, streams, [*_history(resume), (offset, digest)])


def likely_resume_offset(log: Path, idir: Path, options: ParseOptions) -> int | None:
    """Where a parse of `log` would resume, its prefix unchecked: a guess for scheduling (what a
    re-run after an append will read), never for what the parse keeps."""
    try:
        found = _saved_point(log, idir, options)
    except OSError:  # the parse will say what is wrong
        return None
    return None if found is None else found[1]


def _saved_point(log: Path, idir: Path, options: ParseOptions) -> tuple[dict[str, Any], int] | None:
    """The saved point (its JSON and offset) when it was saved with these options by this
    version and the log is at least as long; neither its prefix nor the rest of it is checked."""
    saved = _read_saved(idir / PARSE_STATE_FILE)
    resume = saved.get("resume") if saved is not None else None
    if not isinstance(resume, dict):
        return None
    try:
        state = resume["state"]
        same = state["tool_version"] == __version__ and ParseOptions.from_json(state["options"]) == options
        offset = int(resume["offset"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not same or offset <= 0 or log.stat().st_size < offset:  # nothing to resume from
        return None
    return resume, offset


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


def save_resume(idir: Path, offset: int, digest: str, state: dict[str, Any],
                streams: dict[str, tuple[int, int]], history: list[tuple[int, str]], *, root: Path) -> None:
    """Write the resume point; `state` is a `ParseState.to_json()` snapshot; `history` the
    points the store grew through before (the last HISTORY_POINTS are kept); `root` is OUT."""
    saved = {"format": STATE_FORMAT,
             "resume": {"offset": offset, "digest": digest, "state": state, "streams": streams,
                        "history": [[o, d] for o, d in history[-HISTORY_POINTS:]]}}
    write_bytes(idir / PARSE_STATE_FILE, orjson.dumps(saved), root=root)
