"""Values that break parsers: wrong types, edge numbers, hostile strings, deep nesting.

Every draw takes a `random.Random`, so one seed gives one input (CI and crash replays agree).
Deep values are returned as raw JSON text (`Raw`) rather than Python objects, because neither
`json.dumps` nor the shrinker should have to recurse 1,000 levels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from random import Random
from typing import Any

#: Marks strings the oracle looks for, unescaped, in HTML output (an injection would show it).
MARKER = "<x-fuzz-marker>"


@dataclass(frozen=True)
class Raw:
    """JSON text spliced into an envelope as is (for nesting no encoder should recurse into)."""

    text: str


EDGE_INTS = [0, 1, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64,
             -(2**63), 10**30, 999_999, 1_000_000]
EDGE_FLOATS = [0.5, -0.0, 1e308, -1e308, 5e-324, 1.7976931348623157e308, 3.14]
EDGE_RAW_NUMBERS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" * 400, "0.1e-99999", "-0", "1E+2"]
HOSTILE_STRINGS = [
    "", " ", "..", ".", "../../escape", "/abs/path", "a/../../b", "C:\\win\\evil", "\x00nul", "tab\there",
    "new\nline", "cr\rreturn", "\u2028sep", "\ud800", "é", "😀", "\u202eRTL", MARKER,
    f"</script>{MARKER}", f"\"'>{MARKER}<!--", "javascript:alert(1)", "%2e%2e%2f", "con", "NUL.txt",
    "x" * 300, "-_0_0_0", "[0/0]", "!1/2/3", "unknown_7", "<eval_with_key>.7", "index.html", "payloads",
    "intermediate", ".modules", "data", "raw.jsonl", "{}", "[]", "null", "true",
]


def edge_int(rng: Random) -> int:
    return rng.choice(EDGE_INTS) if rng.random() < 0.7 else rng.randint(-5, 40)


def hostile_string(rng: Random) -> str:
    if rng.random() < 0.2:
        return "".join(chr(rng.randint(1, 0x2FF)) for _ in range(rng.randint(0, 12)))
    return rng.choice(HOSTILE_STRINGS)


def nested(depth: int, leaf: str = "1", *, objects: bool = False) -> Raw:
    """`depth` levels of lists (or objects) around `leaf`, as text."""
    if objects:
        return Raw('{"a":' * depth + leaf + "}" * depth)
    return Raw("[" * depth + leaf + "]" * depth)


def scalar(rng: Random) -> Any:
    """Any JSON scalar, edge cases first."""
    pick = rng.randrange(20)
    if pick < 4:
        return edge_int(rng)
    if pick < 6:
        return rng.choice(EDGE_FLOATS)
    if pick < 7:  # most of these make the whole envelope unreadable, so they stay rare
        return Raw(rng.choice(EDGE_RAW_NUMBERS))
    if pick < 10:
        return rng.choice([None, True, False])
    return hostile_string(rng)


def any_value(rng: Random, depth: int = 0) -> Any:
    """A value of any type: scalars, small containers, now and then something very deep."""
    roll = rng.random()
    if roll < 0.03:
        return nested(rng.choice([100, 201, 1000, 3000]), objects=rng.random() < 0.5)
    if depth > 2 or roll < 0.6:
        return scalar(rng)
    if roll < 0.8:
        return [any_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {hostile_string(rng): any_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def to_json(value: Any) -> str:
    """JSON text of a value that may hold `Raw` pieces (spliced without re-encoding)."""
    pieces: list[str] = []
    stack: list[Any] = [value]
    while stack:  # iterative, so a long list of small values needs no recursion either
        item = stack.pop()
        if isinstance(item, Raw):
            pieces.append(item.text)
        elif isinstance(item, dict):
            parts: list[Any] = [Raw("{")]
            for number, (key, inner) in enumerate(item.items()):
                parts += [Raw(("," if number else "") + json.dumps(str(key), ensure_ascii=False) + ":"), inner]
            stack.extend(reversed([*parts, Raw("}")]))
        elif isinstance(item, list):
            parts = [Raw("[")]
            for number, inner in enumerate(item):
                parts += [Raw(","), inner] if number else [inner]
            stack.extend(reversed([*parts, Raw("]")]))
        else:
            pieces.append(json.dumps(item, ensure_ascii=False))
    return "".join(pieces)

