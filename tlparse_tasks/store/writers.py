"""Writers for the intermediate store: JSONL streams, the chromium events array and raw.jsonl.

Each stream is written into a temp file that starts as a copy of the part a previous run
already committed (for incremental append; copied in the kernel where it can be) and replaces
the real file at the end, only when its bytes changed. Files are never edited in place: the
report hard-links some of them (raw.jsonl, chromium_events.json).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ..atomic import replace_if_changed
from ..jsonfmt import serde_dumps
from .streams import JSONL_STREAMS, RAW_JSONL

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
        if "recursion" in str(error).lower():
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
    """Appends records to a temp copy of `path`, resuming after `keep_bytes` bytes."""

    def __init__(self, path: Path, keep_bytes: int = 0, keep_count: int = 0) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.tmp")
        self.handle: BinaryIO = open(self.temp, "wb")  # noqa: SIM115 - closed in finish()
        if keep_bytes:
            with open(path, "rb") as old:
                copy_range(old.fileno(), self.handle.fileno(), 0, 0, keep_bytes)
            self.handle.seek(keep_bytes)
        self.count = keep_count
        self.start()

    def start(self) -> None:
        """Hook for formats with a header."""

    def write(self, record: dict[str, Any]) -> None:
        self.handle.write(dumps_line(record))
        self.count += 1

    def position(self) -> int:
        return self.handle.tell()

    def closing(self) -> bytes:
        return b""

    def finish(self) -> bool:
        self.handle.write(self.closing())
        self.handle.close()
        return replace_if_changed(self.temp, self.path)

    def abandon(self) -> None:
        self.handle.close()
        self.temp.unlink(missing_ok=True)


class ChromiumArrayWriter(StreamWriter):
    """A pretty JSON array laid out as legacy writes `chromium_events.json`."""

    def start(self) -> None:
        if self.handle.tell() == 0:
            self.handle.write(b"[")

    def write(self, record: dict[str, Any]) -> None:
        try:
            body = serde_dumps(record, pretty=True)
        except TypeError as error:
            raise RecordTooDeep(str(error)) from error
        self.handle.write(b",\n  " if self.count else b"\n  ")
        self.handle.write(body.replace(b"\n", b"\n  "))
        self.count += 1

    def closing(self) -> bytes:
        return b"\n]" if self.count else b"]"


def raw_line(raw: dict[str, Any]) -> bytes:
    """One raw.jsonl line as legacy writes it (serde_json, sorted keys). Nesting beyond
    orjson's limit raises RecordTooDeep; integers beyond 64 bits (a glog thread id) are
    written as the store's readers read them back, as floats."""
    try:
        return serde_dumps(raw) + b"\n"
    except TypeError as error:
        if "recursion" in str(error).lower():
            raise RecordTooDeep(str(error)) from error
        return serde_dumps(orjson.loads(dumps_line(raw))) + b"\n"


class RawJsonlWriter:
    """`raw.jsonl`, byte for byte legacy's: the string-table line, then one line per envelope.

    The table is known only when the parse ends, so envelope lines go to a body temp file;
    `finish` writes the table, the body lines a resumed parse kept (copied from the old file,
    after its own table line) and the new ones into the final temp file. `keep_bytes` and
    `position()` count body bytes only, so a grown table does not invalidate a resume point.
    """

    def __init__(self, path: Path, keep_bytes: int = 0, keep_count: int = 0) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.tmp")
        self.body_path = path.with_name(f".{path.name}.body.tmp")
        self.kept = keep_bytes
        self.count = keep_count
        self.old_header = b""
        if keep_bytes:
            self.old_header = _first_line(path)
            if path.stat().st_size < len(self.old_header) + keep_bytes:
                raise OSError(f"{path} is shorter than its recorded size")
        self.body: BinaryIO = open(self.body_path, "wb")  # noqa: SIM115 - closed in finish()

    def write(self, line: bytes) -> None:
        """One envelope line (from `raw_line`)."""
        self.body.write(line)
        self.count += 1

    def position(self) -> int:
        return self.kept + self.body.tell()

    def lines(self) -> int:
        """Lines in the file: the string table and the envelopes."""
        return self.count + 1

    def finish(self, header: bytes) -> bool:
        """Write the file with `header` as its first line; True when its bytes changed."""
        self.body.close()
        new = self.body_path.stat().st_size
        if (new == 0 and self.kept and header == self.old_header
                and self.path.stat().st_size == len(header) + self.kept):
            self.body_path.unlink()  # nothing appended and the same table: leave the file alone
            return False
        with open(self.temp, "wb") as target:
            target.write(header)
            target.flush()
            if self.kept:
                with open(self.path, "rb") as old:
                    copy_range(old.fileno(), target.fileno(), len(self.old_header), len(header), self.kept)
            with open(self.body_path, "rb") as body:
                copy_range(body.fileno(), target.fileno(), 0, len(header) + self.kept, new)
        self.body_path.unlink()
        return replace_if_changed(self.temp, self.path)

    def abandon(self) -> None:
        self.body.close()
        self.body_path.unlink(missing_ok=True)
        self.temp.unlink(missing_ok=True)


def _first_line(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.readline()


class StoreWriters:
    """The store files being written, each continuing after what a resumed parse kept."""

    def __init__(self, idir: Path, kept: dict[str, tuple[int, int]]) -> None:
        self.streams: dict[str, StreamWriter] = {}
        for name in JSONL_STREAMS:
            size, count = kept.get(f"{name}.jsonl", (0, 0))
            self.streams[name] = StreamWriter(idir / f"{name}.jsonl", size, count)
        size, count = kept.get("chromium_events.json", (0, 0))
        self.chromium = ChromiumArrayWriter(idir / "chromium_events.json", size, count)
        size, count = kept.get(RAW_JSONL, (0, 0))
        self.raw = RawJsonlWriter(idir / RAW_JSONL, size, count)
        self.by_file: dict[str, StreamWriter] = {
            **{f"{name}.jsonl": writer for name, writer in self.streams.items()},
            "chromium_events.json": self.chromium}

    def positions(self) -> dict[str, tuple[int, int]]:
        return {**{name: (writer.position(), writer.count) for name, writer in self.by_file.items()},
                RAW_JSONL: (self.raw.position(), self.raw.count)}

    def counts(self) -> dict[str, int]:
        return {**{name: writer.count for name, writer in self.by_file.items()}, RAW_JSONL: self.raw.lines()}

    def finish(self, raw_header: bytes) -> list[str]:
        """Close every file (raw.jsonl headed by `raw_header`); the names of those whose bytes changed."""
        changed = [name for name, writer in self.by_file.items() if writer.finish()]
        return [*changed, RAW_JSONL] if self.raw.finish(raw_header) else changed

    def abandon(self) -> None:
        for writer in self.by_file.values():
            writer.abandon()
        self.raw.abandon()


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


def remove_stale_temps(directory: Path) -> None:
    for temp in directory.glob(".*.tmp"):
        temp.unlink(missing_ok=True)


def copy_file(source: Path, target: Path) -> None:
    temp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temp)
    os.replace(temp, target)
