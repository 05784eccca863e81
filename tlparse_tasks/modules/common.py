"""Helpers shared by report modules: value formatting, stacks, records and their outputs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..jsonfmt import serde_dumps
from ..module_api import ModuleContext
from ..parse.stacks import frame_filename, simplify_filename
from ..rules.compile_id import UNKNOWN_DISPLAY, CompileId

EVAL_WITH_KEY = re.compile(r"<eval_with_key>\.([0-9]+)")


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


def display_of(directory: str) -> str:
    """`-_0_0_1` → `[0/0_1]`; `unknown_N` → `(unknown)`."""
    cid = CompileId.from_directory(directory)
    return cid.display if cid else UNKNOWN_DISPLAY


def depth_prefix(relative: str) -> str:
    """`../` repeated so that a page at `relative` can link to files at the report root."""
    return "../" * relative.count("/")


@dataclass(frozen=True)
class Frame:
    """One stack frame ready for a template."""

    filename: str
    line: Any
    name: str
    loc: str | None
    href: str | None  # dump_file/eval_with_key_N.html#LN for generated FX code

    @property
    def location(self) -> str:
        return f"{self.filename}:{format_value(self.line)}"


def load_strings(ctx: ModuleContext) -> dict[str, str]:
    """The intern table (string_table.json): index (as a string, like the parse state) → name."""
    table = ctx.read_json("string_table.json")["string_table"]
    return {str(i): s for i, s in enumerate(table) if s is not None}


def frames(stack: list[dict[str, Any]] | None, strings: dict[str, str]) -> list[Frame]:
    """Resolve a logged stack against the string table."""
    result = []
    for frame in stack or []:
        raw = frame_filename(frame, strings)
        match = EVAL_WITH_KEY.search(raw)
        href = f"dump_file/eval_with_key_{match.group(1)}.html#L{frame.get('line')}" if match else None
        result.append(Frame(simplify_filename(raw), frame.get("line"), str(frame.get("name", "")),
                            frame.get("loc"), href))
    return result


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
