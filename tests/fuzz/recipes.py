"""Regression inputs as small JSON recipes (`tests/regressions/*.json`) that expand to logs.

A recipe keeps a big input small: a 5,000-frame stack or a 10 MB name is a macro, expanded at
test time. Fields:

- `description`: what the input is and why it is kept;
- `log`: a list of items, each one of
  - a string: log text as is (lines with their `\\n`; lone surrogates become invalid UTF-8),
  - `{"base64": "..."}`: raw bytes,
  - `{"entry": {...}, "payload": ...}`: one envelope line (glog prefix of `tests/logs.py`) and its
    tab-indented payload lines, with `has_payload` set to the payload's md5 unless `"md5"` says
    otherwise,
  - `{"repeat": item, "times": N}`: the item N times;
- inside an envelope or payload, macros: `{"$string": "ab", "times": N}` (a long string),
  `{"$repeat": value, "times": N}` (a long list), `{"$nest": N, "leaf": "1", "objects": false}`
  (JSON text N levels deep), `{"$raw": "text"}` (JSON text as is, e.g. `1e999`);
- `expect`: `stats` (exact counts in the manifest), `problems` (texts each found in some
  problem of the manifest), `stderr` (texts each found in the command's stderr);
- `seconds`: the time limit (default 10);
- `xfail`: why it still fails (the test is strict, so a fix turns it green-then-red until the
  field goes); `matches`: a regex over `kind: message at where` of the failures this known bug
  causes, which the short fuzz run then tolerates while `xfail` stands;
- `mode`: `command` (default: `tlparse LOG -o OUT`, plus `flags`, a list), `resume` (parse the
  first `cut` bytes, then the whole log, and compare with a fresh parse) or `grow` (the same
  with whole reports);
- `finding`: what the fuzzer saw, for the record.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fuzz.values import Raw, nested, to_json
from tests.logs import PREFIX

REGRESSIONS = Path(__file__).resolve().parents[1] / "regressions"


@dataclass(frozen=True)
class Recipe:
    path: Path
    description: str
    data: bytes
    stats: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    seconds: float = 10.0
    xfail: str | None = None
    matches: str | None = None
    mode: str = "command"
    cut: int = 0
    flags: tuple[str, ...] = ()


def expand(value: Any) -> Any:
    """A JSON value with its macros expanded (recipes are shallow, so recursion is fine here)."""
    if isinstance(value, list):
        return [expand(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "$string" in value:
        return str(value["$string"]) * int(value["times"])
    if "$repeat" in value:
        return [expand(value["$repeat"])] * int(value["times"])
    if "$nest" in value:
        return nested(int(value["$nest"]), str(value.get("leaf", "1")), objects=bool(value.get("objects")))
    if "$raw" in value:
        return Raw(str(value["$raw"]))
    return {key: expand(inner) for key, inner in value.items()}


def text_of(value: Any) -> str:
    """A payload: a string as is, anything else (a macro) as its JSON or string expansion."""
    expanded = expand(value)
    return expanded if isinstance(expanded, str) else to_json(expanded)


def item_bytes(item: Any) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8", "surrogatepass")
    if "base64" in item:
        return base64.b64decode(item["base64"])
    if "repeat" in item:
        return item_bytes(item["repeat"]) * int(item["times"])
    envelope = expand(item["entry"])
    payload = text_of(item["payload"]) if "payload" in item else None
    if payload is not None:
        envelope["has_payload"] = item.get("md5") or hashlib.md5(payload.encode("utf-8", "surrogatepass")).hexdigest()
    text = PREFIX + to_json(envelope) + "\n"
    if payload is not None:
        text += "".join(f"\t{line}\n" for line in payload.split("\n"))
    return text.encode("utf-8", "surrogatepass")


def load(path: Path) -> Recipe:
    spec = json.loads(path.read_text(encoding="utf-8"))
    expect = spec.get("expect", {})
    return Recipe(path, spec["description"], b"".join(item_bytes(item) for item in spec["log"]),
                  dict(expect.get("stats", {})), list(expect.get("problems", [])), list(expect.get("stderr", [])),
                  float(spec.get("seconds", 10.0)), spec.get("xfail"), spec.get("matches"),
                  spec.get("mode", "command"), int(spec.get("cut", 0)), tuple(spec.get("flags", ())))


def all_recipes() -> list[Path]:
    return sorted(REGRESSIONS.glob("*.json"))


def known_bugs() -> list[re.Pattern[str]]:
    """The `matches` patterns of recipes still marked xfail: failures the short run tolerates."""
    patterns = []
    for path in all_recipes():
        spec = json.loads(path.read_text(encoding="utf-8"))
        if spec.get("xfail") and spec.get("matches"):
            patterns.append(re.compile(spec["matches"]))
    return patterns


def recipe_of(data: bytes, description: str, finding: dict[str, str]) -> dict[str, Any]:
    """A recipe for a found input: readable lines when the log is UTF-8, else base64."""
    try:
        log: list[Any] = data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        log = [{"base64": base64.b64encode(data).decode("ascii")}]
    return {"description": description, "finding": finding, "log": log}
