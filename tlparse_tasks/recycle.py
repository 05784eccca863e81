"""Reuse the files of a replaced report for the new one, instead of deleting and creating.

Why: `--overwrite` replaces a report of thousands of files. On ext4, creating a file searches
its block group for a free inode and skips each one deleted in the last minute or so; after a
whole report was deleted, that search made most of a run's system time (perf: ~40% of a run in
`find_inode_bit`). So `--overwrite` moves the old report aside into OUT's pool (`retire`), and
while the run lasts every atomic write that needs a temp file takes one of the pool's files
instead of a new inode (`claim`): renamed to the temp name, overwritten from its start, cut to
the new length when closed (if it was longer), and renamed over its final name like any temp
file. What the new
report did not need is deleted at the end (`recycling`). A run killed halfway leaves the pool
behind; the next `tlparse` run on OUT takes it up, and `doit` runs delete it.

Only a regular file of ours with a single link is reused: the report's hard link to the input
log (`raw.log`) is never written into. The pool is `.recycle` in OUT, reached like every path
in OUT without following a link. Each process (workers, and the children of costly tasks,
which are forked) walks the pool on its own, starting at a different place; two processes
reaching for the same file is settled by the rename, which only one of them wins.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from .safepath import open_dir

POOL_NAME = ".recycle"
REUSE_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO swapped in never blocks


def pool_of(out: Path) -> Path:
    return out / POOL_NAME


def retire(out: Path, keep: frozenset[str]) -> None:
    """Move OUT's entries, except `keep` and the pool, into a new batch folder of the pool. An
    entry that cannot be moved (a mount point) is deleted, as --overwrite did before."""
    pool = pool_of(out)
    if pool.is_symlink() or (pool.exists() and not pool.is_dir()):
        pool.unlink()  # never moved into through a link
    pool.mkdir(exist_ok=True)
    batch = pool / secrets.token_hex(4)
    batch.mkdir()
    with os.scandir(out) as entries:
        names = [e.name for e in entries if e.name not in keep and e.name != POOL_NAME]
    for name in names:
        try:
            os.rename(out / name, batch / name)
        except OSError:
            _delete(out / name)


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


@contextlib.contextmanager
def recycling(out: Path, warnings: TextIO | None = None) -> Iterator[None]:
    """The body's writes take files from OUT's pool, if it has one; the pool goes at the end.
    What cannot be deleted then (another user's file, say) is left in the pool, and said in one
    line on `warnings`: the report itself is complete."""
    global _active
    pool = pool_of(out)
    if not pool.is_dir() or pool.is_symlink():
        yield
        return
    _active = Pool(out)
    try:
        yield
    finally:
        _active.close()
        _active = None
        problem = remove_pool(out)
        if problem and warnings is not None:
            print(f"Warning: {problem}", file=warnings)


def remove_pool(out: Path) -> str | None:
    """Delete the pool (its links are removed, never followed); what went wrong, if anything."""
    pool = pool_of(out)
    failed: list[str] = []

    def note(_function: Any, path: str, info: Any) -> None:
        failed.append(f"{path}: {getattr(info[1], 'strerror', None) or info[1]}")

    try:
        if pool.is_symlink():
            pool.unlink()
        elif pool.exists():
            shutil.rmtree(pool, onerror=note)
    except OSError as error:
        failed.append(f"{pool}: {error.strerror or error}")
    if not failed:
        return None
    return (f"{len(failed)} old file(s) of the replaced report could not be deleted and stay in {pool} "
            f"(first: {failed[0]})")


def claim(dir_fd: int, temp: str, mode: int) -> BinaryFile | None:
    """A reused file named `temp` in the directory `dir_fd`, with `mode`, opened for writing
    from its start (its old bytes past the end of what is written go when it is closed); None
    without a pool or once it is empty."""
    pool = _active
    if pool is None:
        return None
    if pool.pid != os.getpid():  # a forked process walks the pool on its own
        pool = pool.forked()
    return pool.claim(dir_fd, temp, mode)


class BinaryFile(io.FileIO):
    """A reused file: closing it cuts it where the writing stopped, if it was longer. Handed out
    only for temp files written from start to end in order, so that point is the new end."""

    old_size = 0

    def close(self) -> None:
        if self.closed:
            return
        try:
            end = self.tell()
            if end < self.old_size:
                os.ftruncate(self.fileno(), end)
        finally:
            super().close()


class Pool:
    """One process's walk over the pool: folder by folder, files first, in an order rotated
    by the process id so that concurrent processes mostly reach for different files."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.pid = os.getpid()
        self.uid = os.geteuid()
        self.pending: list[tuple[str, ...]] = [(POOL_NAME,)]
        self.fd = -1  # the folder whose files are being handed out
        self.files: list[str] = []
        self.empty = False

    def forked(self) -> Pool:
        global _active
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)  # the parent's copy stays open
        _active = Pool(self.out)
        return _active

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def claim(self, dir_fd: int, temp: str, mode: int) -> BinaryFile | None:
        while not self.empty:
            if not self.files and not self._next_folder():
                self.empty = True
                self.close()
                return None
            name = self.files.pop()
            try:
                os.rename(name, temp, src_dir_fd=self.fd, dst_dir_fd=dir_fd)
            except FileNotFoundError:
                continue  # another process took it
            except OSError:
                self.empty = True  # another filesystem, or no permission: create files as usual
                self.close()
                return None
            reused = _open_reusable(dir_fd, temp, mode, self.uid)
            if reused is not None:
                return reused
        return None

    def _next_folder(self) -> bool:
        """Load the files of the next folder that has any; False when none is left."""
        self.close()
        while self.pending:
            parts = self.pending.pop()
            try:
                self.fd = open_dir(self.out, parts, create=False)
                with os.scandir(self.fd) as entries:
                    listed = [(e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
                              for e in entries]
            except OSError:
                self.close()
                continue  # gone, or taken apart by another process meanwhile
            shift = self.pid % len(listed) if listed else 0
            listed = listed[shift:] + listed[:shift]
            self.pending.extend((*parts, name) for name, is_dir, _ in listed if is_dir)
            self.files = [name for name, _, is_file in listed if is_file]
            if self.files:
                return True
            self.close()
        return False


def _open_reusable(dir_fd: int, temp: str, mode: int, uid: int) -> BinaryFile | None:
    """`temp` opened for writing if it is a regular file of `uid`'s with no other link (given
    `mode`); else it is removed (dropping only this name of a file linked elsewhere) and None
    returned."""
    try:
        fd = os.open(temp, REUSE_FLAGS, dir_fd=dir_fd)
    except OSError:
        fd = -1
    if fd >= 0:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == uid:
            if stat.S_IMODE(st.st_mode) != mode:
                with contextlib.suppress(OSError):
                    os.fchmod(fd, mode)
            reused = BinaryFile(fd, "wb")
            reused.old_size = st.st_size
            return reused
        os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(temp, dir_fd=dir_fd)
    return None


_active: Pool | None = None
