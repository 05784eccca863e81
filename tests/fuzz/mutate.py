"""Mutations of real logs: byte noise, line surgery, and envelope-aware edits that keep the rest
of the log intact (a field retyped, a compile-id part changed, an md5 broken, a value nested).

Each mutator takes the log as a list of lines (bytes, newline kept) and a `random.Random`, and
edits the list in place; `mutate` applies a few of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from random import Random
from typing import Any

from tests.fuzz.values import Raw, any_value, edge_int, hostile_string, nested, scalar, to_json

Lines = list[bytes]
Mutator = Callable[[Lines, Random], None]
SEPARATOR = b"] "  # the end of the glog prefix
ODD_BYTES = [b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\t", b"\r", b"\n", b"\x1b[31m", b"\xef\xbb\xbf", b"}",
             b"{", b'"', b"\\", b"]", b"\xe2\x80\xa8"]


#: break_frames multiplies a stack only up to this many frames (at most ~100,000 after it, a line
#: of ~20 MB): two rounds of it once made a million-fold stack.
MAX_FRAMES_TO_MULTIPLY = 100


def pick(lines: Lines, rng: Random) -> int:
    return rng.randrange(len(lines))


def envelope_lines(lines: Lines) -> list[int]:
    return [i for i, line in enumerate(lines) if not line.startswith(b"\t") and SEPARATOR in line]


# -- bytes -----------------------------------------------------------------------------------------

def flip_byte(lines: Lines, rng: Random) -> None:
    i = pick(lines, rng)
    data = bytearray(lines[i])
    if data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    lines[i] = bytes(data)


def insert_bytes(lines: Lines, rng: Random) -> None:
    i = pick(lines, rng)
    at = rng.randint(0, len(lines[i]))
    noise = rng.choice(ODD_BYTES) if rng.random() < 0.7 else bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    lines[i] = lines[i][:at] + noise + lines[i][at:]


def delete_bytes(lines: Lines, rng: Random) -> None:
    i = pick(lines, rng)
    start = rng.randint(0, len(lines[i]))
    lines[i] = lines[i][:start] + lines[i][start + rng.randint(1, 16):]


# -- lines -----------------------------------------------------------------------------------------

def duplicate_lines(lines: Lines, rng: Random) -> None:
    i = pick(lines, rng)
    count = rng.randint(1, 4)
    lines[i:i] = lines[i:i + count] * rng.randint(1, 3)


def delete_lines(lines: Lines, rng: Random) -> None:
    if len(lines) > 1:
        i = pick(lines, rng)
        del lines[i:i + rng.randint(1, 3)]


def swap_lines(lines: Lines, rng: Random) -> None:
    i, j = pick(lines, rng), pick(lines, rng)
    lines[i], lines[j] = lines[j], lines[i]


def truncate(lines: Lines, rng: Random) -> None:
    """Cut the log anywhere, often inside a line (a log still being written)."""
    i = pick(lines, rng)
    cut = lines[i][:rng.randint(0, len(lines[i]))]
    del lines[i:]
    lines.append(cut)


def strip_newlines(lines: Lines, rng: Random) -> None:
    i = pick(lines, rng)
    lines[i] = lines[i].rstrip(b"\n") + rng.choice([b"", b"\r\n", b"\r", b"\n\n"])


def payload_line_without_tab(lines: Lines, rng: Random) -> None:
    tabbed = [i for i, line in enumerate(lines) if line.startswith(b"\t")]
    if tabbed:
        i = rng.choice(tabbed)
        lines[i] = lines[i].lstrip(b"\t")


# -- envelopes -------------------------------------------------------------------------------------

def with_envelope(edit: Callable[[dict[str, Any], Random], Any]) -> Mutator:
    """A mutator that decodes one envelope, lets `edit` change it, and writes it back."""

    def mutator(lines: Lines, rng: Random) -> None:
        candidates = envelope_lines(lines)
        if not candidates:
            return
        i = rng.choice(candidates)
        head, _, body = lines[i].partition(SEPARATOR)
        try:
            envelope = json.loads(body)
        except (ValueError, RecursionError):
            return
        if not isinstance(envelope, dict):
            return
        edit(envelope, rng)
        lines[i] = head + SEPARATOR + to_json(envelope).encode("utf-8", "surrogatepass") + b"\n"

    mutator.__name__ = edit.__name__
    return mutator


def retype_field(envelope: dict[str, Any], rng: Random) -> None:
    """Any value anywhere in the envelope (one level into the metadata) gets another type."""
    holder: Any = envelope
    key: Any = rng.choice(list(envelope)) if envelope else "frame_id"
    inner = envelope.get(key)
    if isinstance(inner, dict) and inner and rng.random() < 0.6:
        holder, key = inner, rng.choice(list(inner))
    holder[key] = any_value(rng)


def retype_compile_id(envelope: dict[str, Any], rng: Random) -> None:
    part = rng.choice(["frame_id", "frame_compile_id", "attempt", "compiled_autograd_id"])
    envelope[part] = rng.choice([edge_int(rng), None, 1.0, True, "0", [0], {}, -1])


def break_frames(envelope: dict[str, Any], rng: Random) -> None:
    """A stack frame with a wrong, huge or missing field (dynamo_start or top level)."""
    start = envelope.get("dynamo_start")
    holder = start if isinstance(start, dict) and isinstance(start.get("stack"), list) else envelope
    frames = holder.get("stack")
    if not isinstance(frames, list) or not frames:
        holder["stack"] = [{"line": edge_int(rng), "name": hostile_string(rng), "filename": edge_int(rng)}]
        return
    chosen = rng.choice(frames)
    if isinstance(chosen, dict):
        chosen[rng.choice(["line", "name", "filename", "loc", "uninterned_filename"])] = scalar(rng)
    if rng.random() < 0.2 and len(frames) <= MAX_FRAMES_TO_MULTIPLY:  # a stack multiplied again and
        frames *= rng.choice([10, 100, 1000])  # again made a 1.9 GB line: a hang of the harness's own


def odd_string_index(envelope: dict[str, Any], rng: Random) -> None:
    string = envelope["str"][0] if isinstance(envelope.get("str"), list) and envelope["str"] else "f.py"
    envelope.clear()
    envelope["str"] = rng.choice([[string, edge_int(rng)], [string], [string, 1, 2], [edge_int(rng), 0],
                                  [string, 1.5], [string, "1"], string, [string, None], {"0": string}])


def break_md5(envelope: dict[str, Any], rng: Random) -> None:
    envelope["has_payload"] = rng.choice(["0" * 32, "", "../x", hostile_string(rng), edge_int(rng), None,
                                          str(envelope.get("has_payload", "")).upper(), [1]])


def nest_deeply(envelope: dict[str, Any], rng: Random) -> None:
    envelope[rng.choice(["junk", "frame_id", *envelope])] = nested(rng.choice([201, 1000, 4000]),
                                                                   objects=rng.random() < 0.5)


def huge_number(envelope: dict[str, Any], rng: Random) -> None:
    key = rng.choice(list(envelope)) if envelope else "rank"
    envelope[key] = Raw(rng.choice(["1" * rng.choice([20, 400, 5000]), "1e999", "-0.0e-9999", "NaN", "-Infinity"]))


def change_rank(envelope: dict[str, Any], rng: Random) -> None:
    envelope["rank"] = rng.choice([0, 1, 2**32, -1, "0", None, 0.0])


def add_unknown_type(envelope: dict[str, Any], rng: Random) -> None:
    envelope[hostile_string(rng) or "x"] = any_value(rng)


MUTATORS: list[Mutator] = [
    flip_byte, insert_bytes, delete_bytes, duplicate_lines, delete_lines, swap_lines, truncate, strip_newlines,
    payload_line_without_tab, *(with_envelope(edit) for edit in (
        retype_field, retype_field, retype_compile_id, break_frames, odd_string_index, break_md5, nest_deeply,
        huge_number, change_rank, add_unknown_type)),
]


def mutate(data: bytes, rng: Random, rounds: int | None = None) -> tuple[bytes, list[str]]:
    """`data` after a few mutations, and their names (for the crash report)."""
    lines: Lines = data.splitlines(keepends=True) or [b""]
    names = []
    for _ in range(rounds if rounds is not None else rng.choice([1, 1, 2, 3, 5, 8])):
        mutator = rng.choice(MUTATORS)
        mutator(lines, rng)
        names.append(mutator.__name__)
        if not lines:
            lines.append(b"")
    return b"".join(lines), names
