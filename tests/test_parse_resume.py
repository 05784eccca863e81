"""Resuming: a damaged or foreign resume point is never trusted; the parse starts over and
writes what a fresh parse writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.logs import cid, entry, simple_log, write
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.parse.state import STATE_FORMAT

STORE_FILES = ("manifest.json", "string_table.json", "index.jsonl", "graphs.jsonl", "compilation_metrics.jsonl",
               "raw.jsonl")


def set_in(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(saved: dict[str, Any]) -> None:
        target = saved
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


DAMAGE = {
    "other format": set_in(("format",), STATE_FORMAT - 1),
    "trie node with a forward parent": set_in(("resume", "state", "stack_trie", "nodes", 1, 0), 5),
    "trie frame of the wrong length": set_in(("resume", "state", "stack_trie", "nodes", 1, 1), [0, None]),
    "stats not a mapping": set_in(("resume", "state", "stats"), [1, 2]),
    "offset not a number": set_in(("resume", "offset"), "x"),
    "digest of other bytes": set_in(("resume", "digest"), "0" * 64),
    "a store file not saved": lambda saved: saved["resume"]["streams"].pop("raw.jsonl"),
    "raw.jsonl longer than stored": lambda saved: saved["resume"]["streams"]["raw.jsonl"].__setitem__(0, 10**6),
}


@pytest.mark.parametrize("damage", [*DAMAGE, "not JSON"])
def test_a_damaged_resume_point_starts_over(tmp_path: Path, damage: str) -> None:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    parse_log(log, out, stderr=None)
    state_file = out / "intermediate" / "parse_state.json"
    if damage == "not JSON":
        state_file.write_bytes(state_file.read_bytes()[:-10])
    else:
        saved = orjson.loads(state_file.read_bytes())
        DAMAGE[damage](saved)
        state_file.write_bytes(orjson.dumps(saved))
    with open(log, "a") as handle:
        handle.write(entry({"artifact": {"name": "more", "encoding": "string"}, **cid()}, "x"))
    result = parse_log(log, out, stderr=None)
    assert not result.resumed
    parse_log(log, tmp_path / "fresh", stderr=None)
    for name in STORE_FILES:
        fresh = (tmp_path / "fresh" / "intermediate" / name).read_bytes()
        assert (out / "intermediate" / name).read_bytes() == fresh.replace(b"/fresh/", b"/out/"), name


def test_an_intact_resume_point_is_used(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", simple_log())
    parse_log(log, tmp_path / "out", stderr=None)
    with open(log, "a") as handle:
        handle.write(entry({"artifact": {"name": "more", "encoding": "string"}, **cid()}, "x"))
    assert parse_log(log, tmp_path / "out", stderr=None).resumed
