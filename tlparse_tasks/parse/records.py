"""Reading a TORCH_TRACE log as records: an envelope line and the tab payload lines after it.

The log is read in large chunks and cut into records with one regex over the bytes (a record
starts at every non-empty line that does not begin with a tab), so no Python code runs per
payload line. Memory is bounded by the largest record. Empty lines (`\\n` or `\\r\\n`) belong
to no record and are skipped, as are a line's `\\r\\n` ending and a payload line's leading tab.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK_SIZE = 1 << 20
_NOT_PAYLOAD = re.compile(rb"\n(?!\t)")  # a line end followed by something else than a payload line
_NL, _CR = 0x0A, 0x0D
_START, _EMPTY, _MORE, _END = range(4)


@dataclass(slots=True)
class Record:
    """One envelope line with the tab-prefixed payload lines that follow it."""

    offset: int  # byte offset of its first line
    line: int  # number of its first line (1-based)
    text: bytes | None  # the envelope line without its ending; None for payload lines with no envelope
    segment: bytes  # all its bytes, up to the next record
    body_start: int  # where the payload lines start in `segment`
    end_line: int  # number of its last line (empty lines count only at the end of the log)
    end_offset: int  # byte offset just after it
    plain: bool  # every payload line is `\t…\n`: no empty lines, no `\r`

    @property
    def body(self) -> bytes:
        """The payload lines with their tabs and line ends."""
        return self.segment[self.body_start:]

    def payload_lines(self) -> list[tuple[int, bytes]]:
        """(line number, text without its tab) of each non-empty payload line."""
        first = self.line if self.text is None else self.line + 1
        lines = []
        for number, raw in enumerate(self.body.split(b"\n"), first):
            text = raw[:-1] if raw.endswith(b"\r") else raw
            if text:
                lines.append((number, text[1:]))
        return lines

    def payload(self) -> memoryview:
        """The payload lines joined by newlines, without their leading tabs."""
        if not self.plain:
            return memoryview(b"\n".join(text for _, text in self.payload_lines()))
        segment = self.segment
        count = self.end_line - self.line  # payload lines
        if not count:
            return memoryview(b"")
        # A plain line starts with a tab; when no other tab exists, dropping every tab is
        # the cheap way to drop the leading ones. The envelope line keeps its length.
        joined = segment.replace(b"\t", b"")
        if len(segment) - len(joined) != count:  # tabs inside lines, or in the envelope
            joined = segment.replace(b"\n\t", b"\n")
        end = len(joined) - 1 if segment.endswith(b"\n") else len(joined)
        return memoryview(joined)[self.body_start:end]


def make_record(segment: bytes, offset: int, line: int, newlines: int, has_empty: bool,
                last: bool) -> Record:
    """The record whose lines are `segment`, from its first line up to the next record.

    `newlines` counts the `\\n` in it; `has_empty` says whether it holds an empty line. The
    empty lines at the end of the `last` record count: they are the log's last lines.
    """
    newline = segment.find(b"\n")
    first = segment if newline == -1 else segment[:newline]
    if first[:1] == b"\t":
        text, body_start = None, 0
    else:
        text = first[:-1] if first.endswith(b"\r") else first
        body_start = len(segment) if newline == -1 else newline + 1
    last_line = line + newlines - (1 if segment.endswith(b"\n") else 0)
    if has_empty and not last:
        last_line = _last_line(segment, line)
    plain = text is not None and not has_empty and b"\r" not in segment
    return Record(offset, line, text, segment, body_start, last_line, offset + len(segment), plain)


def _last_line(segment: bytes, line: int) -> int:
    """The number of the last non-empty line of a segment starting at `line`."""
    last = line
    for number, raw in enumerate(segment.split(b"\n"), line):
        if raw and raw != b"\r":
            last = number
    return last


def _line_kind(data: bytes, start: int, eof: bool) -> int:
    """Whether the line at `start` opens a record, is empty, is past the end, or needs more bytes."""
    if start >= len(data):
        return _END if eof else _MORE
    if data[start] == _NL:
        return _EMPTY
    if data[start] == _CR:
        if start + 1 >= len(data):
            return _EMPTY if eof else _MORE
        return _EMPTY if data[start + 1] == _NL else _START
    return _START


class RecordReader:
    """Records of `handle` from `offset` (a record start; `line` lines lie before it) up to `end`
    (the bytes after it are not read: the parse's digest is of the log up to there)."""

    def __init__(self, handle: BinaryIO, offset: int, line: int, end: int, chunk_size: int = CHUNK_SIZE) -> None:
        self.handle = handle
        self.offset = offset
        self.line = line
        self.left = end - offset
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[Record]:
        data = b""
        base = self.offset  # file offset of data[0]
        line = self.line  # lines before `start`
        start = 0  # where the open record (or the next line to look at) begins in data
        search = 0  # where to look for the open record's end
        opened = False  # False until the first record starts
        has_empty = False  # the open record holds an empty line
        eof = False
        while True:
            # Read at least as much as is kept, so a huge record costs linear time.
            chunk = self._read(max(self.chunk_size, len(data) - start)) if not eof else b""
            eof = not chunk
            data = b"".join((memoryview(data)[start:], chunk))
            base, search, start = base + start, max(search - start, 0), 0
            while True:
                if not opened:  # before the first record: skip empty lines
                    kind = _line_kind(data, start, eof)
                    if kind == _START:
                        opened, search = True, start
                        continue
                    if kind == _EMPTY:
                        end = data.find(b"\n", start)
                        end = len(data) if end == -1 else end + 1
                        line, start = line + 1, end
                        continue
                    if kind == _END:
                        return
                    break  # _MORE
                match = _NOT_PAYLOAD.search(data, search)
                if match is None:
                    if not eof:
                        search = len(data)
                        break
                    end = len(data)
                else:
                    kind = _line_kind(data, match.end(), eof)
                    if kind == _MORE:
                        search = match.start()
                        break
                    if kind == _EMPTY:
                        has_empty, search = True, match.end()
                        continue
                    end = match.end()
                newlines = data.count(b"\n", start, end)
                last = eof and end == len(data)
                yield make_record(data[start:end], base + start, line + 1, newlines, has_empty, last)
                line += newlines
                start = search = end
                has_empty = False
                if end == len(data) and eof:
                    return

    def _read(self, size: int) -> bytes:
        data = self.handle.read(min(size, self.left)) if self.left > 0 else b""
        self.left -= len(data)
        return data
