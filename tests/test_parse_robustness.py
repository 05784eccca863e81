"""Bounded parsing: deep stacks and deep JSON, huge string-table indexes and long hostile
strings finish quickly through the whole command, with what was left out counted and reported."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.logs import PREFIX, cid, entry, simple_log, write
from tests.test_schemas import validator
from tlparse_tasks.cli import main
from tlparse_tasks.parse import stacks
from tlparse_tasks.parse.glog import parse_glog
from tlparse_tasks.parse.parser import MAX_STRING_INDEX, parse_log


def run_cli(tmp_path: Path, text: str, capfd: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str, Path]:
    log = write(tmp_path / "t.log", text)
    out = tmp_path / "out"
    assert main([str(log), "-o", str(out), "--no-browser"]) == 0
    manifest = orjson.loads((out / "intermediate" / "manifest.json").read_bytes())
    validator("manifest").validate(manifest)
    return manifest, capfd.readouterr().err, out


def stored(out: Path, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / "intermediate" / name).read_bytes().splitlines()]


def trie_depth(trie: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(frames on the deepest path, the deepest node), walked without recursion."""
    deepest, node, pending = 0, trie, [(trie, 0)]
    while pending:
        current, depth = pending.pop()
        if depth > deepest:
            deepest, node = depth, current
        pending.extend((child, depth + 1) for child in current["children"])
    return deepest, node


def test_a_5000_frame_stack_is_cut_in_the_manifest_with_a_note(tmp_path: Path,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    frames = [{"line": i, "name": f"f{i}", "filename": 0} for i in range(5000)]
    text = (simple_log() + entry({"dynamo_start": {"stack": frames}, **cid(1)})
            + entry({"compilation_metrics": {"graph_op_count": 1}, **cid(1)})
            + entry({"stack": frames, "artifact": {"name": "x", "encoding": "string"}, **cid(1)}, "p"))
    manifest, err, out = run_cli(tmp_path, text, capfd)
    depth, marker = trie_depth(manifest["stack_trie"])
    assert depth == stacks.MAX_TRIE_DEPTH + 1
    assert marker["frame"]["filename"] == f"(stack trie cut at depth {stacks.MAX_TRIE_DEPTH})"
    assert marker["frame"]["name"] == "4900 deeper frames not shown"
    assert marker["terminals"] == ["-_1_0_0"] and manifest["stack_statuses"]["-_1_0_0"] == "ok"
    assert trie_depth(manifest["unknown_stack_trie"])[1]["terminals"] == ["unknown"]
    assert "t.log:9: stack of 5000 frames: the stack trie shows its first 100" in err
    assert "4900 deeper frames not shown" in (out / "index.html").read_text()
    # The store keeps the whole stack; the resume state holds the trie flat.
    started = [r for r in stored(out, "compilation_metrics.jsonl") if r["type"] == "dynamo_start"]
    assert len(started[-1]["metadata"]["stack"]) == 5000


def test_resolve_keeps_sibling_order_and_cuts_each_branch_once() -> None:
    trie = stacks.StackTrie()
    frame = [{"filename": 0, "line": i, "name": "f"} for i in range(6)]
    trie.insert(frame[:5], "-_0_0_0")
    trie.insert([*frame[:2], frame[5]], "-_1_0_0")
    trie.insert([*frame[:4], frame[5], frame[0]], "-_2_0_0")
    resolved = trie.resolve({"0": "a.py"}, max_depth=3)
    level3 = resolved["children"][0]["children"][0]["children"]
    assert [n["frame"]["line"] for n in level3] == [2, 5]
    assert level3[1]["terminals"] == ["-_1_0_0"] and not level3[1]["children"]
    cut = level3[0]["children"]
    assert len(cut) == 1 and cut[0]["terminals"] == ["-_0_0_0", "-_2_0_0"]
    assert cut[0]["frame"]["name"] == "3 deeper frames not shown"
    assert list(trie.all_terminals()) == ["-_0_0_0", "-_2_0_0", "-_1_0_0"]


SEED_NSPID = re.compile(r"[^/]+-seed-nspid[^/]+/")


def test_seed_nspid_prefix_matches_the_legacy_regex() -> None:
    rng = random.Random(0)
    pieces = ["/", "-seed-nspid", "a", "b/", "x-seed-nspid4/", "-"]
    for _ in range(5000):
        name = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 8)))
        match = SEED_NSPID.search(name)
        assert stacks.simplify_filename(name) == (name[match.end():] if match else name), name


def test_a_10_mb_file_name_without_slash_is_simplified_in_linear_time() -> None:
    for name in ("x" * (10 << 20), "a-seed-nspid" * (1 << 20), "/-seed-nspid" * (1 << 20)):
        started = time.perf_counter()
        assert stacks.simplify_filename(name) == name
        assert time.perf_counter() - started < 2


def test_a_10_mb_file_name_through_the_command(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    text = (simple_log() + entry({"str": ["x" * (10 << 20), 1]})
            + entry({"dynamo_start": {"stack": [{"line": 1, "name": "f", "filename": 1}]}, **cid(3)}))
    started = time.perf_counter()
    manifest, _, _ = run_cli(tmp_path, text, capfd)
    assert time.perf_counter() - started < 20
    assert manifest["stack_trie"]["children"][1]["frame"]["filename"] == "x" * (10 << 20)


def test_glog_prefix_search_is_linear_on_hostile_lines() -> None:
    head = "V1206 15:18:01.123456 1"
    for line in (head * 200_000, head + "7" * 2_000_000, "V1206 15:18:01.123456 " + "9" * 2_000_000 + ":"):
        started = time.perf_counter()
        assert parse_glog(line, 2024) is None
        assert time.perf_counter() - started < 2
    assert parse_glog("[rank3]: V1206 15:18:01.123456 140000:10] {}", 2024) == (
        "2024-12-06T15:18:01.123456Z", 14000, "0", 10, "{}")


def test_a_huge_string_table_index_is_a_counted_bad_line(tmp_path: Path,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    text = simple_log() + entry({"str": ["a", 4294967295]}) + entry({"str": ["b", MAX_STRING_INDEX]})
    manifest, err, out = run_cli(tmp_path, text, capfd)
    assert manifest["stats"]["fail_json"] == 1 and manifest["stats"]["ok"] == 4
    assert f"t.log:9: string table index 4294967295 is above the limit {MAX_STRING_INDEX}; entry left out" in err
    table = orjson.loads((out / "intermediate" / "string_table.json").read_bytes())["string_table"]
    assert len(table) == MAX_STRING_INDEX + 1 and table[-1] == "b"
    assert [r["status"] for r in stored(out, "index.jsonl") if r["line"] == 9] == ["invalid"]


def nested(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def test_json_nested_1000_levels_deep_is_cut_counted_and_reported(tmp_path: Path,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    deep = nested(1000)
    event = '{"name": "x", "ph": "i", "ts": 1, "pid": 0, "tid": 0, "args": ' + deep + "}"
    text = (simple_log()
            + PREFIX + '{"artifact": {"name": "d", "encoding": "string"}, "junk": ' + deep + "}\n"  # 9
            + entry({"chromium_event": {}}, event)  # 10
            + entry({"artifact": {"name": "deep_payload", "encoding": "json"}, **cid()}, deep)  # 12
            + PREFIX + '{"compilation_metrics": {"graph_op_count": 2, "x": ' + deep + '}, "frame_id": 2}\n'  # 14
            + PREFIX + '{"artifact": {"name": "w", "encoding": "string"}, "m": ' + nested(1100) + "}\n")  # 15
    manifest, err, out = run_cli(tmp_path, text, capfd)
    assert manifest["stats"]["fail_json_serialization"] == 3  # lines 9, 10 and 14, once each
    assert manifest["stats"]["fail_json"] == 1  # line 15: deeper than any JSON reader here
    for line in (9, 10, 14):
        assert f"t.log:{line}: JSON nested more than 200 levels deep; the deeper parts are left out" in err
    assert "t.log:15: invalid envelope JSON: depth limit exceeded" in err
    records = {r["line"]: r for r in stored(out, "index.jsonl")}
    raw = {line["artifact"]["name"]: line for line in stored(out, "raw.jsonl")[1:] if "artifact" in line}
    assert raw["d"]["junk"] and records[14]["status"] == "ok"
    for name in ("artifacts.jsonl", "compilation_metrics.jsonl", "index.jsonl", "raw.jsonl"):
        for record in stored(out, name):  # every line can be re-serialised by orjson
            orjson.dumps(record)
    events = json.loads((out / "intermediate" / "chromium_events.json").read_text())
    assert any(e.get("name") == "x" for e in events)
    payload = next(r for r in stored(out, "artifacts.jsonl") if r["line"] == 12)["payload"]
    assert payload == deep  # payload text is stored as it was


def test_deep_json_parse_without_the_command(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", simple_log() + PREFIX + '{"x": ' + nested(1000) + "}\n")
    result = parse_log(log, tmp_path / "out", stderr=None)
    assert result.manifest["stats"]["fail_json_serialization"] == 1
    assert result.manifest["unknown_fields"] == {"x": 1}


def test_chromium_integers_beyond_64_bits_are_doubles_as_in_legacy_or_the_event_is_dropped(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """serde reads an integer beyond 64 bits as a double and refuses one beyond a double's range;
    the lenient reader (for NaN) returns exact ints, which must not break the parse."""
    def event(name: str, args: str) -> str:
        return entry({"chromium_event": {}}, '{"name": "' + name + '", "ph": "i", "ts": 1, "pid": 0, '
                                            '"tid": 0, "args": ' + args + "}")
    text = (event("double", '{"n": ' + "1" * 25 + ', "nan": NaN}')  # line 1
            + event("too big", '{"n": ' + "1" * 400 + "}")  # line 3
            + event("deep and too big", nested(300)[:-1] + ", " + "9" * 400 + "]")  # line 5
            + event("kept", "{}"))
    manifest, err, out = run_cli(tmp_path, text, capfd)
    events = json.loads((out / "intermediate" / "chromium_events.json").read_text())
    assert [e["name"] for e in events] == ["double", "kept"]
    assert events[0]["args"]["n"] == float("1" * 25)
    assert manifest["stats"]["fail_json_serialization"] == 2, err  # lines 3 and 5, once each
    assert "t.log:3: chromium_event cannot be written (an integer of 1326 bits is beyond a double's range)" in err
    assert "t.log:5: chromium_event cannot be written" in err
