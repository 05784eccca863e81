"""search's state between runs: the index as it stood at the parse's resume point (stable.py),
so that the re-run after a log grew reads only the records after it.

The state is made from the store up to the point and nothing else (no clock, no history, no
order but the store's), so a report updated from it equals one built from the start, file for
file, the state included. It is trusted only with the same key (this module's code and options,
its folder, this machine's byte order) and while the parse's history still holds its point;
anything else, a damaged file included, means a build from the start.

Format (`.modules/search.state`): a magic line; a JSON line (key, point, the bytes of each stream
read, counters, each rank's open chunk and full-chunk digests); a JSON line of the tokens,
sorted; then every token's postings array (count first) as native unsigned 32-bit numbers: the
length of each, then all of them. Written as it is made, never whole in memory.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

import orjson

from ..module_api import ModuleContext
from ..store.stable import StablePoint

#: A token's postings: its count of documents, then the documents holding it (`doc << 1 |
#: in_name`, ascending), capped to the first MAX_POSTINGS by document number, in one array (a
#: count beside each array would be a second dict of ~28k tokens); or, for a token in one
#: document only (four in five of them), that posting alone, an int (an array costs ~100 bytes).
Found: TypeAlias = "array[int] | int"

STATE_FILE = ".modules/search.state"
MAGIC = b"tlparse-tasks search state 1\n"
TOKENS_PER_WRITE = 4096


@dataclass
class SavedRank:
    """A rank's documents at the point: RankDocs' count, open rows and full-chunk digests."""

    count: int
    rows: list[list[str]]
    digests: list[str]


@dataclass
class SavedIndex:
    """What the last run saved, checked against this run's key and point."""

    sizes: dict[str, int]  # stream → its bytes read
    compile_ids: int
    docs_cut: int
    ranks: list[SavedRank]
    postings: dict[str, Found]


def as_array(found: Found) -> array[int]:
    """A token's postings in the array form (count first)."""
    return array("I", (1, found)) if isinstance(found, int) else found


def state_key(ctx: ModuleContext, folder: str) -> dict[str, Any]:
    """What the state is only good for: this module's code and options (its fingerprint), the
    folder its shards go to, and how its numbers are stored."""
    return {"fingerprint": ctx.fingerprint, "folder": folder, "byteorder": sys.byteorder,
            "itemsize": array("I").itemsize}


def save_state(ctx: ModuleContext, key: dict[str, Any], point: StablePoint, sizes: dict[str, int],
               compile_ids: int, docs_cut: int, ranks: list[SavedRank], postings: dict[str, Found]) -> None:
    """Write the state at `point` (the index must hold exactly the store up to it)."""
    header = {"key": key, "point": [point.offset, point.digest], "sizes": sizes, "compile_ids": compile_ids,
              "docs_cut": docs_cut, "ranks": [[r.count, r.rows, r.digests] for r in ranks]}
    ctx.write_chunks(STATE_FILE, _chunks(header, postings))


def _chunks(header: dict[str, Any], postings: dict[str, Found]) -> Iterator[bytes]:
    tokens = sorted(postings)
    yield MAGIC + orjson.dumps(header) + b"\n"
    for start in range(0, len(tokens), TOKENS_PER_WRITE):  # the JSON list of tokens, a slice at a time
        json = orjson.dumps(tokens[start:start + TOKENS_PER_WRITE])
        yield (b"[" if not start else b",") + json[1:-1]
    yield b"]\n" if tokens else b"[]\n"
    lengths = (2 if isinstance(found, int) else len(found) for found in map(postings.__getitem__, tokens))
    yield array("I", lengths).tobytes()
    for start in range(0, len(tokens), TOKENS_PER_WRITE):  # one array a slice, not one per token
        numbers = array("I")
        for found in map(postings.__getitem__, tokens[start:start + TOKENS_PER_WRITE]):
            if isinstance(found, int):
                numbers.append(1)
                numbers.append(found)
            else:
                numbers.extend(found)
        yield numbers.tobytes()


def load_state(ctx: ModuleContext, key: dict[str, Any], point: StablePoint,
               streams: tuple[str, ...]) -> SavedIndex | None:
    """The saved state if it is good for this run, else None."""
    data = ctx.read_own(STATE_FILE)
    if data is None:
        return None
    try:
        return _parse(data, key, point, streams)
    except (ValueError, TypeError, KeyError, IndexError, orjson.JSONDecodeError):
        return None


def _parse(data: bytes, key: dict[str, Any], point: StablePoint, streams: tuple[str, ...]) -> SavedIndex | None:
    if not data.startswith(MAGIC):
        return None
    view = memoryview(data)
    header_end = data.index(b"\n", len(MAGIC))
    header = orjson.loads(view[len(MAGIC):header_end])
    sizes = {stream: int(header["sizes"][stream]) for stream in streams}
    if header["key"] != key or not point.continues(header["point"], sizes):
        return None
    tokens_end = data.index(b"\n", header_end + 1)
    tokens = orjson.loads(view[header_end + 1:tokens_end])
    itemsize = array("I").itemsize
    at = tokens_end + 1
    lengths = array("I")
    lengths.frombytes(view[at:at + len(tokens) * itemsize])
    at += len(tokens) * itemsize
    if len(lengths) != len(tokens) or len(data) - at != sum(lengths) * itemsize:
        return None
    numbers = array("I")
    numbers.frombytes(view[at:])
    postings: dict[str, Found] = {}
    at = 0
    for token, length in zip(tokens, lengths, strict=True):
        count = numbers[at] if length else 0
        if not length or count < length - 1:
            return None
        # as Postings keeps it: a token in one document as that posting alone
        postings[str(token)] = numbers[at + 1] if length == 2 and count == 1 else numbers[at:at + length]
        at += length
    ranks = [SavedRank(int(count), [[str(v) for v in row] for row in rows], [str(d) for d in digests])
             for count, rows, digests in header["ranks"]]
    return SavedIndex(sizes, int(header["compile_ids"]), int(header["docs_cut"]), ranks, postings)
