"""A file's stamp: its size, mtime, inode and device, the one rule for "unchanged" everywhere.

doit's own checker calls a file with the same mtime unchanged, and every writer of ours replaces
a file or appends to it, which changes the stamp; so while a stamp stays the same the bytes do
too, and they need not be read or hashed again (the parse's up-to-date check, the run stamp, the
validated config's cache).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def stamp_of(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]


def file_stamp(path: Path | str) -> list[int] | None:
    """`path`'s stamp, None when it cannot be stat'ed."""
    try:
        return stamp_of(os.stat(path))
    except OSError:
        return None


def parsed_log_stamp(log: Path | str, parsed_size: int) -> list[int] | None:
    """The log's stamp, taken after the parse, if the log is then exactly as long as what the
    parse read: while the stamp stays the same, so do the parsed bytes. None when the log
    already grew (or is gone): the next check must look at it again."""
    stamp = file_stamp(log)
    return stamp if stamp is not None and stamp[0] == parsed_size else None


def labelled(path: Path | str, stamp: list[int] | None) -> list[Any]:
    """`[path, *stamp]`, or `[path, None]` without a stamp: the form a record of stamps keeps."""
    return [os.fspath(path), *stamp] if stamp is not None else [os.fspath(path), None]
