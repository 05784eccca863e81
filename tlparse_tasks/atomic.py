"""Atomic, change-only file writes.

Unchanged files keep their bytes and mtime, so doit's md5 check sees them as up to date and
the modules that read them are skipped; an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import filecmp
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def replace_if_changed(temp: Path, final: Path) -> bool:
    """Move `temp` over `final` unless the bytes are identical. Returns True if replaced."""
    if final.exists() and final.stat().st_size == temp.stat().st_size and filecmp.cmp(temp, final, shallow=False):
        temp.unlink()
        return False
    os.replace(temp, final)
    return True


def write_bytes(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically, only if it differs. Returns True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(temp, 0o644)  # mkstemp makes 0600; reports are meant to be shared
    os.replace(temp, path)
    return True


def write_text(path: Path, text: str) -> bool:
    return write_bytes(path, text.encode("utf-8", "surrogateescape"))


def write_chunks(path: Path, chunks: Iterable[bytes]) -> bool:
    """Stream `chunks` into `path` atomically (no whole-file buffer), replacing only on change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.chmod(temp, 0o644)
    except BaseException:
        os.unlink(temp)
        raise
    return replace_if_changed(Path(temp), path)


def link_or_copy(source: Path, path: Path) -> bool:
    """Make `path` hold `source`'s bytes without storing them twice: a hard link when the two
    share a filesystem, else a copy. Atomic (a temp name, then `os.replace`), never writing
    into `source`: every writer in this tool replaces files, so a linked file is never edited
    in place. Returns True if `path` changed."""
    try:
        if path.exists() and os.path.samefile(source, path):
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name[:40]}.{os.getpid()}.link.tmp")
    temp.unlink(missing_ok=True)
    try:
        os.link(source, temp)
    except OSError:  # another filesystem, or links not allowed
        with open(source, "rb") as src:
            return write_chunks(path, iter(lambda: src.read(1 << 20), b""))
    os.replace(temp, path)
    return True
