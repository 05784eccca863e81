"""Recompiles: splitting recompile reasons, finding the guard that failed among the failed
compile's guards (both guard formats), the index section per frame (readable reasons, escaped,
long lists in shards unless --eager), and the reason on the compile's metrics page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.logs import cid, entry, write
from tests.test_module_graph_breaks import render_module, store_of
from tlparse_tasks.modules import recompiles as rc
from tlparse_tasks.modules.recompiles import SHOWN_PER_FRAME
from tlparse_tasks.rules.compile_id import display_of
from tlparse_tasks.rules.recompile import (
    Guard,
    RecompileEntry,
    cpp_guards,
    decode_payload,
    failed_guards,
    json_guards,
    reason_entries,
)
from tlparse_tasks.store.reader import StoreReader

HOSTILE = "<script>alert(1)</script>"


def corpus_guards(store: StoreReader, directory: str) -> list[Guard]:
    record = next(r for r in store.read_jsonl("guards.jsonl")
                  if r["type"] == "dynamo_cpp_guards_str" and r["compile_id"] == directory)
    return list(cpp_guards(record["payload"]))


def corpus_entries(store: StoreReader) -> list[RecompileEntry]:
    record = next(r for r in store.read_jsonl("artifacts.jsonl") if r["metadata"].get("name") == "recompile_reasons")
    return reason_entries(decode_payload(record["payload"]))


def built(tmp_path: Path, folder: str) -> StoreReader:
    tmp_path.mkdir(exist_ok=True)
    log = corpus_copy(next((TORCH_213 / folder).glob("*.log")), tmp_path)
    return store_of(log, tmp_path / "out")


def test_reasons_split_in_both_payload_formats() -> None:
    text = "0/1: tensor 'x' size mismatch at index 0. expected 3, actual 4\n0/0: ___a == 1  # a == 1  # m.py:3 in f"
    entries = reason_entries(decode_payload(text))
    assert [(e.frame, e.compile) for e in entries] == [(0, 1), (0, 0)]
    older = reason_entries(decode_payload(json.dumps(["2/0: L['x'] == 1", "2/1: GLOBAL_STATE changed: grad_mode"])))
    assert [e.failed for e in older] == ["2/0", "2/1"]
    assert reason_entries(decode_payload("no prefix here\nsecond line")) == [
        RecompileEntry(None, None, "no prefix here\nsecond line")]
    assert reason_entries(decode_payload("[not json")) == [RecompileEntry(None, None, "[not json")]


def test_equals_guard_of_the_graph_breaks_log(tmp_path: Path) -> None:
    store = built(tmp_path, "03_graph_breaks")
    (entry_,) = corpus_entries(store)
    assert entry_.failed == "3/0" and "\nUser stack trace:\n" in entry_.text
    found = failed_guards(entry_, corpus_guards(store, "-_3_0_1"))
    assert [(g.kind, g.code) for g in found] == [("EQUALS_MATCH", "L['___stack1'] == 3.839895248413086")]


def test_global_state_and_dict_length_reasons(tmp_path: Path) -> None:
    cache = built(tmp_path / "cache", "06_cache")
    (state,) = corpus_entries(cache)
    assert [g.kind for g in failed_guards(state, corpus_guards(cache, "-_0_0_0"))] == ["GLOBAL_STATE"]
    training = built(tmp_path / "training", "02_training")
    (length,) = corpus_entries(training)
    found = failed_guards(length, corpus_guards(training, "-_3_0_0"))
    assert [(g.kind, g.code, g.manager) for g in found] == [
        ("DictGuardManager", "L['self'].state[list(dict.keys(L['self'].state))[0]]", True)]


def test_tensor_reason_against_json_guards() -> None:
    guards = list(json_guards([{"code": "hasattr(L['x'], '_dynamo_dynamic_indices') == False"},
                               {"code": "check_tensor(L['x'], Tensor, size=[4, 4])"},
                               {"code": "check_tensor(L['xs'], Tensor, size=[2])"}, {"nocode": 1}, "junk"]))
    assert len(guards) == 3
    for text in ("tensor 'x' size mismatch at index 0. expected 4, actual 5",
                 "tensor 'L['x']' size mismatch at index 0. expected 4, actual 5"):
        found = failed_guards(RecompileEntry(0, 0, text), guards)
        assert [g.code for g in found] == ["check_tensor(L['x'], Tensor, size=[4, 4])"]
    assert failed_guards(RecompileEntry(0, 0, "something unrelated"), guards) == []


def test_index_section_on_the_graph_breaks_log(tmp_path: Path) -> None:
    log = corpus_copy(next((TORCH_213 / "03_graph_breaks").glob("*.log")), tmp_path)
    html = render_module("recompiles", log, tmp_path / "out").index_entries[0].html
    assert "1 recompile of 1 frame" in html
    assert "Frame 3: <code>torch_dynamo_resume_in_f_at_26</code>" in html
    assert '<a class="tlp-cid" href="#[3/1]">[3/1]</a>' in html
    assert "3/0: ___stack1 == 3.839895248413086" not in html  # the prefix is shown as "Guards of [3/0]"
    assert "Guards of <span class=\"tlp-cid\">[3/0]</span> failed" in html
    assert "___stack1 == 3.839895248413086" in html and "\nUser stack trace:\n" in html  # real newlines
    assert '<code class="rc-kind">EQUALS_MATCH</code>' in html and "guards of [3/0_1]" in html


def test_metrics_page_shows_its_recompile_reason(tmp_path: Path) -> None:
    log = corpus_copy(next((TORCH_213 / "03_graph_breaks").glob("*.log")), tmp_path)
    render_module("compilation_metrics", log, tmp_path / "out")
    page = next((tmp_path / "out" / "-_3_1_1").glob("compilation_metrics_*.html")).read_text()
    assert "Recompile Reason" in page and "\nUser stack trace:\n" in page
    first = next((tmp_path / "out" / "-_0_0_1").glob("compilation_metrics_*.html")).read_text()
    assert "Recompile Reason" not in first


def recompiles_log(count: int) -> str:
    """Frame 0 compiled `count + 1` times, each recompile failing the tensor guard of the last."""
    lines = []
    for n in range(count + 1):
        lines.append(entry({"dynamo_start": {"stack": [{"line": 3, "name": "forward", "filename": 0}]}, **cid(0, n)}))
        lines.append(entry({"dynamo_guards": {}, **cid(0, n)},
                           json.dumps([{"code": f"check_tensor(L['x'], Tensor, size=[{n}])"}])))
        if n:
            reason = f"0/{n - 1}: tensor 'x' size mismatch at index 0. expected {n - 1}, actual {n} {HOSTILE}"
            lines.append(entry({"artifact": {"name": "recompile_reasons", "encoding": "json"}, **cid(0, n)},
                               json.dumps([reason])))
    return entry({"str": ["/home/user/model.py", 0]}) + "".join(lines)


@pytest.mark.parametrize("eager", [False, True])
def test_long_frames_defer_and_everything_is_escaped(tmp_path: Path, eager: bool) -> None:
    count = SHOWN_PER_FRAME + 3
    log = write(tmp_path / "rc.log", recompiles_log(count))
    out = tmp_path / "out"
    html = render_module("recompiles", log, out, eager=eager).index_entries[0].html
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f"{count} recompiles of 1 frame" in html
    assert "<code>forward</code> at <code>/home/user/model.py:3</code>" in html
    assert "check_tensor(L[&#39;x&#39;], Tensor, size=[0])" in html
    shard = out / "data" / "recompiles" / "frame-0.js"
    if eager:
        assert html.count('class="rc-recompile"') == count and not shard.exists()
    else:
        assert html.count('class="rc-recompile"') == SHOWN_PER_FRAME and "Show the other 3 recompiles" in html
        text = shard.read_text()
        hidden = json.loads(json.loads(text[text.index("JSON.parse(") + 11:text.rindex("));")]))
        assert hidden.startswith(f"[0/{SHOWN_PER_FRAME + 1}]") and HOSTILE in hidden
        assert f"failed guard of [0/{count - 1}]: check_tensor(L['x'], Tensor, size=[{count - 1}])" in hidden


def test_older_list_payload_matches_an_id_guard(tmp_path: Path) -> None:
    log = corpus_copy(LEGACY_TESTS / "graph_exec_order_tests" / next(
        p.name for p in (LEGACY_TESTS / "graph_exec_order_tests").glob("*rank_0*.log")), tmp_path)
    html = render_module("recompiles", log, tmp_path / "out", eager=True).index_entries[0].html
    assert "1 recompile of 1 frame" in html and "___check_obj_id(fn, 139870659812992)" in html
    assert '<code class="rc-code">___check_obj_id(L[&#39;fn&#39;], 139870659812992)</code>' in html


def guard_record(directory: str, codes: list[str], kind: str = "dynamo_guards") -> dict[str, Any]:
    payload = json.dumps([{"code": c} for c in codes]) if kind == "dynamo_guards" else "".join(
        f"| +- LAMBDA_GUARD: {c}\n" for c in codes)
    return {"type": kind, "compile_id": directory, "metadata": {}, "payload": payload,
            "outputs": [{"producer": kind, "url": f"{directory}/{kind}_1.html"}]}


def reasons_record(directory: str, *reasons: str) -> dict[str, Any]:
    return {"type": "artifact", "compile_id": directory, "metadata": {"name": "recompile_reasons"},
            "payload": json.dumps(list(reasons)), "outputs": [], "line": 1}


def with_lines(records: list[dict[str, Any]]) -> list[tuple[bytes, dict[str, Any]]]:
    """Records as guard_records yields them: each with its line."""
    return [(json.dumps(r, separators=(",", ":")).encode(), r) for r in records]


class CountingMemo:
    """A memo over a dict, counting the results it had to make (Memo's contract, no files)."""

    def __init__(self, kept: dict[str, Any]) -> None:
        self.kept, self.made = kept, 0

    def get(self, inputs: Any, make: Any, valid: Any) -> Any:
        key = json.dumps(inputs)
        if key not in self.kept or not valid(self.kept[key]):
            self.made += 1
            self.kept[key] = make()
        return self.kept[key]


def shown_checks(frames: dict[Any, rc.FrameView]) -> list[Any]:
    return [(e.check.display, e.check.url, [(g.kind, g.code) for g in e.check.guards]) if e.check else None
            for v in frames.values() for r in v.recompiles for e in r.entries]


def test_kept_checks_equal_checks_worked_out_and_a_changed_attempt_is_worked_out_again() -> None:
    reasons = [reasons_record("-_0_1_0", "0/0: ___x == 1"), reasons_record("-_0_2_0", "0/0: ___y == 2", "0/1: ___z"),
               reasons_record("-_5_1_0", "5/0: ___q")]
    records = [guard_record("-_0_0_0", ["___x == 1", "___y == 2"], "dynamo_cpp_guards_str"),
               guard_record("-_0_1_0", ["___z"]), guard_record("-_5_0_0", ["___q"])]
    fresh = rc.collect(reasons)
    rc.attach_guards(rc.wanted_compiles(fresh), with_lines(records))
    kept: dict[str, Any] = {}
    first = rc.collect(reasons)
    rc.attach_guards(rc.wanted_compiles(first), with_lines(records), CountingMemo(kept))  # type: ignore[arg-type]
    assert shown_checks(first) == shown_checks(fresh) and any(shown_checks(fresh))
    again, memo = rc.collect(reasons), CountingMemo(kept)
    rc.attach_guards(rc.wanted_compiles(again), with_lines(records), memo)  # type: ignore[arg-type]
    assert memo.made == 0 and shown_checks(again) == shown_checks(fresh)
    changed = [*records[:2], guard_record("-_5_0_0", ["___other"])]
    grown, memo = rc.collect(reasons), CountingMemo(kept)
    rc.attach_guards(rc.wanted_compiles(grown), with_lines(changed), memo)  # type: ignore[arg-type]
    expected = rc.collect(reasons)
    rc.attach_guards(rc.wanted_compiles(expected), with_lines(changed))
    assert memo.made == 1 and shown_checks(grown) == shown_checks(expected) != shown_checks(fresh)
    for key in kept:  # a damaged memo: checks of the wrong count or shape are worked out again
        kept[key] = kept[key][:-1] if len(kept[key]) > 1 else [{"display": 3, "url": None, "guards": []}]
    damaged, memo = rc.collect(reasons), CountingMemo(kept)
    rc.attach_guards(rc.wanted_compiles(damaged), with_lines(changed), memo)  # type: ignore[arg-type]
    assert memo.made == 3 and shown_checks(damaged) == shown_checks(expected)  # each failed compile


def forward_checks(frames: dict[Any, rc.FrameView], records: list[dict[str, Any]]) -> list[Any]:
    """The rule as a stream states it: each guard record of a failed compile, in order, replaces
    a reason's check when it names guards or the check held names none."""
    for key, needing in rc.wanted_compiles(frames).items():
        for record in records:
            if rc.compile_key(record["compile_id"]) != key or record["type"] not in rc.GUARD_TYPES:
                continue
            guards = rc.guards_of(record)
            for shown, reason in needing:
                check = rc.GuardCheck(display_of(record["compile_id"]), record["outputs"][0]["url"],
                                      failed_guards(reason, guards))
                if shown.check is None or check.guards or not shown.check.guards:
                    shown.check = check
    return [(e.check.display, [g.code for g in e.check.guards]) if e.check else None
            for v in frames.values() for r in v.recompiles for e in r.entries]


@pytest.mark.parametrize("names", ["yyn", "ynn", "nnn", "nny", "n", "y", ""])
def test_a_reason_gets_the_last_attempt_naming_its_guard_else_the_last_attempt(names: str) -> None:
    """Attempts of failed compile [0/0] that log the failing guard (y) or not (n), also in the
    C++ format: the checks are those of reading every attempt in log order."""
    reasons = [reasons_record("-_0_1_0", "0/0: ___x == 1"), reasons_record("-_0_2_0", "0/0: ___y == 2", "0/1: ___z")]
    records = [guard_record(f"-_0_0_{n}", ["___x == 1" if named == "y" else "___w == 0", "___y == 2"],
                            "dynamo_guards" if n % 2 else "dynamo_cpp_guards_str") for n, named in enumerate(names)]
    records += [guard_record("-_1_0_0", ["___x == 1"]), {"type": "guard_added_fast", "compile_id": "-_0_0_0"}]
    expected = forward_checks(rc.collect(reasons), records)
    frames = rc.collect(reasons)
    rc.attach_guards(rc.wanted_compiles(frames), with_lines(records))
    got = [(e.check.display, [g.code for g in e.check.guards]) if e.check else None
           for v in frames.values() for r in v.recompiles for e in r.entries]
    assert len(got) == 3 and got == expected and (got[0] is None) == (names == "") and got[2] is None


def test_only_guard_lines_of_failed_compiles_are_decoded(tmp_path: Path) -> None:
    wanted = rc.wanted_compiles(rc.collect([reasons_record("-_0_1_0", "0/0: ___x == 1")]))
    lines = [guard_record("-_0_0_0", ["___x == 1"]), guard_record("-_0_0_1", ["a"], "dynamo_cpp_guards_str"),
             guard_record("-_3_0_0", ["___x == 1"]), {"type": "guard_added_fast", "compile_id": "-_0_0_0"},
             {"compile_id": "-_0_0_0", "type": "dynamo_guards", "payload": "[]"}]  # other key order: decoded
    path = tmp_path / "guards.jsonl"
    path.write_bytes(b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in lines))
    assert [record for _, record in rc.guard_records(path, wanted)] == [lines[0], lines[1], lines[4]]
    assert list(rc.guard_records(path, {})) == []
    reasons = tmp_path / "artifacts.jsonl"
    reasons.write_text(json.dumps(reasons_record("-_0_1_0", "0/0: x")) + "\n" + json.dumps(
        {"type": "artifact", "metadata": {"name": "other"}}) + "\n")
    assert [r["compile_id"] for r in rc.reason_records(reasons)] == ["-_0_1_0"]


@pytest.mark.parametrize("block", [rc.BLOCK, 64, 7, 1])
def test_lines_holding_a_needle_at_any_block_size(tmp_path: Path, block: int) -> None:
    lines = [b'{"a": "x"}', b'{"name":"recompile_reasons","p":"' + b"y" * 300 + b'"}', b"", b"recompile_reasons",
             b"no", b'"recompile_reasons" twice "recompile_reasons"', b'{"last":"recompile_reasons"}']
    path = tmp_path / "f.jsonl"
    for ending in (b"\n", b""):  # with and without a newline at the end
        path.write_bytes(b"\n".join(lines) + ending)
        found = list(rc.lines_holding(path, b'"recompile_reasons"', block))
        assert found == [line for line in lines if b'"recompile_reasons"' in line]


def test_the_module_works_out_each_check_once_across_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's own memo: a second run over the same store checks no guards again and shows
    the same section."""
    log = corpus_copy(LEGACY_TESTS / "graph_exec_order_tests" / next(
        p.name for p in (LEGACY_TESTS / "graph_exec_order_tests").glob("*rank_0*.log")), tmp_path)
    worked: list[Any] = []
    original = rc.last_check
    monkeypatch.setattr(rc, "last_check", lambda *args: worked.append(args) or original(*args))
    first = render_module("recompiles", log, tmp_path / "out").index_entries[0].html
    assert worked and "___check_obj_id(fn, 139870659812992)" in first
    worked.clear()
    assert render_module("recompiles", log, tmp_path / "out").index_entries[0].html == first
    assert worked == []
