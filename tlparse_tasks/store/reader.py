"""Reading the store from a module: only the files it subscribes to, streamed."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .streams import intermediate_dir

#: From this length on a store line is parsed by the standard library: orjson's parse of a line
#: holding a large payload briefly takes ~13 times the line's size (8.5 MB for a 650 KB guard
#: dump), the standard library's ~2 times, at ~0.5 ms per MB more. Lines this long are few (a
#: few hundred in a 100 MB log) and both give the same values for any line orjson reads.
BIG_LINE = 64 << 10


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
        return orjson.loads(self.path(name).read_bytes())

    def read_jsonl(self, name: str, naming: tuple[bytes, ...] = (), start: int = 0,
                   stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Stream the records of a JSONL file, one line at a time. With `naming`, only the lines
        holding one of those byte strings are parsed: a module that wants a few types skips
        the others' payloads (JSON escapes a quote inside a string, so `b'"name"'` finds a key
        or a value `name`, not the word inside a payload). `start` and `stop` are byte offsets
        at line starts (stable.py's sizes): only the lines between are read."""
        with open(self.path(name), "rb") as handle:
            if start:
                handle.seek(start)
            position = start
            for line in handle:
                if stop is not None:
                    if position >= stop:
                        break
                    position += len(line)
                if naming and not any(needle in line for needle in naming):
                    continue
                if line.strip():
                    yield orjson.loads(line) if len(line) < BIG_LINE else json.loads(line)
