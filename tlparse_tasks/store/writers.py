"""Writers for the intermediate store: JSONL streams, the chromium events array and raw.jsonl.

A new stream is written into a temp file that replaces the real file at the end, only when its
bytes changed. A resumed one writes only what follows the part a previous run committed into its
temp file, and at the end appends it in place after that part, again only when it changed
(SafeDir.append_tail): a re-run after the log grew never copies the store. The report hard-links
raw.jsonl and chromium_events.json, which are never edited in place: their temp file starts as a
copy of the kept part (in the kernel where it can be) and replaces them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import orjson

from ..atomic import SafeDir
from ..jsonfmt import serde_dumps
from .streams import JSONL_STREAMS, RAW_JSONL

W = TypeVar("W", bound="StreamWriter")

#: Write buffer of a stream: tens of thousands of short lines go out in few system calls.
STREAM_BUFFER = 1 << 20
#: Levels a stored record may nest: orjson writes at most 254, and readers add a few of their own.
MAX_RECORD_DEPTH = 200
DEPTH_PLACEHOLDER = "(nested too deeply; left out)"


class RecordTooDeep(ValueError):
    """A record nests deeper than orjson writes; `limit_depth` makes it storable."""


def dumps_line(record: dict[str, Any]) -> bytes:
    """One JSONL line. orjson refuses integers beyond 64 bits; the standard library writes
    them as exact integers, so the record is kept whole. Nesting beyond orjson's limit raises
    RecordTooDeep: readers of the store could not handle it either."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError as error:
        if _is_recursion(error):
            raise RecordTooDeep(str(error)) from error
        try:
            return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8", "surrogatepass") + b"\n"
        except RecursionError as deep:
            raise RecordTooDeep(str(deep)) from deep


def limit_depth(value: Any, max_depth: int = MAX_RECORD_DEPTH,
                placeholder: str = DEPTH_PLACEHOLDER) -> Any:
    """A copy of a JSON value whose containers below `max_depth` levels are replaced by
    `placeholder`. Iterative, so any depth is safe."""
    top: list[Any] = [None]
    pending: list[tuple[Any, Any, Any, int]] = [(top, 0, value, 1)]
    while pending:
        parent, key, item, depth = pending.pop()
        if not isinstance(item, dict | list):
            parent[key] = item
        elif depth > max_depth:
            parent[key] = placeholder
        else:
            copy = dict(item) if isinstance(item, dict) else list(item)
            parent[key] = copy
            keys = item.keys() if isinstance(item, dict) else range(len(item))
            pending.extend((copy, k, copy[k], depth + 1) for k in keys if isinstance(copy[k], dict | list))
    return top[0]


class StreamWriter:
    """Appends records to `name` in `directory`, resuming after `keep_bytes` bytes (see above)."""

    IN_PLACE = True  # a resumed file gets its new part appended in place (not a linked format)

    def __init__(self, directory: SafeDir, name: str, keep_bytes: int = 0, keep_count: int = 0) -> None:
        self.dir = directory
        self.name = name
        self.path = directory.shown(name)
        self.temp = f".{name}.tmp"
        self.kept = keep_bytes if self.IN_PLACE else 0  # bytes of `name` left where they are
        self.handle: BinaryIO = directory.create(self.temp, name, STREAM_BUFFER)
        if keep_bytes and not self.IN_PLACE:
            try:
                with directory.open_read(name) as old:
                    copy_range(old.fileno(), self.handle.fileno(), 0, 0, keep_bytes)
            except OSError as error:
                self.abandon()
                raise directory.error("cannot write", error, name) from None
            self.handle.seek(keep_bytes)
        self.count = keep_count
        self.start()

    def start(self) -> None:
        """Hook for formats with a header."""

    def put(self, data: bytes) -> None:
        """Append bytes (a full disk is an error naming the file)."""
        try:
            self.handle.write(data)
        except OSError as error:
            raise self.dir.error("cannot write", error, self.name) from None

    def write(self, record: dict[str, Any]) -> None:
        self.put(dumps_line(record))
        self.count += 1

    def position(self) -> int:
        return self.kept + self.handle.tell()

    def closing(self) -> bytes:
        return b""

    def close(self) -> None:
        """Write the closing bytes and close the temp file: all but the commit (`finish`)."""
        if self.handle.closed:
            return
        self.put(self.closing())
        try:
            self.handle.close()
        except OSError as error:
            self.dir.discard(self.temp)
            raise self.dir.error("cannot write", error, self.name) from None

    def finish(self) -> bool:
        """Commit the new bytes; True when the file changed."""
        self.close()
        if self.kept:
            return self.dir.append_tail(self.temp, self.name, self.kept)
        return self.dir.commit(self.temp, self.name, make_room=True)  # a store file: see atomic.py

    def abandon(self) -> None:
        with contextlib.suppress(OSError):  # unflushed bytes of a failed write may fail again
            self.handle.close()
        self.dir.discard(self.temp)


class ChromiumArrayWriter(StreamWriter):
    """A pretty JSON array laid out as legacy writes `chromium_events.json`."""

    IN_PLACE = False  # hard-linked into the report

    def start(self) -> None:
        if self.handle.tell() == 0:
            self.put(b"[")

    def write(self, record: dict[str, Any]) -> None:
        """Nesting beyond orjson's limit raises RecordTooDeep; an integer beyond a double's
        range (which legacy's serde refuses to read) raises TypeError."""
        try:
            body = serde_dumps(record, pretty=True)
        except TypeError as error:
            if _is_recursion(error):
                raise RecordTooDeep(str(error)) from error
            body = self._doubles(record)
        self.put(b",\n  " if self.count else b"\n  ")
        self.put(body.replace(b"\n", b"\n  "))
        self.count += 1

    @staticmethod
    def _doubles(record: dict[str, Any]) -> bytes:
        """The event with integers beyond 64 bits as doubles, as serde reads and writes them."""
        try:
            return serde_dumps(big_ints_as_doubles(record), pretty=True)
        except TypeError as error:
            if _is_recursion(error):
                raise RecordTooDeep(str(error)) from error
            raise

    def closing(self) -> bytes:
        return b"\n]" if self.count else b"]"


def _is_recursion(error: TypeError) -> bool:
    return "recursion" in str(error).lower()


def big_ints_as_doubles(value: Any) -> Any:
    """A copy of a JSON value whose integers beyond 64 bits are doubles, as serde_json (and
    orjson) read them; TypeError when one is beyond a double's range, which serde refuses.
    Iterative, so any depth is safe."""
    top: list[Any] = [None]
    pending: list[tuple[Any, Any, Any]] = [(top, 0, value)]
    while pending:
        parent, key, item = pending.pop()
        if isinstance(item, dict | list):
            copy = dict(item) if isinstance(item, dict) else list(item)
            parent[key] = copy
            keys = item.keys() if isinstance(item, dict) else range(len(item))
            pending.extend((copy, k, copy[k]) for k in keys)
        elif isinstance(item, int) and not isinstance(item, bool) and not -(1 << 63) <= item < (1 << 64):
            try:
                parent[key] = float(item)
            except OverflowError:
                raise TypeError(f"an integer of {item.bit_length()} bits is beyond a double's range") from None
        else:
            parent[key] = item
    return top[0]


def raw_line(raw: dict[str, Any]) -> bytes:
    """One raw.jsonl line as legacy writes it (serde_json, sorted keys). Nesting beyond
    orjson's limit raises RecordTooDeep; integers beyond 64 bits (a glog thread id) are
    written as the store's readers read them back, as floats."""
    try:
        return serde_dumps(raw) + b"\n"
    except TypeError as error:
        if _is_recursion(error):
            raise RecordTooDeep(str(error)) from error
        return serde_dumps(orjson.loads(dumps_line(raw))) + b"\n"


class RawJsonlWriter:
    """`raw.jsonl`, byte for byte legacy's: the string-table line, then one line per envelope.

    The table is known only when the parse ends, so envelope lines go to a body temp file;
    `finish` writes the table, the body lines a resumed parse kept (copied from the old file,
    after its own table line) and the new ones into the final temp file. `keep_bytes` and
    `position()` count body bytes only, so a grown table does not invalidate a resume point.
    """

    def __init__(self, directory: SafeDir, name: str, keep_bytes: int = 0, keep_count: int = 0) -> None:
        self.dir = directory
        self.name = name
        self.temp = f".{name}.tmp"
        self.body_temp = f".{name}.body.tmp"
        self.kept = keep_bytes
        self.count = keep_count
        self.old_header = b""
        if keep_bytes:
            self.old_header = self._first_line()
            if self._size() < len(self.old_header) + keep_bytes:
                raise directory.error("cannot resume", OSError(errno.EIO, "shorter than its recorded size"), name)
        self.body: BinaryIO = directory.create(self.body_temp, name, STREAM_BUFFER)
        self.unchanged: bool | None = None  # known once closed

    def write(self, line: bytes) -> None:
        """One envelope line (from `raw_line`)."""
        try:
            self.body.write(line)
        except OSError as error:
            raise self.dir.error("cannot write", error, self.name) from None
        self.count += 1

    def position(self) -> int:
        return self.kept + self.body.tell()

    def lines(self) -> int:
        """Lines in the file: the string table and the envelopes."""
        return self.count + 1

    def close(self, header: bytes) -> None:
        """Write the whole file, `header` its first line, into its temp file: all but the
        commit (`finish`)."""
        if self.unchanged is not None:
            return
        try:
            self.body.close()
            new = os.stat(self.body_temp, dir_fd=self.dir.fd, follow_symlinks=False).st_size
            self.unchanged = (new == 0 and bool(self.kept) and header == self.old_header
                              and self._size() == len(header) + self.kept)
            if not self.unchanged:  # else: nothing appended and the same table, the file stays
                self._assemble(header, new)
        except OSError as error:
            self.abandon()
            raise self.dir.error("cannot write", error, self.name) from None
        self.dir.discard(self.body_temp)

    def finish(self, header: bytes) -> bool:
        """Commit the file with `header` as its first line; True when its bytes changed."""
        self.close(header)
        if self.unchanged:
            return False
        return self.dir.commit(self.temp, self.name, make_room=True)  # a store file: see atomic.py

    def _assemble(self, header: bytes, new: int) -> None:
        """The temp file: `header`, the kept body of the old file, then the new body lines."""
        with self.dir.create(self.temp, self.name) as target:
            target.write(header)
            target.flush()
            if self.kept:
                with self.dir.open_read(self.name) as old:
                    copy_range(old.fileno(), target.fileno(), len(self.old_header), len(header), self.kept)
            with self.dir.open_read(self.body_temp) as body:
                copy_range(body.fileno(), target.fileno(), 0, len(header) + self.kept, new)

    def _first_line(self) -> bytes:
        with self.dir.open_read(self.name) as handle:
            return handle.readline()

    def _size(self) -> int:
        st = self.dir.existing(self.name)
        return st.st_size if st is not None else 0

    def abandon(self) -> None:
        with contextlib.suppress(OSError):
            self.body.close()
        self.dir.discard(self.body_temp)
        self.dir.discard(self.temp)


class StoreWriters:
    """The store files being written, each continuing after what a resumed parse kept. `idir`
    is reached from `root` (OUT) without following links; `finish` or `abandon` closes it."""

    def __init__(self, idir: Path, kept: dict[str, tuple[int, int]], *, root: Path) -> None:
        self.dir = SafeDir(root, idir)
        self.streams: dict[str, StreamWriter] = {}
        self.by_file: dict[str, StreamWriter] = {}
        try:
            for name in JSONL_STREAMS:
                self.streams[name] = self._open(StreamWriter, f"{name}.jsonl", kept)
            self.chromium = self._open(ChromiumArrayWriter, "chromium_events.json", kept)
            size, count = kept.get(RAW_JSONL, (0, 0))
            self.raw = RawJsonlWriter(self.dir, RAW_JSONL, size, count)
        except BaseException:
            for writer in self.by_file.values():
                writer.abandon()
            self.dir.close()
            raise

    def _open(self, kind: type[W], name: str, kept: dict[str, tuple[int, int]]) -> W:
        size, count = kept.get(name, (0, 0))
        writer = self.by_file[name] = kind(self.dir, name, size, count)
        return writer

    def positions(self) -> dict[str, tuple[int, int]]:
        return {**{name: (writer.position(), writer.count) for name, writer in self.by_file.items()},
                RAW_JSONL: (self.raw.position(), self.raw.count)}

    def counts(self) -> dict[str, int]:
        return {**{name: writer.count for name, writer in self.by_file.items()}, RAW_JSONL: self.raw.lines()}

    def close(self, raw_header: bytes) -> None:
        """Write every file into its temp file (raw.jsonl headed by `raw_header`), committing
        none: what a parse can do before it knows it may commit."""
        try:
            for writer in self.by_file.values():
                writer.close()
            self.raw.close(raw_header)
        except BaseException:
            self.abandon()
            raise

    def finish(self, raw_header: bytes) -> list[str]:
        """Commit every file (raw.jsonl headed by `raw_header`); the names of those whose bytes changed."""
        try:
            self.close(raw_header)
            changed = [name for name, writer in self.by_file.items() if writer.finish()]
            return [*changed, RAW_JSONL] if self.raw.finish(raw_header) else changed
        except BaseException:
            self.abandon()
            raise
        finally:
            self.dir.close()

    def abandon(self) -> None:
        """Drop every temp file (after a failure or an interruption)."""
        if self.dir.fd < 0:
            return
        for writer in self.by_file.values():
            writer.abandon()
        self.raw.abandon()
        self.dir.close()


def copy_range(source: int, target: int, source_offset: int, target_offset: int, length: int) -> None:
    """Copy `length` bytes between file descriptors at explicit offsets (neither file position
    moves): in the kernel (copy_file_range, which may share blocks) where it can, else by reads."""
    copy: Callable[[int, int, int, int, int], int] = _kernel_copy if hasattr(os, "copy_file_range") else _user_copy
    while length:
        try:
            done = copy(source, target, source_offset, target_offset, length)
        except OSError:
            if copy is _user_copy:
                raise
            copy = _user_copy  # another filesystem or an old kernel: copy by hand
            continue
        if done == 0:
            raise OSError(f"a store file is shorter than its recorded size ({length} bytes missing)")
        source_offset += done
        target_offset += done
        length -= done


def _kernel_copy(source: int, target: int, source_offset: int, target_offset: int, length: int) -> int:
    return os.copy_file_range(source, target, length, source_offset, target_offset)


def _user_copy(source: int, target: int, source_offset: int, target_offset: int, length: int) -> int:
    chunk = os.pread(source, min(length, 1 << 20), source_offset)
    return os.pwrite(target, chunk, target_offset) if chunk else 0


def remove_stale_temps(directory: Path, *, root: Path) -> None:
    """Remove the temp files (`.*.tmp`) an interrupted run left in `directory` (inside `root`,
    reached without following links; made when missing)."""
    with SafeDir(root, directory) as safe:
        for name in os.listdir(safe.fd):
            if name.startswith(".") and name.endswith(".tmp"):
                st = os.stat(name, dir_fd=safe.fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    safe.discard(name)
