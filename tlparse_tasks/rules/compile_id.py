"""Compile ids: the four optional counters torch attaches to every envelope.

Legacy has three views of one id (display, file directory, grouping key); all of them are
derived here so that every stage agrees on them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

COMPILE_ID_KEYS = ("compiled_autograd_id", "frame_id", "frame_compile_id", "attempt")
UNKNOWN_GROUP = "unknown"
UNKNOWN_DISPLAY = "(unknown)"
#: Distinct directory names remembered by the lookups of one (`_from_directory`,
#: `group_of_directory`, `display_of`): modules ask once per record, thousands of records per
#: compile id.
KNOWN_DIRECTORIES = 1 << 14


def _is_u32(value: Any) -> bool:
    return type(value) is int and 0 <= value <= 0xFFFFFFFF


@dataclass(frozen=True)
class CompileId:
    """A compile id whose parts may each be missing (None)."""

    compiled_autograd_id: int | None = None
    frame_id: int | None = None
    frame_compile_id: int | None = None
    attempt: int | None = None

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> CompileId | None:
        """The id of an envelope; None when a compile-id key has the wrong type (legacy)."""
        parts = []
        for key in COMPILE_ID_KEYS:
            value = envelope.get(key)
            if value is not None and not _is_u32(value):
                return None
            parts.append(value)
        return cls(*parts)

    @property
    def display(self) -> str:
        """`[0/0]`, `[0/0_1]`, `[!1/2/3]`, `[-/-]`."""
        text = "["
        if self.compiled_autograd_id is not None:
            text += f"!{self.compiled_autograd_id}/"
        text += f"{_dash(self.frame_id)}/{_dash(self.frame_compile_id)}"
        if self.attempt:
            text += f"_{self.attempt}"
        return text + "]"

    @property
    def directory(self) -> str:
        """The directory form used in file paths: `-_0_0_0`, `0_-_-_-`."""
        return "_".join(_dash(p) for p in (self.compiled_autograd_id, self.frame_id,
                                            self.frame_compile_id, self.attempt))

    def grouped(self) -> CompileId:
        """The index/grouping key: a missing attempt counts as 0 when frame_compile_id is set."""
        if self.frame_compile_id is not None and self.attempt is None:
            return CompileId(self.compiled_autograd_id, self.frame_id, self.frame_compile_id, 0)
        return self

    def metrics_key(self) -> CompileId:
        """Metrics and stacks are looked up with attempt forced to 0 (legacy "data migration")."""
        if self.frame_compile_id is not None:
            return CompileId(self.compiled_autograd_id, self.frame_id, self.frame_compile_id, 0)
        return self

    @classmethod
    def from_directory(cls, directory: str) -> CompileId | None:
        """Inverse of `directory`; None for `unknown_N` or anything malformed."""
        return _from_directory(directory)


@functools.lru_cache(maxsize=KNOWN_DIRECTORIES)
def _from_directory(directory: str) -> CompileId | None:
    """`CompileId.from_directory`, remembered: a frozen dataclass is slow to make (~3 µs), and
    the modules ask for the same few hundred ids thousands of times."""
    parts = directory.split("_")
    if len(parts) != 4:
        return None
    values: list[int | None] = []
    for part in parts:
        if part == "-":
            values.append(None)
        elif part.isdigit():
            values.append(int(part))
        else:
            return None
    return CompileId(*values)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def unknown_directory(line: int) -> str:
    """File directory for an entry whose compile id could not be read."""
    return f"unknown_{line}"


@functools.lru_cache(maxsize=KNOWN_DIRECTORIES)
def group_of_directory(directory: str) -> tuple[str, str]:
    """(group directory, display) for a raw directory name, as the index groups entries."""
    cid = CompileId.from_directory(directory)
    if cid is None:
        return UNKNOWN_GROUP, UNKNOWN_DISPLAY
    grouped = cid.grouped()
    return grouped.directory, grouped.display


@functools.lru_cache(maxsize=KNOWN_DIRECTORIES)
def display_of(directory: str) -> str:
    """`-_0_0_1` → `[0/0_1]`; `unknown`, `unknown_N` and anything malformed → `(unknown)`."""
    cid = CompileId.from_directory(directory)
    return cid.display if cid else UNKNOWN_DISPLAY
