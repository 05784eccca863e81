"""Atomic, change-only file writes inside OUT that never go through a symbolic link.

Unchanged files keep their bytes and mtime, so doit's md5 check sees them as up to date and
the modules that read them are skipped. A file is written into a temp file beside it
(`.<name>.<random>.tmp`) and moved over it with `os.replace`, so an interrupted run never leaves
a half-written file in place: a failed write removes its temp file, and one that a killed run
left is swept by the next run (lock.sweep_temps, store.writers.remove_stale_temps).

One exception, for the intermediate store's streams only (`SafeDir.append_tail`): a resumed
parse appends its new records in place after the part it kept, so a re-run never copies the
whole store. Cut short, such a file is longer than its resume point says, and the next parse
cuts it back before anything reads it (parse/resume.py; modules never run after a failed parse).

The intermediate store's files and hard links are not renamed over the old ones (`make_room`:
the old name is removed first), as they are big and just written: ext4 (`auto_da_alloc`)
starts writing back a file renamed over another inside rename() itself, and after the 60 MB of
raw.jsonl and chromium_events.json that a re-run after an append writes again, the next small
rename waited ~10-20 ms for the disk's queue. The name is missing for a moment: a run killed
then leaves the store without the file (the next parse starts again from the start) or the
report without its link (the next run, warned by the run journal, runs every task again). As
with any other write, nothing is forced to disk.

Links (the rule is safepath's): every write names OUT as its `root`. The directories from OUT
down are opened one at a time with `O_NOFOLLOW`, and the temp file is created, read back,
renamed and hard-linked relative to its directory's descriptor. A symbolic link where one of
our directories or files belongs stops the write with a one-line `FsError` naming it; nothing
is read, written or replaced through it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import stat
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .fserrors import FsError, link_refused
from .recycle import claim
from .safepath import is_link_at, open_dir, parts_below

CHUNK = 1 << 20
FILE_MODE = 0o644  # reports are meant to be shared
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
WRITE_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC  # an existing file, changed in place


class SafeDir:
    """A directory inside OUT reached without following a link (made when missing, unless
    `create` is False); files in it are handled by name relative to its descriptor. Errors
    name the final file, as the user knows it."""

    def __init__(self, root: Path, path: Path, create: bool = True) -> None:
        self.path = path
        self.fd = open_dir(root, parts_below(root, path), create)

    def __enter__(self) -> SafeDir:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def shown(self, name: str) -> Path:
        return self.path / name

    def error(self, what: str, error: OSError, name: str) -> FsError:
        return FsError.wrap(what, error, self.shown(name))

    def existing(self, name: str) -> os.stat_result | None:
        """`name`'s status (None when missing), refusing a symbolic link."""
        try:
            st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self.error("cannot check", error, name) from None
        if stat.S_ISLNK(st.st_mode):
            raise link_refused(self.shown(name))
        return st

    def open_read(self, name: str) -> BinaryIO:
        """`name` opened for reading, never through a link."""
        try:
            fd = os.open(name, READ_FLAGS, dir_fd=self.fd)
        except OSError as error:
            if is_link_at(self.fd, name):
                raise link_refused(self.shown(name)) from None
            raise self.error("cannot read", error, name) from None
        return os.fdopen(fd, "rb")

    def create(self, temp: str, final: str, buffering: int = -1) -> BinaryIO:
        """A new empty file `temp` (one of that name left by an earlier run is removed first)
        on the way to `final`; `buffering` as open()'s."""
        self.discard(temp)
        return self._create(temp, final, buffering)

    def new_temp(self, final: str) -> tuple[str, BinaryIO]:
        """A fresh temp file beside `final`: its name and its handle, to be written in order.
        While an overwritten report's files are being reused, it is one of those (recycle)."""
        while True:
            temp = f".{final[:40]}.{secrets.token_hex(6)}.tmp"
            reused = claim(self.fd, temp, FILE_MODE)
            if reused is not None:
                return temp, io.BufferedWriter(reused)
            try:
                return temp, self._create(temp, final)
            except FsError as error:
                if error.errno != errno.EEXIST:
                    raise

    def _create(self, temp: str, final: str, buffering: int = -1) -> BinaryIO:
        try:
            fd = os.open(temp, CREATE_FLAGS, FILE_MODE, dir_fd=self.fd)
        except OSError as error:
            raise self.error("cannot write", error, final) from None
        with contextlib.suppress(OSError):
            os.fchmod(fd, FILE_MODE)  # whatever the umask: reports are shared
        return os.fdopen(fd, "wb", buffering)

    def fill(self, temp: str, final: str, handle: BinaryIO, chunks: Iterable[bytes]) -> None:
        """Write `chunks` into the temp file and close it; on failure the temp file goes. An
        error reading the chunks' source keeps its own file name."""
        try:
            with handle:
                for chunk in chunks:
                    handle.write(chunk)
        except OSError as error:
            self.discard(temp)
            raise (error if error.filename is not None else self.error("cannot write", error, final)) from None
        except BaseException:
            self.discard(temp)
            raise

    def discard(self, temp: str) -> None:
        """Remove a temp file if it is there (cleanup: errors are not the story)."""
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=self.fd)

    def replace(self, temp: str, final: str, *, make_room: bool = False) -> None:
        """Move `temp` over `final` (refusing a link at `final`). With `make_room`, `final`
        is removed first and `temp` renamed into the free name (see the module's docstring)."""
        try:
            if self.existing(final) is not None and make_room:
                os.unlink(final, dir_fd=self.fd)
            os.replace(temp, final, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as error:
            self.discard(temp)
            raise self.error("cannot write", error, final) from None

    def commit(self, temp: str, final: str, *, make_room: bool = False) -> bool:
        """Move `temp` over `final` unless the bytes are the same; True if replaced."""
        try:
            same = self._same_files(temp, final)
        except BaseException:
            self.discard(temp)
            raise
        if same:
            self.discard(temp)
            return False
        self.replace(temp, final, make_room=make_room)
        return True

    def holds(self, final: str, data: bytes) -> bool:
        """`final` exists and holds exactly `data`."""
        st = self.existing(final)
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        view = memoryview(data)
        with self.open_read(final) as old:
            return _same_chunks(_chunks(old), (view[i:i + CHUNK] for i in range(0, len(data), CHUNK)))

    def append_tail(self, temp: str, final: str, offset: int) -> bool:
        """Make `final` its first `offset` bytes followed by `temp`'s, in place (no copy of those
        bytes), unless it already is; `temp` goes either way. True if `final` changed."""
        try:
            tail = os.stat(temp, dir_fd=self.fd, follow_symlinks=False).st_size
            st = self.existing(final)
            if st is None or not stat.S_ISREG(st.st_mode) or st.st_size < offset:
                raise OSError(errno.ENOENT, "the file to append to is missing or shorter than its kept part")
            with self.open_read(temp) as new:
                if st.st_size == offset + tail:
                    with self.open_read(final) as old:
                        old.seek(offset)
                        if _same_chunks(_chunks(old), _chunks(new)):
                            return False
                    new.seek(0)
                fd = os.open(final, WRITE_FLAGS, dir_fd=self.fd)
                try:
                    os.ftruncate(fd, offset)
                    position = offset
                    for chunk in _chunks(new):
                        view = memoryview(chunk)
                        while view:
                            done = os.pwrite(fd, view, position)
                            position += done
                            view = view[done:]
                finally:
                    os.close(fd)
        except OSError as error:
            raise self.error("cannot write", error, final) from None
        finally:
            self.discard(temp)
        return True

    def _same_files(self, temp: str, final: str) -> bool:
        st = self.existing(final)
        if st is None or not stat.S_ISREG(st.st_mode):
            return False
        with self.open_read(temp) as new:
            if os.fstat(new.fileno()).st_size != st.st_size:
                return False
            with self.open_read(final) as old:
                return _same_chunks(_chunks(old), _chunks(new))


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    return iter(lambda: handle.read(CHUNK), b"")


def _same_chunks(left: Iterator[bytes], right: Iterable[bytes | memoryview]) -> bool:
    """Two byte streams of equal total size hold the same bytes (chunks of CHUNK each)."""
    return all(a == b for a, b in zip(left, right, strict=False))


class DirCache:
    """Directories of OUT kept open across many writes: a module writing thousands of files
    into a few hundred folders opens the chain from OUT once per folder, not once per file.
    The most recently used `size` stay open; `close()` closes them. A cached descriptor was
    opened by SafeDir's rule, so a link planted later is not followed through it either."""

    def __init__(self, root: Path, size: int = 32) -> None:
        self.root = root
        self.size = size
        self.open: OrderedDict[Path, SafeDir] = OrderedDict()

    def get(self, path: Path) -> SafeDir:
        directory = self.open.get(path)
        if directory is not None:
            self.open.move_to_end(path)
            return directory
        directory = self.open[path] = SafeDir(self.root, path)
        if len(self.open) > self.size:
            self.open.popitem(last=False)[1].close()
        return directory

    def close(self) -> None:
        while self.open:
            self.open.popitem()[1].close()

    def __del__(self) -> None:  # a context used without close() (tests) leaks no descriptors
        self.close()


@contextlib.contextmanager
def _directory(path: Path, root: Path, dirs: DirCache | None) -> Iterator[SafeDir]:
    """`path`'s SafeDir: from `dirs` (left open) or opened for this one write."""
    if dirs is not None:
        yield dirs.get(path)
        return
    with SafeDir(root, path) as directory:
        yield directory


def make_dir(path: Path, *, root: Path) -> None:
    """`path` (inside `root`) and its parents, never through a link."""
    SafeDir(root, path).close()


def write_bytes(path: Path, data: bytes, *, root: Path, dirs: DirCache | None = None) -> bool:
    """Write `data` to `path` (inside `root`, OUT) atomically, only if it differs. Returns True
    if written. `dirs` keeps the folder open for the next write there."""
    with _directory(path.parent, root, dirs) as directory:
        if directory.holds(path.name, data):
            return False
        temp, handle = directory.new_temp(path.name)
        directory.fill(temp, path.name, handle, [data])
        directory.replace(temp, path.name)
        return True


def write_text(path: Path, text: str, *, root: Path) -> bool:
    return write_bytes(path, text.encode("utf-8", "surrogateescape"), root=root)


def write_chunks(path: Path, chunks: Iterable[bytes], *, root: Path, dirs: DirCache | None = None) -> bool:
    """Stream `chunks` into `path` (inside `root`) atomically (no whole-file buffer), replacing
    only on change."""
    with _directory(path.parent, root, dirs) as directory:
        temp, handle = directory.new_temp(path.name)
        directory.fill(temp, path.name, handle, chunks)
        return directory.commit(temp, path.name)


def link_or_copy(source: Path, path: Path, *, root: Path) -> bool:
    """Make `path` (inside `root`) hold `source`'s bytes without storing them twice: a hard
    link when the two share a filesystem, else a copy. A `source` inside `root` (a store file)
    is reached without following links too; one outside it (the log) is the user's path.
    Atomic (a temp name, then `os.replace`), never writing into `source`: every writer in this
    tool replaces files, so a linked file is never edited in place. Returns True if `path`
    changed."""
    with SafeDir(root, path.parent) as target, _origin(source, root) as origin:
        here = target.existing(path.name)
        there = _source_status(source, origin)
        if here is not None and (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino):
            return False
        temp = f".{path.name[:40]}.{os.getpid()}.link.tmp"
        target.discard(temp)
        try:
            _hard_link(source, origin, target, temp)
        except FsError:
            raise
        except OSError:  # another filesystem, or links not allowed: copy
            with origin.open_read(source.name) if origin else _open_source(source) as src:
                temp, handle = target.new_temp(path.name)
                target.fill(temp, path.name, handle, _chunks(src))
            return target.commit(temp, path.name)
        target.replace(temp, path.name, make_room=True)  # its bytes are often just written
        return True


def _origin(source: Path, root: Path) -> contextlib.AbstractContextManager[SafeDir | None]:
    """`source`'s directory when it lies inside `root` (else None)."""
    try:
        parts_below(root, source)
    except ValueError:
        return contextlib.nullcontext(None)
    return SafeDir(root, source.parent, create=False)


def _source_status(source: Path, origin: SafeDir | None) -> os.stat_result:
    if origin is not None:
        st = origin.existing(source.name)
        if st is None:
            raise FsError("cannot read", errno.ENOENT, os.strerror(errno.ENOENT), source)
        return st
    try:
        return os.stat(source)
    except OSError as error:
        raise FsError.wrap("cannot read", error, source) from None


def _open_source(source: Path) -> BinaryIO:
    try:
        return open(source, "rb")
    except OSError as error:
        raise FsError.wrap("cannot read", error, source) from None


def _hard_link(source: Path, origin: SafeDir | None, target: SafeDir, temp: str) -> None:
    """Hard-link `source` as `temp` in `target`. Inside OUT the link is made to the file
    itself (not a link it became meanwhile: checked after)."""
    if origin is None:
        os.link(source, temp, dst_dir_fd=target.fd)
        return
    os.link(source.name, temp, src_dir_fd=origin.fd, dst_dir_fd=target.fd, follow_symlinks=False)
    if is_link_at(target.fd, temp):
        target.discard(temp)
        raise link_refused(source)
