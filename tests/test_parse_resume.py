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


def grown_log(tmp_path: Path) -> tuple[Path, bytes, int]:
    """The corpus' graph-break log cut at a record boundary (written), its bytes, the cut."""
    from tests.conftest import TORCH_213, corpus_copy
    from tests.test_incremental import cut_points

    data = corpus_copy(TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log", tmp_path).read_bytes()
    cut = cut_points(data)["record boundary"]
    log = tmp_path / "growing.log"
    log.write_bytes(data[:cut])
    return log, data, cut


def test_a_resumed_parse_appends_to_the_streams_in_place(tmp_path: Path) -> None:
    """The part kept is not copied: same file, new bytes after it; as a fresh parse writes them."""
    log, data, _ = grown_log(tmp_path)
    parse_log(log, tmp_path / "inc", stderr=None)
    stream = tmp_path / "inc" / "intermediate" / "graphs.jsonl"
    before = stream.stat()
    log.write_bytes(data)
    assert parse_log(log, tmp_path / "inc", stderr=None).resumed
    after = stream.stat()
    assert (after.st_ino, after.st_dev) == (before.st_ino, before.st_dev) and after.st_size > before.st_size
    parse_log(log, tmp_path / "fresh", stderr=None)
    assert stream.read_bytes() == (tmp_path / "fresh" / "intermediate" / "graphs.jsonl").read_bytes()


def test_an_append_cut_short_is_cut_back_by_the_next_parse(tmp_path: Path) -> None:
    """A parse killed while appending leaves a stream longer than its resume point says: the
    next one cuts it back and appends again."""
    log, data, _ = grown_log(tmp_path)
    parse_log(log, tmp_path / "inc", stderr=None)
    idir = tmp_path / "inc" / "intermediate"
    for name in ("graphs.jsonl", "index.jsonl"):
        with open(idir / name, "ab") as handle:
            handle.write(b'{"half a record, longer than what the grown log adds' + b"x" * (4 << 20))
    log.write_bytes(data)
    assert parse_log(log, tmp_path / "inc", stderr=None).resumed
    parse_log(log, tmp_path / "fresh", stderr=None)
    for name in ("graphs.jsonl", "index.jsonl"):
        assert (idir / name).read_bytes() == (tmp_path / "fresh" / "intermediate" / name).read_bytes(), name


def test_a_stream_the_grown_log_adds_nothing_to_is_left_alone(tmp_path: Path) -> None:
    """Change-only, as every write: a stream whose new part equals its old one keeps its mtime."""
    log, data, cut = grown_log(tmp_path)
    parse_log(log, tmp_path / "inc", stderr=None)
    idir = tmp_path / "inc" / "intermediate"
    mtimes = {p.name: p.stat().st_mtime_ns for p in idir.glob("*.jsonl")}
    with open(log, "ab") as handle:  # a record no typed stream but index and raw take
        handle.write(data[cut:data.index(b"\nV", cut) + 1])
    assert parse_log(log, tmp_path / "inc", stderr=None).resumed
    unchanged = [name for name, mtime in mtimes.items() if (idir / name).stat().st_mtime_ns == mtime]
    assert "export.jsonl" in unchanged and len(unchanged) >= 4, unchanged
