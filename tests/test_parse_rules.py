"""The line rules of spec §1 as pure functions: glog prefix, compile ids, numbering, ranks."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from tests.logs import PREFIX, cid, entry, write
from tlparse_tasks.parse.glog import parse_glog
from tlparse_tasks.parse.outputs import OutputPlanner, numbered
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.parse.stats import format_stats
from tlparse_tasks.rules.compile_id import CompileId, group_of_directory
from tlparse_tasks.rules.status import cache_suffix


def test_glog_prefix_is_unanchored_and_keeps_the_leading_space() -> None:
    line = parse_glog('[rank3]: V1206 15:18:01.123456 99 torch/x.py:10] {"a": 1}', 2026)
    assert line is not None
    assert line.pathname == " torch/x.py" and line.lineno == 10 and line.thread == 99
    assert line.timestamp == "2026-12-06T15:18:01.123456Z" and line.payload == '{"a": 1}'


@pytest.mark.parametrize("text", [
    "V1206 15:18:01.12345 99 torch/x.py:10] {}",  # five-digit micros
    "V1206 15:18:01.123456 torch/x.py:10] {}",  # no thread id
    "V1206 15:18:01.123456 99 C:/x.py:10] {}",  # colon in the path
    "X1206 15:18:01.123456 99 torch/x.py:10] {}",  # unknown level
    "V1206 15:18:01.123456 99 torch/x.py:10] ",  # nothing after the prefix
])
def test_glog_prefix_rejections(text: str) -> None:
    assert parse_glog(text, 2026) is None


@pytest.mark.parametrize(("envelope", "display", "directory", "group"), [
    (cid(0, 0, 0), "[0/0]", "-_0_0_0", "-_0_0_0"),
    (cid(0, 0, 1), "[0/0_1]", "-_0_0_1", "-_0_0_1"),
    ({}, "[-/-]", "-_-_-_-", "-_-_-_-"),
    ({"compiled_autograd_id": 0}, "[!0/-/-]", "0_-_-_-", "0_-_-_-"),
    ({"compiled_autograd_id": 1, **cid(2, 3, 1)}, "[!1/2/3_1]", "1_2_3_1", "1_2_3_1"),
    ({"frame_id": 4, "frame_compile_id": 0}, "[4/0]", "-_4_0_-", "-_4_0_0"),
])
def test_compile_id_forms(envelope: dict, display: str, directory: str, group: str) -> None:
    compile_id = CompileId.from_envelope(envelope)
    assert compile_id is not None
    assert compile_id.display == display and compile_id.directory == directory
    assert group_of_directory(directory) == (group, display)
    assert CompileId.from_directory(directory) == compile_id


def test_a_wrongly_typed_compile_id_is_unknown() -> None:
    assert CompileId.from_envelope({"frame_id": "abc"}) is None
    assert group_of_directory("unknown_12") == ("unknown", "(unknown)")


def test_metrics_lookups_force_attempt_zero() -> None:
    assert CompileId(None, 0, 0, 1).metrics_key().directory == "-_0_0_0"


def test_numbering_and_cache_suffixes() -> None:
    assert numbered("-_0_0_0/torch._functorch.config.txt", 6) == "-_0_0_0/torch._functorch.config_6.txt"
    assert numbered("dynamo_output_graph.txt", 0) == "dynamo_output_graph_0.txt"
    assert [cache_suffix(p) for p in ("a/fx_graph_cache_miss_1.json", "a/x_cache_hit_2.json",
                                      "a/cache_bypass_3.json", "a/plain_4.txt")] == ["❌", "✅", "❓", ""]


def test_one_counter_numbers_every_output_in_registry_order() -> None:
    planner = OutputPlanner()
    envelope = {"aot_forward_graph": {}, "dynamo_output_graph": {}, "link": {"name": "n", "url": "u"}}
    outputs, errors = planner.plan(envelope, "-_0_0_0", "", True)
    assert [(o.url, o.number) for o in outputs] == [
        ("-_0_0_0/aot_forward_graph_0.txt", 0), ("-_0_0_0/dynamo_output_graph_1.txt", 1), ("u", 2)]
    assert errors == []
    dump, _ = planner.plan({"dump_file": {"name": "<eval_with_key>.7"}}, "-_0_0_0", "src", True)
    assert (dump[0].url, dump[0].number) == ("dump_file/eval_with_key_7.html", 3)  # keeps its name
    bad, errors = planner.plan({"artifact": {"name": "x", "encoding": "base64"}}, "-_0_0_0", "", True)
    assert bad == [] and errors == ["Parser artifact failed: Unsupported encoding: base64"]
    assert planner.counter == 4  # a failing parser takes no number


def test_kernel_stack_traces_take_two_numbers() -> None:
    planner = OutputPlanner(counter=14)
    name = "inductor_provenance_tracking_kernel_stack_traces"
    (out,), _ = planner.plan({"artifact": {"name": name, "encoding": "json"}}, "-_0_0_0", "{}", True)
    assert out.url == f"-_0_0_0/{name}_14.json" and out.number == 15
    assert out.readable_url == f"-_0_0_0/{name}_14_readable.html"


def test_plain_text_makes_output_code_a_text_file() -> None:
    envelope = {"inductor_output_code": {"filename": "/tmp/abc/cxyz.py"}}
    (html,), _ = OutputPlanner().plan(envelope, "-_0_0_0", "", True)
    (text,), _ = OutputPlanner(plain_text=True).plan(envelope, "-_0_0_0", "", True)
    assert html.url == "-_0_0_0/inductor_output_code_cxyz_0.html" and html.kind == "html"
    assert text.url == "-_0_0_0/inductor_output_code_cxyz_0.txt" and text.kind == "payload"


def test_stats_format() -> None:
    assert format_stats({"ok": 0}) == "Stats { }"
    assert format_stats({"ok": 64, "fail_payload_md5": 1}) == "Stats { ok: 64, fail_payload_md5: 1 }"


def test_rank_detection_and_other_rank(tmp_path: Path) -> None:
    art = {"artifact": {"name": "a", "encoding": "string"}}
    log = write(tmp_path / "t.log", "".join([
        entry({**art, **cid()}, "before any rank"),
        entry({**art, "rank": 2, **cid()}, "rank 2"),
        entry({**art, "rank": 3, **cid()}, "rank 3"),
        entry({**art, **cid()}, "no rank after detection"),
    ]))
    manifest = parse_log(log, tmp_path / "out", stderr=io.StringIO()).manifest
    assert manifest["ranks"] == [2]
    assert (manifest["stats"]["ok"], manifest["stats"]["other_rank"]) == (2, 2)
    records = [orjson.loads(x) for x in (tmp_path / "out/intermediate/index.jsonl").read_bytes().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok", "other_rank", "other_rank"]
    raw = [orjson.loads(x) for x in (tmp_path / "out/intermediate/raw.jsonl").read_bytes().splitlines()[1:]]
    assert [line["rank"] for line in raw[1:3]] == [2, 3]  # every entry is in raw.jsonl, others' ranks too
    assert "payload_filename" in raw[1] and "payload_filename" not in raw[2]


def test_string_table_resolves_frames_defined_later(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", entry({"dynamo_start": {"stack": [{"line": 3, "name": "f", "filename": 5}]},
                                           **cid()}) + entry({"str": ["/late/file.py", 5]}))
    manifest = parse_log(log, tmp_path / "out", stderr=None).manifest
    frame = manifest["stack_trie"]["children"][0]["frame"]
    assert frame["filename"] == "/late/file.py"
    table = orjson.loads((tmp_path / "out/intermediate/string_table.json").read_bytes())["string_table"]
    assert table == [None] * 5 + ["/late/file.py"]


def test_payload_lines_are_joined_without_a_trailing_newline(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", entry({"dynamo_output_graph": {}, **cid()}, "a\n\nb").replace("\r", "")
                .replace("\n", "\r\n"))  # CRLF logs work too
    parse_log(log, tmp_path / "out", stderr=None)
    (record,) = [orjson.loads(x) for x in (tmp_path / "out/intermediate/graphs.jsonl").read_bytes().splitlines()]
    assert record["payload"] == "a\n\nb" and record["compile_id"] == "-_0_0_0"
    assert record["outputs"][0]["url"] == "-_0_0_0/dynamo_output_graph_0.txt"


def test_tab_lines_without_has_payload_count_as_glog_failures(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", PREFIX + '{"dynamo_output_graph": {}}\n\tstray\n\tstray\n')
    manifest = parse_log(log, tmp_path / "out", stderr=None).manifest
    assert (manifest["stats"]["ok"], manifest["stats"]["fail_glog"]) == (1, 2)


def test_dynamo_guards_with_a_bad_stack_get_no_page(tmp_path: Path) -> None:
    """Legacy types guard stacks too: a malformed one is fail_dynamo_guards_json and takes no number."""
    good = '[{"code": "x.size()[0] == 2", "stack": null}]'
    bad = '[{"code": "y", "stack": [{"line": 1}]}]'
    log = write(tmp_path / "t.log", entry({"dynamo_guards": {}, **cid(0)}, good)
                + entry({"dynamo_guards": {}, **cid(1)}, bad) + entry({"dynamo_guards": {}, **cid(2)}, good))
    manifest = parse_log(log, tmp_path / "out", stderr=None).manifest
    assert manifest["stats"]["fail_dynamo_guards_json"] == 1
    records = [orjson.loads(x) for x in (tmp_path / "out/intermediate/guards.jsonl").read_bytes().splitlines()]
    assert [[o["url"] for o in r["outputs"]] for r in records] == [
        ["-_0_0_0/dynamo_guards_0.html"], [], ["-_2_0_0/dynamo_guards_1.html"]]
