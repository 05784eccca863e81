"""Graph breaks: reading `dynamo_graph_break_reason` text, grouping breaks by place and reason,
the index table (escaped, long lists in shards unless --eager), and the failures table's
restart rows naming the graph break's user location."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import TORCH_213, corpus_copy
from tests.logs import cid, entry, write
from tlparse_tasks.config import load_entry
from tlparse_tasks.module_api import ModuleContext, ModuleOutput
from tlparse_tasks.modules import metrics_model
from tlparse_tasks.modules.graph_breaks import SHOWN_OCCURRENCES, group_breaks
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.resources import default_modules_yaml, template_dirs
from tlparse_tasks.rules.graph_break import break_for_restart, parse_graph_break
from tlparse_tasks.store.reader import StoreReader

GRAPH_BREAKS = TORCH_213 / "03_graph_breaks"
# gen.py line → how many times the log breaks there: f's breaks once each (its second call hits
# the cache), line 29 also in the recompile of resume_in_f_at_26, helper's print in both frames
# that inline it, g's loop and h's two skipped C functions once.
EXPECTED = {21: 1, 22: 1, 26: 1, 29: 2, 15: 2, 39: 1, 46: 1, 48: 1}
HOSTILE = "<img src=x onerror=alert(1)>"


def render_module(module_id: str, log: Path, out: Path, *, eager: bool = False) -> ModuleOutput:
    """Stage 1, then one shipped module in this process, with its declared strategy."""
    out.mkdir(exist_ok=True)
    parse_log(log, out, stderr=None)
    spec = next(m for m in yaml.safe_load(default_modules_yaml().read_text())["modules"] if m["id"] == module_id)
    ctx = ModuleContext(module_id, out, {}, {"eager": eager, "mode": "default"},
                        [str(d) for d in template_dirs()], tuple(spec["templates"]),
                        tuple(spec["subscriptions"]), strategy=spec["strategy"])
    return load_entry(spec["entry"])(ctx)  # type: ignore[no-any-return]


def store_of(log: Path, out: Path) -> StoreReader:
    out.mkdir(exist_ok=True)
    parse_log(log, out, stderr=None)
    return StoreReader(out, "test", None)


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory: pytest.TempPathFactory) -> StoreReader:
    root = tmp_path_factory.mktemp("gb")
    log = corpus_copy(next(GRAPH_BREAKS.glob("*.log")), root)
    return store_of(log, root / "out")


def break_payloads(store: StoreReader) -> list[dict[str, Any]]:
    return [r for r in store.read_jsonl("artifacts.jsonl")
            if r["metadata"].get("name") == "dynamo_graph_break_reason"]


def test_corpus_breaks_group_by_gen_py_line_with_counts(corpus_store: StoreReader) -> None:
    total, groups = group_breaks(corpus_store.read_jsonl("artifacts.jsonl"))
    assert total == sum(EXPECTED.values())
    found = {int(g.location.rpartition(":")[2]): g.count for g in groups}
    assert found == EXPECTED
    assert all(g.location.endswith(f"03_graph_breaks/gen.py:{line}") for g, line in
               zip(groups, (int(g.location.rpartition(":")[2]) for g in groups), strict=True))
    assert [g.count for g in groups] == sorted((g.count for g in groups), reverse=True)
    twice = next(g for g in groups if g.location.endswith(":29"))
    assert [o.display for o in twice.occurrences] == ["[3/0]", "[3/1]"]
    assert all(o.reason_url and o.reason_url.startswith(("-_3_0_0/", "-_3_1_0/")) for o in twice.occurrences)


def test_print_break_has_headline_explanation_hints_and_user_code(corpus_store: StoreReader) -> None:
    first = parse_graph_break(break_payloads(corpus_store)[0]["payload"])
    assert first.location is not None and first.location.endswith("gen.py:21")
    assert first.headlines == ("Failed to trace builtin operator",)
    issue = first.issues[0]
    assert issue.explanation.startswith("Dynamo does not know how to trace builtin operator `print`")
    assert len(issue.hints) == 3 and issue.hints[0].startswith("Avoid calling builtin `print`")
    assert issue.doc_url.endswith("/gb0059.html")
    assert first.context.startswith("Encountered graph break when attempting to trace CALL")
    assert first.user_frame is not None
    assert (first.user_frame.name, first.user_frame.line) == ("f", 21)
    assert first.user_frame.code.startswith('print("in f:", a.shape)')


def test_multi_line_explanation_and_a_break_while_handling_a_break(corpus_store: StoreReader) -> None:
    parsed = [parse_graph_break(r["payload"]) for r in break_payloads(corpus_store)]
    branch = next(p for p in parsed if p.headlines == ("Data-dependent branching",))
    assert "\n" in branch.issues[0].explanation
    assert "gt = gt(sum_1, 0)" in branch.issues[0].explanation
    loop = next(p for p in parsed if p.location and p.location.endswith(":39"))
    assert loop.headlines == ("Call to `torch._dynamo.graph_break()`", "graph break in loop")
    assert loop.context.startswith("Failed to handle graph break gracefully")


@pytest.mark.parametrize("text", [
    "",
    "Graph break in user code at ",
    "Graph break in user code at /a/b.py",
    "Graph break in user code at C:\\x\\y.py:12\nReason: Unsupported: call_function print\nUser code traceback:\n",
    "Graph Break Reason: only a reason",
    "  Explanation: no headline\n  Hint: h",
    "Graph break in user code at x.py:1\nGraph Break Reason: A\n  Hint: before any explanation",
])
def test_missing_or_unknown_parts_are_tolerated(text: str) -> None:
    parsed = parse_graph_break(text)
    assert parsed.location is None or parsed.location.startswith(("/a", "C:", "x.py"))
    if text.startswith("Graph break in user code at C:"):
        assert parsed.location == "C:\\x\\y.py:12"
        assert parsed.headlines == ("Unsupported: call_function print",)


def test_hostile_shapes_parse_in_linear_time() -> None:
    texts = ["Graph break in user code at " + ":" * 200_000 + "1",
             "Graph Break Reason: " + "  Explanation: x\n" * 50_000,
             "User code traceback:\n" + '  File "' * 100_000,
             "Graph break in user code at " + "1:" * 100_000]
    start = time.perf_counter()
    for text in texts:
        parse_graph_break(text)
    assert time.perf_counter() - start < 2.0


def test_restart_reasons_find_their_break(corpus_store: StoreReader) -> None:
    parsed = [parse_graph_break(r["payload"]) for r in break_payloads(corpus_store)]
    metrics = [r["metadata"] for r in corpus_store.read_jsonl("compilation_metrics.jsonl")
               if r["type"] == "compilation_metrics" and r["metadata"].get("restart_reasons")]
    print_reason = metrics[0]["restart_reasons"][0]
    # Two breaks share the headline (lines 21 and 15): the candidates are those of one frame.
    found = break_for_restart(print_reason, parsed[:1])
    assert found is not None and found.location is not None and found.location.endswith(":21")
    item = next(m["restart_reasons"][0] for m in metrics if m["co_name"] == "torch_dynamo_resume_in_f_at_22")
    found = break_for_restart(item, parsed)
    assert found is not None and found.location is not None and found.location.endswith(":26")
    assert break_for_restart("Something else entirely", parsed) is None
    rows = metrics_model.failure_rows(metrics[0], "[0/0_1]", None, parsed[:1])
    assert rows[0].restart and rows[0].source.endswith("gen.py:21")


def breaks_log(count: int, reason: str = "Failed to trace builtin operator") -> str:
    """`count` graph breaks at one place, each in its own frame, then one with hostile text."""
    body = (f"Graph break in user code at /home/user/model.py:7\nGraph Break Reason: {reason}\n"
            "  Explanation: why\n  Hint: fix it\n\nUser code traceback:\n"
            '  File "/home/user/model.py", line 7, in forward\n    print(x)\n')
    hostile = (f"Graph break in user code at /home/{HOSTILE}.py:3\nGraph Break Reason: {HOSTILE}\n"
               f"  Explanation: {HOSTILE}\n")
    lines = [entry({"artifact": {"name": "dynamo_graph_break_reason", "encoding": "string"}, **cid(i)}, body)
             for i in range(count)]
    lines.append(entry({"artifact": {"name": "dynamo_graph_break_reason", "encoding": "string"},
                        **cid(count)}, hostile))
    return "".join(lines)


@pytest.mark.parametrize("eager", [False, True])
def test_index_table_escapes_and_defers_long_lists(tmp_path: Path, eager: bool) -> None:
    count = SHOWN_OCCURRENCES + 4
    log = write(tmp_path / "gb.log", breaks_log(count))
    out = tmp_path / "out"
    output = render_module("graph_breaks", log, out, eager=eager)
    html = output.index_entries[0].html
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert f"{count + 1} graph breaks at 2 distinct places and reasons" in html
    assert "/home/user/model.py:7" in html and f'<td class="gb-count">{count}</td>' in html
    shard = out / "data" / "graph_breaks" / "occurrences-0.js"
    shown = re.findall(r'class="tlp-cid" href="#\[(\d+)/0\]"', html)
    if eager:
        assert not shard.exists() and len(shown) == count + 1
    else:
        assert shard.is_file() and len(shown) == SHOWN_OCCURRENCES + 1
        assert "Show the other 4" in html
        text = shard.read_text()
        items = json.loads(json.loads(text[text.index("JSON.parse(") + 11:text.rindex("));")]))
        assert [i["name"] for i in items] == [f"[{i}/0] graph break reason" for i in range(SHOWN_OCCURRENCES, count)]


def test_no_breaks_says_so(tmp_path: Path) -> None:
    log = write(tmp_path / "none.log", entry({"compilation_metrics": {"restart_reasons": []}, **cid()}))
    html = render_module("graph_breaks", log, tmp_path / "out").index_entries[0].html
    assert "No graph breaks were logged" in html


def test_failures_table_names_the_break_location(tmp_path: Path) -> None:
    log = corpus_copy(next(GRAPH_BREAKS.glob("*.log")), tmp_path)
    render_module("compilation_metrics", log, tmp_path / "out")
    page = (tmp_path / "out" / "failures_and_restarts.html").read_text()
    for line in (21, 26, 29, 15, 46, 48):
        assert f"the graph break at <code>/home/user/corpus/03_graph_breaks/gen.py:{line}</code>" in page
    assert page.count("caused this restart") == 8
    assert "Not available for restarts" not in page
