"""The log's two SHA-256 digests, from one pass, by a helper that starts before anything else.

A parse needs the digest of the log's first `length` bytes, those the last parse read (the proof
that the log only grew: parse/resume.py), and of all it reads now (the manifest's, and the next
run's proof). One pass gives both (`LogHasher`), in a helper process. The `tlparse` command forks
it as soon as it has read its arguments (`prefetching`), before it imports the rest of itself and
doit, so that the hashing (100 MB: 0.05 s) runs on the core the start-up leaves idle; the parse,
forked later, receives the digests through a pipe.

This module imports nothing costly: the command imports it before the rest of itself. What the
helper needs beyond it (such as reading the saved point to learn `length`) it imports after the
fork, in its own process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import signal
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

if TYPE_CHECKING:
    import threading

HASH_CHUNK = 1 << 20
#: Logs up to this size are hashed at once (~2 ms), in less time than forking a helper takes.
INLINE_HASH_BYTES = 4 << 20

#: How many first bytes to check: a number, or a function of the log's size the helper calls to
#: find it (None: no parse is expected to need the digests).
PrefixLength = int | Callable[[int], int | None]


class LogDigests(NamedTuple):  # not a dataclass: importing dataclasses costs ~7 ms
    prefix_length: int
    prefix: str | None  # SHA-256 of the first `prefix_length` bytes (None: the log is shorter)
    whole: str  # SHA-256 of the first `size` bytes


class LogHasher:
    """The log, opened once, and its two digests (see above), computed from now on by a helper:
    of its first `prefix_length` bytes and of its first `size` bytes (its size now: the parse
    reads no further, so the manifest's digest is of exactly what it read).

    The helper is a forked process when this one runs a single thread (the command, a pool
    worker), else a thread; a log of at most INLINE_HASH_BYTES is hashed at once instead. A
    process shares no GIL: a thread waits for the GIL between two chunks while the parse or the
    start-up holds it, which made 0.05 s of hashing take 0.1 s. Either sends the digests
    through a pipe, which the process that made this and any process forked from it read alike;
    `open()` gives the parse the same file, whatever its path names by then."""

    def __init__(self, path: Path, prefix_length: PrefixLength) -> None:
        self.path = path
        self._prefix_length = prefix_length
        # never waiting for a writer: the command opens the path before it has checked it
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            st = os.fstat(self.fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
            self.size = st.st_size
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
        if _single_threaded():  # else forking could copy another thread's held locks
            with contextlib.suppress(OSError):  # no process to spare: a thread does it
                pid = os.fork()
        if pid < 0:
            import threading

            thread = threading.Thread(target=self._send, daemon=True, name="log-digests")
            thread.start()
            return thread
        if pid == 0:  # the helper process: send, and leave without any of the parent's exit work
            code = 1
            try:
                from ..orphans import die_with_parent

                die_with_parent(self._owner)
                self._send()
                code = 0
            finally:
                os._exit(code)
        self._close_pipe_end(1)  # the helper's alone: its end closing tells a reader it is gone
        return pid

    def _send(self) -> None:
        """Hash, and send one line: `<prefix length> <prefix digest or -> <whole digest>`,
        `none` when there was nothing to hash ahead, or `!<why it failed>`."""
        try:
            wanted = self._prefix_length
            length = wanted(self.size) if callable(wanted) else wanted
            if length is None:
                message = "none"
            else:
                found = hash_log(self.fd, length, self.size)
                message = f"{found.prefix_length} {found.prefix or '-'} {found.whole}"
        except Exception as error:  # whatever it is, a reader must not wait for ever
            reason = (error.strerror if isinstance(error, OSError) else None) or str(error)
            message = "!" + " ".join(reason.split())
        with contextlib.suppress(OSError):  # a short message: one write, never blocking
            os.write(self._pipe[1], message.encode() + b"\n")

    def open(self) -> BinaryIO:
        """A handle of the hashed file (its own descriptor; the helper reads by offset)."""
        return open(os.dup(self.fd), "rb")

    def ready(self) -> bool:
        """The helper is done (`digests()` would wait for no helper)."""
        return self._result is not None or bool(select.select([self._pipe[0]], [], [], 0)[0])

    def digests(self, prefix_length: int | None = None) -> LogDigests:
        """The digests, of the first `prefix_length` bytes (None: any) and of all; an FsError
        naming the log if it could not be hashed. When the helper checked another length (its
        guess of the saved point was wrong) or hashed nothing, this hashes the log itself."""
        if self._result is None:
            self._result = self._receive()
        found = self._result
        if isinstance(found, LogDigests) and prefix_length not in (None, found.prefix_length):
            found = self._hash_here(prefix_length)
        elif found is None:
            found = self._hash_here(prefix_length or 0)
        if isinstance(found, OSError):
            from ..fserrors import FsError

            raise FsError.wrap("cannot read", found, self.path)
        return found

    def _hash_here(self, prefix_length: int) -> LogDigests | OSError:
        try:
            found = hash_log(self.fd, prefix_length, self.size)
        except OSError as error:
            return error
        self._result = found
        return found

    def _receive(self) -> LogDigests | OSError | None:
        """The helper's message (read once: a process forked from the one that made this reads
        it in place of that one, which then has no use for it); None if it hashed nothing."""
        if os.getpid() != self._owner:
            self._close_pipe_end(1)  # a helper thread's, inherited: a reader must see it gone
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(self._pipe[0], 4096)
            if not chunk:  # the helper is gone (its process ended, or the one with its thread)
                return None
            data += chunk
        message = data.decode().rstrip("\n")
        if message.startswith("!"):
            return OSError(errno.EIO, message[1:])
        if message == "none":
            return None
        length, prefix, whole = message.split(" ")
        return LogDigests(int(length), None if prefix == "-" else prefix, whole)

    def _close_pipe_end(self, end: int) -> None:
        fd, self._pipe[end] = self._pipe[end], -1
        if fd >= 0:
            os.close(fd)

    def close(self) -> None:
        """End the helper (a process whose digests nobody read is stopped) and close the log
        and the pipe, in the process that made this."""
        helper = self._helper
        if helper is not None and not isinstance(helper, int):
            helper.join()
        elif helper is not None and os.getpid() == self._owner:
            if not self.ready():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(helper, signal.SIGKILL)
            os.waitpid(helper, 0)
        os.close(self.fd)
        self._close_pipe_end(0)
        self._close_pipe_end(1)


def _single_threaded() -> bool:
    """This process runs one thread (a process that never imported threading started none)."""
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


#: How a saved point begins (resume.save_resume writes its keys in this order).
_SAVED_POINT_START = re.compile(rb'\{"format":\d+,"resume":\{"offset":\d+,"length":(\d+),')


def length_to_check(state_file: Path, size: int) -> int | None:
    """The first bytes of a log of `size` bytes that its parse would check: those the last
    parse read, by the saved point in `state_file` (0 without one: a parse from the start
    checks none); None when the log has not grown since, as no parse is then expected.

    A guess, read from the file's first bytes without a JSON parser, so that the command's
    helper can start hashing before it imports one: the parse checks the point properly, and
    a guess that proves wrong costs one more pass over the log (`LogHasher.digests`)."""
    try:
        with open(state_file, "rb") as handle:
            found = _SAVED_POINT_START.match(handle.read(256))
    except OSError:
        return 0
    length = int(found.group(1)) if found else 0
    return None if length == size else length if length < size else 0


def hash_log(fd: int, prefix_length: int, size: int) -> LogDigests:
    """SHA-256 of the first `prefix_length` and of the first `size` bytes of `fd`, in one pass
    (by offset: the file position is left alone)."""
    import hashlib

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
    return LogDigests(prefix_length, prefix, digest.hexdigest())


#: LogHashers started ahead of the parse (`prefetching`), by the log's absolute path.
_PREFETCHED: dict[str, LogHasher] = {}


@contextlib.contextmanager
def prefetching(log: Path, prefix_length: PrefixLength) -> Iterator[None]:
    """Hash `log` from now on, for a parse of it that starts later in this process or in one
    forked from it (`log_hasher`). `prefix_length` is, or finds (`length_to_check`), the bytes
    the last parse read, which the parse checks."""
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


def log_hasher(log: Path, prefix_length: int) -> tuple[LogHasher, bool]:
    """A LogHasher for a parse of `log` that checks its first `prefix_length` bytes: the one
    started ahead, if any (`digests` hashes again if it guessed another length), else a new
    one; True when the caller owns it."""
    prefetched = _PREFETCHED.get(os.path.abspath(log))
    if prefetched is not None:
        return prefetched, False
    return LogHasher(log, prefix_length), True
