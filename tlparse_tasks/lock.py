"""One run per OUT, and a dependency DB that is trusted only after a run that finished.

`out_lock` takes an exclusive `flock` on `OUT/.tlparse.lock` for the whole run (the `tlparse`
command, `doit` through dodo.py, each rank of `--all-ranks-html`); a second run waits for it or,
with `--no-wait`, fails at once. The lock file is opened without following a symlink, and is
never deleted by a run, so every run locks the same inode.

doit writes its DB only when a run ends (and on Ctrl-C it writes what finished, while a task that
was cut short keeps the record of its last good run). So `begin_run` leaves a marker beside the
DB before any task runs, and only a run whose task loop ended normally removes it
(`end_run`). A run that finds the marker forgets the DB (every task runs again) and sweeps the
temp files an interrupted atomic write may have left.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import signal
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

LOCK_NAME = ".tlparse.lock"
#: Beside the DB (`<db>` + this): present while a run that may have changed OUT is unfinished.
INCOMPLETE_SUFFIX = ".incomplete"
#: Files sqlite may keep beside its DB.
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")
#: atomic.py's temp names: `.<name>.<random>.tmp` and `.<name>.<pid>.link.tmp`.
TEMP_NAME = re.compile(r"^\..+\.tmp$")


class LockError(Exception):
    """OUT cannot be locked: it is busy (with `wait=False`) or its lock file is unsafe."""


def _open_lock_file(out: Path) -> int:
    """Open (creating) the lock file, never through a symlink, and only a regular file."""
    path = out / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise LockError(f"{path} is a symbolic link; refusing to use it as the lock") from None
        raise LockError(f"cannot open the lock file {path}: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LockError(f"{path} is not a regular file; refusing to use it as the lock")
    return fd


def _still_linked(fd: int, path: Path) -> bool:
    """The locked file is still the one at `path` (not unlinked or replaced meanwhile)."""
    try:
        here = os.lstat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def acquire(out: Path, wait: bool = True, stream: TextIO | None = None) -> int:
    """Lock OUT (created if missing); returns the locked descriptor. Says once when it waits."""
    if out.exists() and not out.is_dir():
        raise LockError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    announced = False
    while True:
        fd = _open_lock_file(out)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                os.close(fd)
                raise LockError(f"another tlparse run is using {out}; try again when it has "
                                "finished (or drop --no-wait to wait for it)") from None
            if not announced:
                print(f"Waiting for another tlparse run to finish with {out} ...",
                      file=stream or sys.stderr, flush=True)
                announced = True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        if _still_linked(fd, out / LOCK_NAME):
            return fd  # empty: it holds no state, so two reports of one log stay byte-identical
        os.close(fd)  # someone removed OUT (or the lock) meanwhile: lock the new one


def release(fd: int) -> None:
    """Unlock (closing the descriptor releases the flock; the file stays for the next run)."""
    os.close(fd)


@contextmanager
def out_lock(out: Path, wait: bool = True, stream: TextIO | None = None) -> Iterator[None]:
    """Hold OUT's lock for the body."""
    fd = acquire(out, wait, stream)
    try:
        yield
    finally:
        release(fd)


# -- the run journal: is the dependency DB to be trusted? ----------------------------------------

def incomplete_marker(db: Path) -> Path:
    return db.with_name(db.name + INCOMPLETE_SUFFIX)


def begin_run(db: Path, log: Path | None = None) -> bool:
    """Call with OUT locked, before doit opens `db`. If the last run did not finish, forget
    its DB and sweep its temp files. Returns True when it did (the run redoes every task).
    The marker names the log, so a report whose first run died before its manifest was
    written is still known as this log's report (unfinished_run_of)."""
    marker = incomplete_marker(db)
    recovering = marker.exists() or marker.is_symlink()
    if recovering:
        forget_db(db)
        sweep_temps(db.parent)
    _write_marker(marker, str(log.resolve()) if log is not None else "")
    return recovering


def _write_marker(marker: Path, log: str) -> None:
    """Create the marker (not through a symlink); it must be on disk before any task runs."""
    marker.unlink(missing_ok=True)
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, json.dumps({"pid": os.getpid(), "log": log}).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def unfinished_run_of(db: Path) -> str | None:
    """The log (resolved path) of the unfinished run that left its marker beside `db`, if any."""
    marker = incomplete_marker(db)
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        log = json.loads(marker.read_bytes()).get("log")
    except (OSError, ValueError, AttributeError):
        return None
    return log if isinstance(log, str) and log else None


def end_run(db: Path) -> None:
    """The run's task loop ended normally and doit has written its DB: trust it again."""
    incomplete_marker(db).unlink(missing_ok=True)


def forget_db(db: Path) -> None:
    """Remove the DB and sqlite's side files: every task is then out of date."""
    for path in (db, *(db.with_name(db.name + side) for side in SQLITE_SIDE_FILES)):
        path.unlink(missing_ok=True)


def sweep_temps(out: Path) -> list[str]:
    """Remove the temp files of atomic writes that an interrupted run left in OUT (never
    following a symlinked directory). Returns them, relative to OUT."""
    removed = []
    for directory, _dirs, files in os.walk(out):
        for name in files:
            if TEMP_NAME.match(name):
                path = Path(directory) / name
                path.unlink(missing_ok=True)
                removed.append(path.relative_to(out).as_posix())
    return removed


# -- SIGTERM ------------------------------------------------------------------------------------

class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every cleanup path that handles one handles both."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """In the body, SIGTERM unwinds like Ctrl-C (workers stopped, lock released)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
