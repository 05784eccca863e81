"""Reading the store from a module: only the files it subscribes to, streamed."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .streams import intermediate_dir

#: From this length on a store line (or a whole store JSON file) is parsed by the standard
#: library: orjson's parse of a line holding a large payload briefly takes ~13 times the line's
#: size (8.5 MB for a 650 KB guard dump; 4.5 MB for 11_large's 313 KB manifest, which most
#: modules read), the standard library's ~2 times, but ~2 times as long. Lines this long are a
#: handful in a 100 MB log (cache entries are often 64-128 KB: those stay with orjson), and both
#: give the same values for any line orjson reads.
BIG_LINE = 64 << 10
#: Read buffer of a store file iterated line by line. The default is the file system's block
#: (4 KB here), so a 20 KB metrics line took several reads and joins: iterating the 24 MB of
#: compilation_metrics.jsonl of a 100 MB log took 12-20 ms, against 3.6 ms with this buffer
#: (2 ms with 256 KB, which a module reading four streams at once would hold four times).
LINE_BUFFER = 1 << 16


def open_lines(path: Path) -> BinaryIO:
    """`path` opened for reading line by line (LINE_BUFFER)."""
    return open(path, "rb", buffering=LINE_BUFFER)


LINE_KEY = re.compile(rb'"line":(\d+)')  # a record's log line, its first `"line":` (JSON escapes a
# quote inside a string, so a payload cannot hold these bytes)


def naming(*names: bytes) -> Callable[[bytes], bool]:
    """Keep the lines holding one of `names`: `b'"guard_added_fast"'` finds a key or a value,
    never the word inside a payload."""
    return lambda line: any(name in line for name in names)


def at_lines(lines: Container[int]) -> Callable[[bytes], bool]:
    """Keep the records of these log lines."""
    def keep(line: bytes) -> bool:
        found = LINE_KEY.search(line)
        return found is not None and int(found.group(1)) in lines
    return keep


class SubscriptionError(PermissionError):
    """A module read a store file it did not declare in modules.yaml (it would go stale)."""


class StoreReader:
    """The store of one report as one module may see it."""

    def __init__(self, out: Path, module_id: str, subscriptions: tuple[str, ...] | None) -> None:
        self.root = intermediate_dir(out)
        self.module_id = module_id
        self.subscriptions = subscriptions  # None: any file (tests, tools)

    def path(self, name: str) -> Path:
        """The path of a subscribed file; refuses any other."""
        if self.subscriptions is not None and name not in self.subscriptions:
            raise SubscriptionError(
                f"module {self.module_id} reads {name}, which it does not subscribe to in modules.yaml")
        return self.root / name

    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        return self.read_json("manifest.json")  # type: ignore[no-any-return]

    def read_json(self, name: str) -> Any:
        data = self.path(name).read_bytes()
        return orjson.loads(data) if len(data) < BIG_LINE else json.loads(data)

    def read_jsonl(self, name: str, keep: Callable[[bytes], bool] | None = None, start: int = 0,
                   stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Stream the records of a JSONL file, one line at a time. With `keep`, only the lines
        it keeps are parsed (`naming`, `at_lines`): a module that wants a few records skips the
        others' payloads. `start` and `stop` are byte offsets at line starts (stable.py's sizes):
        only the lines between are read."""
        with open_lines(self.path(name)) as handle:
            if start:
                handle.seek(start)
            position = start
            for line in handle:
                if stop is not None:
                    if position >= stop:
                        break
                    position += len(line)
                if keep is not None and not keep(line):
                    continue
                if line.strip():
                    yield orjson.loads(line) if len(line) < BIG_LINE else json.loads(line)
