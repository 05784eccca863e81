"""Writers for the intermediate store: JSONL streams and the chromium events array.

Each stream is written into a temp file that starts as a copy of the part a previous run
already committed (for incremental append) and replaces the real file at the end, only when
its bytes changed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ..atomic import replace_if_changed
from ..jsonfmt import serde_dumps
from .streams import JSONL_STREAMS

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
                _copy_prefix(old, self.handle, keep_bytes)
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


class StoreWriters:
    """The store files being written, each continuing after what a resumed parse kept."""

    def __init__(self, idir: Path, kept: dict[str, tuple[int, int]]) -> None:
        self.streams: dict[str, StreamWriter] = {}
        for name in JSONL_STREAMS:
            size, count = kept.get(f"{name}.jsonl", (0, 0))
            self.streams[name] = StreamWriter(idir / f"{name}.jsonl", size, count)
        size, count = kept.get("chromium_events.json", (0, 0))
        self.chromium = ChromiumArrayWriter(idir / "chromium_events.json", size, count)
        self.by_file: dict[str, StreamWriter] = {
            **{f"{name}.jsonl": writer for name, writer in self.streams.items()},
            "chromium_events.json": self.chromium}

    def positions(self) -> dict[str, tuple[int, int]]:
        return {name: (writer.position(), writer.count) for name, writer in self.by_file.items()}

    def counts(self) -> dict[str, int]:
        return {name: writer.count for name, writer in self.by_file.items()}

    def finish(self) -> list[str]:
        """Close every file; the names of those whose bytes changed."""
        return [name for name, writer in self.by_file.items() if writer.finish()]

    def abandon(self) -> None:
        for writer in self.by_file.values():
            writer.abandon()


def _copy_prefix(source: BinaryIO, target: BinaryIO, length: int) -> None:
    remaining = length
    while remaining:
        chunk = source.read(min(remaining, 1 << 20))
        if not chunk:
            raise OSError(f"{source.name} is shorter than its recorded size")
        target.write(chunk)
        remaining -= len(chunk)


def remove_stale_temps(directory: Path) -> None:
    for temp in directory.glob(".*.tmp"):
        temp.unlink(missing_ok=True)


def copy_file(source: Path, target: Path) -> None:
    temp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temp)
    os.replace(temp, target)
