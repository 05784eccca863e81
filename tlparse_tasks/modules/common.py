"""Helpers shared by report modules: value formatting, records and their outputs.

Views that templates show (frames, stacks, plural nouns) are in `kit.py`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson

from ..jsonfmt import serde_dumps
from ..module_api import ModuleContext
from ..rules.compile_id import display_of as display_of  # the one display rule, re-exported


def format_value(value: Any, as_float: bool = False) -> str:
    """A log value as legacy prints it: null → "", booleans lower case, floats as serde/ryu
    writes them (`0.0000391`, `1e-7`, `1e16`; not Python's `3.9e-05` or orjson's `1e+16`).
    `as_float` prints an integer in a float field as legacy's f64 does (`5` → `5.0`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if as_float and isinstance(value, int):
        value = float(value)
    if isinstance(value, (float, list, dict)):
        return serde_dumps(value, sort_keys=False).decode()
    return str(value)


def truthy(value: Any) -> bool:
    """Legacy template truthiness: 0, "", [], null and false are false; objects are true."""
    if isinstance(value, dict):
        return True
    return bool(value)


def depth_prefix(relative: str) -> str:
    """`../` repeated so that a page at `relative` can link to files at the report root."""
    return "../" * relative.count("/")


_ABSENT = object()


class StringTable(dict[str, str]):
    """The intern table: index (as a string, like the parse state) → name, noting every index
    looked up and not found. A module state made with it (record_state) describes pages that
    resolved their frames' file names with this table, so it holds only while the table still
    begins with the same names and the indices not found then are still not defined (a log
    that redefines an index, or defines one a frame named earlier, is read again)."""

    def __init__(self, table: list[str | None]) -> None:
        super().__init__((str(i), s) for i, s in enumerate(table) if s is not None)
        self.table = table
        self.missed: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        value = super().get(key, _ABSENT)
        if value is _ABSENT:
            self.missed.add(key)
            return default
        return value

    def __missing__(self, key: str) -> str:
        self.missed.add(key)
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        """What a state made with this table depends on."""
        return {"size": len(self.table), "digest": _digest(self.table), "missed": sorted(self.missed)}

    def keeps(self, saved: Any) -> bool:
        """This table resolves every index as the one `saved` (its `to_json`) did."""
        try:
            size, digest, missed = int(saved["size"]), str(saved["digest"]), list(saved["missed"])
        except (KeyError, TypeError, ValueError):
            return False
        return _digest(self.table[:size]) == digest and not any(
            dict.get(self, str(key)) is not None for key in missed)


def _digest(table: list[str | None]) -> str:
    return hashlib.blake2b(orjson.dumps(table), digest_size=16).hexdigest()


def load_strings(ctx: ModuleContext) -> StringTable:
    """The intern table (string_table.json)."""
    return StringTable(ctx.read_json("string_table.json")["string_table"])


def metadata_of(record: dict[str, Any]) -> dict[str, Any]:
    """A record's metadata as an object: an entry of a type this tool does not know may hold any
    JSON value (a string, a list, a number), which has no fields."""
    metadata = record.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def output_of(record: dict[str, Any], producer: str | None = None) -> dict[str, Any] | None:
    """The planned output of a record (by producer), or None if the parse planned none."""
    for output in record.get("outputs", ()):
        if producer is None or output["producer"] == producer:
            return output  # type: ignore[no-any-return]
    return None


def records(ctx: ModuleContext, stream: str, *types: str) -> Iterator[dict[str, Any]]:
    """Records of an intermediate JSONL stream, optionally only of some envelope types."""
    for record in ctx.read_jsonl(stream):
        if not types or record["type"] in types:
            yield record
