"""Resuming a parse: a log that has only grown continues where the last parse stopped.

The saved point is the start of the last record read (a growing log may still extend it), the
length of the log the parse read and its SHA-256 (`length`, `digest`), the parser state at
that point and the size and entry count of every store file. It is used only when the options,
the tool version and the state format are the same and the log still starts with exactly
those `length` bytes.

A parse needs two SHA-256 digests of the log: of its first `length` bytes (the check) and of all
it reads (the manifest's, and the next run's check). One pass gives both (`LogHasher`), in a
helper process. The CLI forks it before doit starts (`prefetching`), so it runs on the core
that is idle while the command starts up (100 MB: 0.05 s); a parse forked later receives the
digests through a pipe. The parse meanwhile reads the new records into temp files and commits
nothing before the check has passed (PrefixChanged otherwise).

It also keeps the history of the points this store grew through (`history`: [offset, digest]
of each resume point since the last parse from the start). Every store file still begins with
the bytes it had at each of them, which is what lets a module keep a state of its own at one
(search.py) and trust it while that point is in the history.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import select
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .. import __version__
from ..atomic import write_bytes
from ..fserrors import FsError
from ..orphans import die_with_parent
from ..store.streams import APPENDED_FILES, PARSE_STATE_FILE, RAW_JSONL
from .state import STATE_FORMAT, ParseOptions, ParseState

#: Resume points kept in the history: a module state older than this many runs is rebuilt.
HISTORY_POINTS = 64
HASH_CHUNK = 1 << 20
#: Logs up to this size are hashed at once (~2 ms), in less time than forking a helper takes.
INLINE_HASH_BYTES = 4 << 20


class PrefixChanged(Exception):
    """The log no longer starts with the bytes the saved point was taken after."""


@dataclass
class ResumePoint:
    offset: int  # byte offset of the first record still to parse
    length: int  # bytes of the log the last parse read (>= offset)
    state: ParseState
    streams: dict[str, tuple[int, int]]  # store file → (bytes, entries) written before `offset`
    history: list[tuple[int, str]]  # the points the store grew through, this one last

    @property
    def digest(self) -> str:
        """The SHA-256 of the first `length` bytes, as saved: the log must still start with them."""
        return self.history[-1][1]


@dataclass(frozen=True)
class LogDigests:
    prefix: str | None  # SHA-256 of the first `prefix_length` bytes (None: the log is shorter)
    whole: str  # SHA-256 of the first `size` bytes


class LogHasher:
    """The log, opened once, and its two digests (see above), computed from now on by a helper:
    of its first `prefix_length` bytes and of its first `size` bytes (its size now: the parse
    reads no further, so the manifest's digest is of exactly what it read).

    The helper is a forked process when this one runs a single thread (the CLI, a pool
    worker), else a thread; a log of at most INLINE_HASH_BYTES is hashed at once instead. A
    process shares no GIL: a thread waits for the GIL between two chunks while the parse or the
    CLI's start-up holds it, which made 0.05 s of hashing take 0.1 s. Either sends the digests
    through a pipe, which the process that made this and any process forked from it read alike;
    `open()` gives the parse the same file, whatever its path names by then."""

    def __init__(self, path: Path, prefix_length: int) -> None:
        self.path = path
        self.prefix_length = prefix_length
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.size = os.fstat(self.fd).st_size
            self._pipe = list(os.pipe())  # [read end, write end]; -1 once closed here
        except BaseException:
            os.close(self.fd)
            raise
        self._owner = os.getpid()
        self._result: LogDigests | OSError | None = None
        try:
            self._helper: int | threading.Thread | None = self._start()
        except BaseException:
            for fd in (self.fd, *self._pipe):
                os.close(fd)
            raise

    def _start(self) -> int | threading.Thread | None:
        if self.size <= INLINE_HASH_BYTES:  # hashed sooner than a process is forked
            self._send()
            self._close_pipe_end(1)
            return None
        pid = -1
        if threading.active_count() == 1:  # else forking could copy another thread's held locks
            with contextlib.suppress(OSError):  # no process to spare: a thread does it
                pid = os.fork()
        if pid < 0:
            thread = threading.Thread(target=self._send, daemon=True, name="log-digests")
            thread.start()
            return thread
        if pid == 0:  # the helper process: send, and leave without any of the parent's exit work
            code = 1
            try:
                die_with_parent(self._owner)
                self._send()
                code = 0
            finally:
                os._exit(code)
        self._close_pipe_end(1)  # the helper's alone: its end closing tells a reader it is gone
        return pid

    def _send(self) -> None:
        try:
            found = hash_log(self.fd, self.prefix_length, self.size)
            message = orjson.dumps([found.prefix, found.whole])
        except Exception as error:  # whatever it is, a reader must not wait for ever
            message = orjson.dumps((error.strerror if isinstance(error, OSError) else None) or str(error))
        with contextlib.suppress(OSError):  # a short message: one write, never blocking
            os.write(self._pipe[1], message + b"\n")

    def open(self) -> BinaryIO:
        """A handle of the hashed file (its own descriptor; the helper reads by offset)."""
        return open(os.dup(self.fd), "rb")

    def ready(self) -> bool:
        """The digests are known (`digests()` would not wait)."""
        return self._result is not None or bool(select.select([self._pipe[0]], [], [], 0)[0])

    def digests(self) -> LogDigests:
        """The digests; an FsError naming the log if it could not be hashed."""
        if self._result is None:
            self._result = self._receive()
        if isinstance(self._result, OSError):
            raise FsError.wrap("cannot read", self._result, self.path)
        return self._result

    def _receive(self) -> LogDigests | OSError:
        """The helper's message (read once: a process forked from the one that made this reads
        it in place of that one, which then has no use for it)."""
        if os.getpid() != self._owner:
            self._close_pipe_end(1)  # a helper thread's, inherited: a reader must see it gone
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(self._pipe[0], 4096)
            if not chunk:  # the helper is gone (its process ended, or the one with its thread)
                try:
                    return hash_log(self.fd, self.prefix_length, self.size)
                except OSError as error:
                    return error
            data += chunk
        message = orjson.loads(data)
        if isinstance(message, str):
            return OSError(errno.EIO, message)
        return LogDigests(message[0], message[1])

    def _close_pipe_end(self, end: int) -> None:
        fd, self._pipe[end] = self._pipe[end], -1
        if fd >= 0:
            os.close(fd)

    def close(self) -> None:
        """End the helper (a process whose digests nobody read is stopped) and close the log
        and the pipe, in the process that made this."""
        helper = self._helper
        if isinstance(helper, threading.Thread):
            helper.join()
        elif helper is not None and os.getpid() == self._owner:
            if not self.ready():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(helper, signal.SIGKILL)
            os.waitpid(helper, 0)
        os.close(self.fd)
        self._close_pipe_end(0)
        self._close_pipe_end(1)


def hash_log(fd: int, prefix_length: int, size: int) -> LogDigests:
    """SHA-256 of the first `prefix_length` and of the first `size` bytes of `fd`, in one pass
    (by offset: the file position is left alone)."""
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(HASH_CHUNK))
    position = 0
    prefix = None
    for stop in sorted({min(prefix_length, size), size}):
        while position < stop:
            got = os.preadv(fd, [buffer[:min(HASH_CHUNK, stop - position)]], position)
            if got == 0:
                raise OSError(errno.EIO, f"it got shorter while it was read ({position:,} of {size:,} bytes)")
            digest.update(buffer[:got])
            position += got
        if stop == prefix_length:
            prefix = digest.hexdigest()
    return LogDigests(prefix, digest.hexdigest())


#: LogHashers started ahead of the parse (`prefetching`), by the log's absolute path.
_PREFETCHED: dict[str, LogHasher] = {}


@contextlib.contextmanager
def prefetching(log: Path, prefix_length: int) -> Iterator[None]:
    """Hash `log` from now on, for a parse of it that starts later in this process or in one
    forked from it (`log_hasher`): its first `prefix_length` bytes are those the last parse
    read (`likely_resume`), which the parse checks."""
    try:
        hasher = LogHasher(log, prefix_length)
    except OSError:  # the parse will say what is wrong
        yield
        return
    key = os.path.abspath(log)
    _PREFETCHED[key] = hasher
    try:
        yield
    finally:
        if _PREFETCHED.get(key) is hasher:
            del _PREFETCHED[key]
        hasher.close()


def log_hasher(log: Path, resume: ResumePoint | None) -> tuple[LogHasher, bool]:
    """A LogHasher for a parse from `resume`: the prefetched one if it checks the same prefix
    (any one serves a parse from the start), else a new one; True when the caller owns it."""
    prefetched = _PREFETCHED.get(os.path.abspath(log))
    if prefetched is not None and (resume is None or prefetched.prefix_length == resume.length):
        return prefetched, False
    return LogHasher(log, resume.length if resume else 0), True


def load_resume(log: Path, idir: Path, options: ParseOptions) -> ResumePoint | None:
    """The saved resume point, if the log is at least as long as the parse read. Whether it
    still starts with the same bytes is for the parse to check (`LogHasher`)."""
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


def likely_resume(log: Path, idir: Path, options: ParseOptions) -> tuple[int, int] | None:
    """Where a parse of `log` would resume and how many bytes the last one read, the log's
    bytes unchecked: a guess for scheduling (what a re-run after an append will read) and for
    hashing ahead, never for what the parse keeps."""
    try:
        found = _saved_point(log, idir, options)
    except OSError:  # the parse will say what is wrong
        return None
    return None if found is None else found[1:]


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
    before (the last HISTORY_POINTS are kept); `root` is OUT."""
    saved = {"format": STATE_FORMAT,
             "resume": {"offset": offset, "length": length, "digest": digest, "state": state, "streams": streams,
                        "history": [[o, d] for o, d in history[-HISTORY_POINTS:]]}}
    write_bytes(idir / PARSE_STATE_FILE, orjson.dumps(saved), root=root)
