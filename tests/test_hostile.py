"""Broken and hostile logs: runs go on, problems are counted once with their line, nothing
escapes the output directory."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import orjson
import pytest

from tests.logs import PREFIX, cid, entry, simple_log, write
from tlparse_tasks.cli import main
from tlparse_tasks.parse import parser as parser_module
from tlparse_tasks.parse.parser import parse_log


def parse(tmp_path: Path, text: str | bytes) -> tuple[dict, list[str]]:
    log = write(tmp_path / "t.log", text)
    err = io.StringIO()
    result = parse_log(log, tmp_path / "out", stderr=err)
    return result.manifest, err.getvalue().splitlines()


def index_records(out: Path) -> list[dict]:
    lines = (out / "intermediate" / "index.jsonl").read_bytes().splitlines()
    return [orjson.loads(line) for line in lines]


def test_truncated_payload_is_counted_once_with_its_line(tmp_path: Path) -> None:
    text = simple_log()
    cut = text.index("\tclass GraphModule") + 8
    manifest, err = parse(tmp_path, text[:cut])
    assert manifest["stats"]["fail_payload_md5"] == 1
    assert err == [f"{tmp_path / 't.log'}:3: payload md5 mismatch (truncated or corrupted payload)"]


def test_random_bytes_never_stop_the_parse(tmp_path: Path) -> None:
    noise = bytes(range(256)) * 40 + b"\n\t\x00\xff\n" + os.urandom(5000)
    manifest, err = parse(tmp_path, simple_log().encode() + noise + b"\n" + simple_log().encode())
    assert manifest["stats"]["ok"] == 8  # both copies of the real entries
    assert manifest["stats"]["fail_utf8"] + manifest["stats"]["fail_glog"] >= 1
    assert all(line.startswith(f"{tmp_path / 't.log'}:") for line in err)


def test_invalid_utf8_is_counted_and_the_rest_is_kept(tmp_path: Path) -> None:
    bad_envelope = PREFIX.encode() + b'{"artifact": {"name": "\xff\xfe", "encoding": "string"}}\n'
    payload = "caf\u00e9"
    bad_payload = entry({"artifact": {"name": "p", "encoding": "string"}, **cid()}, payload)
    bad_payload_bytes = bad_payload.encode().replace("\u00e9".encode(), b"\xe9")  # latin-1 byte
    manifest, err = parse(tmp_path, simple_log().encode() + bad_envelope + bad_payload_bytes)
    assert manifest["stats"]["fail_utf8"] == 2
    assert manifest["stats"]["ok"] == 5  # 4 from simple_log + the entry with the bad payload
    assert any(":9: invalid UTF-8" in line for line in err)
    assert any(":10: payload is not valid UTF-8" in line for line in err)


def test_a_30_mb_single_line(tmp_path: Path) -> None:
    huge = PREFIX + '{"artifact": {"name": "big", "encoding": "string"}, "junk": "' + "x" * (30 << 20) + '"}'
    manifest, _ = parse(tmp_path, simple_log() + huge + "\n" + simple_log())
    assert manifest["stats"]["ok"] == 9 and manifest["stats"]["unknown"] == 1


@pytest.mark.parametrize(("envelope", "reason"), [
    ({"rank": "abc"}, "rank: expected u32"),
    ({"compilation_metrics": {"graph_op_count": 1.5}}, "graph_op_count: expected u64"),
    ({"dynamo_start": {"stack": [{"line": 1, "name": "f"}]}}, "missing field `filename`"),
    ({"dynamo_output_graph": 5}, "dynamo_output_graph: expected an object"),
    ({"describe_tensor": {"id": 1}}, "missing field `describer_id`"),
    ({"link": {"name": "x"}}, "missing field `url`"),
    ({"artifact": {"name": "x"}}, "missing field `encoding`"),
    ({"str": ["x", "y"]}, "str: expected u32"),
])
def test_wrong_shapes_are_fail_json_with_a_reason(tmp_path: Path, envelope: dict, reason: str) -> None:
    manifest, err = parse(tmp_path, simple_log() + entry(envelope))
    assert manifest["stats"]["fail_json"] == 1 and manifest["stats"]["ok"] == 4
    assert len(err) == 1 and err[0].endswith(")") and reason in err[0] and ":9: " in err[0]


@pytest.mark.parametrize("bad", ["[1, 2]", '{"a": ', "null", '"text"'])
def test_envelopes_that_are_not_json_objects(tmp_path: Path, bad: str) -> None:
    manifest, err = parse(tmp_path, simple_log() + PREFIX + bad + "\n")
    assert manifest["stats"]["fail_json"] == 1  # legacy counts a syntax error twice
    assert len(err) == 1


def test_inputs_that_crash_legacy_are_handled(tmp_path: Path) -> None:
    """Spec §10.14: fail_type without fail_reason aborted legacy; guard_added without expr panicked."""
    text = simple_log() + entry({"compilation_metrics": {"fail_type": "RuntimeError"}, **cid(1)}) + entry(
        {"guard_added": {"prefix": "eval"}, **cid(1)}) + entry(
        {"propagate_real_tensors_provenance": {"frame_locals": {"locals": {"x": [1, 2]}}}, **cid(1)})
    manifest, err = parse(tmp_path, text)
    assert manifest["stats"]["ok"] == 7 and err == []
    assert manifest["failures_summary"]["failures"] == 1
    assert main([str(tmp_path / "t.log"), "-o", str(tmp_path / "report"), "--no-browser"]) == 0
    assert main([str(tmp_path / "t.log"), "-o", str(tmp_path / "export"), "--no-browser", "--export"]) == 0


HOSTILE_NAMES = ["../../x", "/abs/path", "a" * 3000, "..", "dir/../../up", "C:\\windows\\evil", "\x00nul"]


def hostile_log() -> str:
    parts = [simple_log()]
    for name in HOSTILE_NAMES:
        parts.append(entry({"artifact": {"name": name, "encoding": "string"}, **cid()}, "p"))
        parts.append(entry({"artifact": {"name": name, "encoding": "json"}, **cid()}, "{}"))
        parts.append(entry({"dump_file": {"name": name}, **cid()}, "src"))
        parts.append(entry({"graph_dump": {"name": name}, **cid()}, "graph"))
        parts.append(entry({"optimize_ddp_split_child": {"name": name}, **cid()}, "child"))
        parts.append(entry({"inductor_output_code": {"filename": name}, **cid()}, "code"))
    parts.append(PREFIX + json.dumps({"unknown_thing": {}, "has_payload": "../../../escape"}) + "\n\tpayload\n")
    return "".join(parts)


def test_names_from_the_log_stay_inside_out(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", hostile_log())
    out = tmp_path / "report"
    assert main([str(log), "-o", str(out), "--no-browser"]) == 0
    root = out.resolve()
    records = index_records(out)
    urls = [o["url"] for r in records for o in r["outputs"]] + [r["payload_file"] for r in records if r["payload_file"]]
    assert len(urls) > 40
    for url in urls:
        target = (out / url).resolve()
        assert root in target.parents, url
        assert len(target.name.encode()) <= 200, url
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "t.log"]
    directory = json.loads((out / "compile_directory.json").read_text())
    assert all("/" not in a["name"] for a in directory["[0/0]"]["artifacts"])


def test_an_interrupted_parse_leaves_the_previous_store_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    parse_log(log, out, stderr=None)
    before = {p.name: p.read_bytes() for p in (out / "intermediate").iterdir()}
    write(log, simple_log() + entry({"artifact": {"name": "more", "encoding": "string"}, **cid()}, "x"))
    calls = 0

    def crash(self: object, record: object) -> None:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(parser_module.LogParser, "process", crash)
    with pytest.raises(KeyboardInterrupt):
        parse_log(log, out, stderr=None)
    assert calls == 1
    after = {p.name: p.read_bytes() for p in (out / "intermediate").iterdir()}
    assert after == before  # no temp files left, nothing half-written
