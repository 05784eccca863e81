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


def dumps_line(record: dict[str, Any]) -> bytes:
    """One JSONL line. orjson refuses integers beyond 64 bits and very deep nesting; the
    standard library writes both (as exact integers), so the record is kept whole."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass") + b"\n"


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
        body = serde_dumps(record, pretty=True)
        prefix = b",\n  " if self.count else b"\n  "
        self.handle.write(prefix + body.replace(b"\n", b"\n  "))
        self.count += 1

    def closing(self) -> bytes:
        return b"\n]" if self.count else b"]"


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
