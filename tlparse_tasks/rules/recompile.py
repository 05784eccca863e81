"""Recompile reasons and the guards they name.

A `recompile_reasons` artifact (JSON: one string, or a list of strings in older torch) holds one
entry per cached compile of the frame that the new inputs failed: `F/C: why`, where `F/C` is
that compile (frame F, compile C) and `why` is the failed guard's code with its source comment
(`___stack1 == 3.83  # n = …  # gen.py:26 in f`), or a sentence for tensor and global-state
checks (`tensor 'x' size mismatch at index 0. expected 4, actual 5`, `GLOBAL_STATE changed: …`),
sometimes followed by `User stack trace:` lines. Several failures of one entry are joined by
`; `.

Guards come as `dynamo_cpp_guards_str` (a tree: `| +- KIND: code  # comment`) or `dynamo_guards`
(JSON: `[{"code": …}]`). `failed_guards` finds the guards of the failed compile that an entry
names. All text is untrusted: string methods and one simple, linear regex, with length caps.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

MAX_CHARS = 256 * 1024
MAX_LINE = 8192
LOCAL = re.compile(r"L\['([A-Za-z_][A-Za-z0-9_]*)'\]")  # L['x'] → x, as the reasons print it
TENSOR_PREFIX = "tensor '"


@dataclass(frozen=True)
class RecompileEntry:
    """One `F/C: why` entry: the failed compile (None if the prefix is missing) and the text."""

    frame: int | None
    compile: int | None
    text: str

    @property
    def failed(self) -> str:
        """`F/C` as the reason wrote it."""
        return "" if self.frame is None else f"{self.frame}/{self.compile}"


@dataclass(frozen=True)
class Guard:
    """One guard of a compile: its kind (`EQUALS_MATCH`; "" for dynamo_guards) and code."""

    kind: str
    code: str
    comment: str = ""
    manager: bool = False  # a guard manager: `code` is its source (what its guards check)


def _prefix(line: str) -> tuple[int, int, str] | None:
    """`3/0: why` → (3, 0, why)."""
    head, sep, rest = line.partition(": ")
    frame, slash, compile_ = head.partition("/")
    if sep and slash and frame.isdigit() and compile_.isdigit() and len(head) < 24:
        return int(frame), int(compile_), rest
    return None


def decode_payload(payload: str) -> Any:
    """A `recompile_reasons` payload: JSON in older torch (a list of strings); newer torch
    declares JSON but writes the text itself."""
    if payload.lstrip().startswith(("[", '"')):
        try:
            return orjson.loads(payload[:MAX_CHARS * 4])
        except orjson.JSONDecodeError:
            pass
    return payload


def reason_entries(value: Any) -> list[RecompileEntry]:
    """The entries of a decoded `recompile_reasons` payload (a string or a list of strings)."""
    texts = value if isinstance(value, list) else [value]
    entries: list[RecompileEntry] = []
    for text in texts:
        if not isinstance(text, str):
            text = str(text)
        entries.extend(_split(text[:MAX_CHARS]))
    return entries


def _split(text: str) -> Iterator[RecompileEntry]:
    """A string may hold several entries, each starting a line with `F/C: `."""
    current: tuple[int | None, int | None, list[str]] | None = None
    for line in text.split("\n"):
        found = _prefix(line[:MAX_LINE])
        if found is not None:
            if current is not None:
                yield RecompileEntry(current[0], current[1], "\n".join(current[2]).rstrip())
            current = (found[0], found[1], [found[2]])
        elif current is None:
            current = (None, None, [line])
        else:
            current[2].append(line)
    if current is not None and any(s.strip() for s in current[2]):
        yield RecompileEntry(current[0], current[1], "\n".join(current[2]).rstrip())


def _without_comment(text: str) -> str:
    """Guard code without torch's `  # source` comment."""
    code, _, _ = text.partition("  #")
    return code.strip()


@functools.lru_cache(maxsize=4096)  # a few dozen distinct guard texts recur thousands of times
def normalise(code: str) -> str:
    """Guard code as reasons print it: `L['x']` → `x`, runs of spaces as one."""
    return " ".join(LOCAL.sub(r"\1", code[:MAX_LINE]).split())


def cpp_guards(text: str) -> Iterator[Guard]:
    """The guards of a `dynamo_cpp_guards_str` tree (managers and the latency line skipped)."""
    for raw in text[:MAX_CHARS * 16].split("\n"):
        line = raw[:MAX_LINE].lstrip("| ").strip()
        if not line.startswith("+- "):
            continue
        kind, sep, rest = line[3:].partition(": ")
        if not sep or not kind.replace("_", "").isalnum():
            continue
        if kind.endswith("Manager"):
            manager = _manager(kind, rest)
            if manager is not None:
                yield manager
            continue
        code, _, comment = rest.partition("  #")
        yield Guard(kind, code.strip(), comment.strip(" #"))


def _manager(kind: str, rest: str) -> Guard | None:
    """`DictGuardManager: source=L['self'].state, accessed_by=…` (also after `ValueManager: `)."""
    for _ in range(4):  # `ValueManager: DictGuardManager: source=…`: a few wrappers at most
        if rest.startswith("source="):
            break
        kind, _, rest = rest.partition(": ")
    if not rest.startswith("source="):
        return None
    source = rest[len("source="):]
    for end in (", accessed_by=", ", type="):
        source = source.partition(end)[0]
    return Guard(kind, source.strip(), manager=True)


def json_guards(value: Any) -> Iterator[Guard]:
    """The guards of a `dynamo_guards` payload (a list of `{"code": …}`)."""
    if not isinstance(value, list):
        return
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("code"), str):
            yield Guard("", item["code"])


def _failures(entry: RecompileEntry) -> list[str]:
    """The failures an entry lists: its first line, split on `; `, comments dropped."""
    first = entry.text.split("\n", 1)[0][:MAX_LINE]
    return [f for f in (_without_comment(part) for part in first.split("; ")) if f]


def _tensor_name(failure: str) -> str | None:
    """`tensor 'x' size mismatch …` → `x` (older torch: `tensor 'L['x']' …` → `x`)."""
    if not failure.startswith(TENSOR_PREFIX):
        return None
    name, sep, _ = failure[len(TENSOR_PREFIX):].rpartition("' ")
    return normalise(name) if sep and name else None


def _matches(failure: str, guard: Guard) -> bool:
    code = normalise(guard.code)
    if code == normalise(failure):
        return True
    name = _tensor_name(failure)
    if name is not None:
        return code.startswith(f"check_tensor({name},")
    kind = failure.split(" ", 1)[0].rstrip(":")
    return bool(guard.kind) and kind == guard.kind


def failed_guards(entry: RecompileEntry, guards: Iterable[Guard]) -> list[Guard]:
    """The guards of the failed compile that this entry says failed (those it can name)."""
    failures = _failures(entry)
    if not failures:
        return []
    managers: list[Guard] = []
    found: list[Guard] = []
    for guard in guards:
        if guard.manager:
            managers.append(guard)
        elif any(_matches(f, guard) for f in failures):
            found.append(guard)
    return found or _checking_managers(failures, managers)


def _checking_managers(failures: list[str], managers: list[Guard]) -> list[Guard]:
    """When no guard's code is the failure (a check the dump does not spell out, such as a
    dict length), the managers of the value it checks: the longest source it names."""
    texts = [normalise(f) for f in failures]
    named = [(len(source), m) for m in managers
             if len(source := normalise(m.code)) >= 3 and any(source in t for t in texts)]
    if not named:
        return []
    longest = max(size for size, _ in named)
    return [m for size, m in named if size == longest]
