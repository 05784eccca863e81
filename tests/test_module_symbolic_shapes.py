"""The symbolic_shapes module: one page of specializations, guards added (fast), unbacked symbols,
created expressions and data-dependent entries per compile id, and its index entry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import build_report
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.fixture_modules import modules_yaml_with, render_alone
from tests.logs import cid, entry, write
from tlparse_tasks.module_api import ModuleOutput
from tlparse_tasks.modules import symbolic_shapes

HOSTILE = "<script>alert(1)</script>"
USER_FRAME = [{"line": 12, "name": "forward", "filename": 0, "loc": "return x.view(4, -1)"}]
FRAMEWORK_FRAME = [{"line": 99, "name": "evaluate_expr", "filename": 1}]
MODULES_YAML = modules_yaml_with("compile_directory", "symbolic_shapes")

def render_shapes(log: Path, out: Path, *, eager: bool = False) -> tuple[ModuleOutput, str]:
    """Stage 1, then the module alone; returns its output and the page text."""
    output = render_alone("symbolic_shapes", log, out, eager=eager)
    return output, (out / "symbolic_shapes.html").read_text()


def strings() -> str:
    return entry({"str": ["/home/user/model.py", 0]}) + entry({"str": ["/site/torch/symbolic_shapes.py", 1]})


def stacks() -> dict[str, Any]:
    return {"user_stack": USER_FRAME, "stack": FRAMEWORK_FRAME}


def table_after(text: str, heading: str) -> str:
    start = text.index(f"<h3>{heading}</h3>")
    return text[start: text.index("</table>", start)]


def rows(table: str) -> int:
    return table.count("<tr") - 1  # less the header row


def test_a_specialization_and_a_guard_added_fast(tmp_path: Path) -> None:
    log = write(tmp_path / "s.log", strings() + "".join([
        entry({"symbolic_shape_specialization": {
            "symbol": "s0", "sources": ["L['x'].size()[0]", "L['y'].size()[1]"], "value": "4",
            "reason": "Eq(s0, 4) from view", **stacks()}, **cid()}),
        entry({"guard_added_fast": {"expr": "Eq(Mod(s0, 2), 0)", **stacks()}, **cid()}),
    ]))
    output, text = render_shapes(log, tmp_path / "out")
    spec = table_after(text, "Specializations")
    assert rows(spec) == 1
    for shown in ("<code>s0</code>", "<code>L[&#39;x&#39;].size()[0]</code><br><code>L[&#39;y&#39;].size()[1]</code>",
                  "<code>4</code>", "Eq(s0, 4) from view"):
        assert shown in spec
    assert '<span class="tlp-frame">/home/user/model.py:12</span> in <span class="tlp-fn">forward</span>' in spec
    assert '<code class="tlp-loc">return x.view(4, -1)</code>' in spec
    assert "/site/torch/symbolic_shapes.py:99" in spec
    fast = table_after(text, "Guards added fast")
    assert rows(fast) == 1 and "<code>Eq(Mod(s0, 2), 0)</code>" in fast and "/home/user/model.py:12" in fast
    assert '<a href="#cid--_0_0_0" class="tlp-cid">[0/0]</a> 1 specialization, 1 guard added fast' in text
    (index,) = output.index_entries
    assert "1 specialization," in index.html and "1 guard added fast," in index.html


def test_list_valued_frame_locals_are_shown_as_text(tmp_path: Path) -> None:
    frame_locals = {"loc": "torch._check(n >= 0)", "locals": {"n": ["u1"], "gone": None, "d": {"a": 1.5e-7}},
                    "symbols": {"u1": "n.item()"}}
    log = write(tmp_path / "l.log", strings() + "".join([
        entry({"expression_created": {"method": "ge", "result": "u1 >= 0", "result_id": 7,
                                       "arguments": ["u1", "0"], "argument_ids": [5], **stacks()}, **cid()}),
        entry({"guard_added": {"expr": "u1 >= 0", "prefix": "runtime_assert", "expr_node_id": 7,
                               "frame_locals": frame_locals, "symbol_to_sources": {"u1": ["L['n']"]},
                               **stacks()}, **cid()}),
        entry({"propagate_real_tensors_provenance": {
            "expr": "u2 > 2", "result": "True", "expr_node_id": 8,
            "frame_locals": {"locals": [["not", "an", "object"]]}, **stacks()}, **cid()}),
        entry({"guard_added": {"expr": "odd", "frame_locals": ["x", 1]}, **cid()}),
    ]))
    _, text = render_shapes(log, tmp_path / "out")
    table = table_after(text, "Guards added and data-dependent specializations")
    assert rows(table) == 3  # legacy rejects all three (fail_json): locals must be strings there
    assert "<code>n: [&#34;u1&#34;]</code>" in table
    assert "<code>d: {&#34;a&#34;:1.5e-7}</code>" in table  # shortest float, as legacy prints
    assert "gone" not in table  # null locals are left out, as legacy does
    assert "<dt>symbols</dt><dd><ul><li><code>u1: n.item()</code></li></ul></dd>" in table
    assert "<dt>loc</dt><dd><code>torch._check(n &gt;= 0)</code></dd>" in table
    assert "<dt>u1</dt>" in table and "<code>[&#34;L[&#39;n&#39;]&#34;]</code>" in table
    assert "<dt>locals</dt><dd><code>[[&#34;not&#34;,&#34;an&#34;,&#34;object&#34;]]</code></dd>" in table
    assert "<dd><code>[&#34;x&#34;,1]</code></dd>" in table
    assert '<a href="#node-7" class="tlp-count">(expression)</a>' in table  # to the expression logged before
    assert '<tr id="node-7">' in text
    assert ">data-dependent specialization</td>" in table and ">guard added</td>" in table
    assert "1 expression created, 2 guards added, 1 data-dependent specialization" in text


def test_unbacked_symbols_and_expressions(tmp_path: Path) -> None:
    log = write(tmp_path / "u.log", strings() + "".join([
        entry({"create_unbacked_symbol": {"symbol": "u0", "node_id": 11, "vr": "[0, int_oo]", **stacks()}, **cid()}),
        entry({"expression_created": {"method": "add", "result": "u0 + 1", "result_id": 12,
                                       "arguments": ["u0", "1"]}, **cid()}),
        entry({"expression_created": {"method": "add", "result": "u0 + 2", "result_id": 12,
                                       "arguments": ["u0", "2"]}, **cid()}),  # a reused Python id
        entry({"guard_added": {"expr": "u0 + 2 > 0", "expr_node_id": 12}, **cid()}),
    ]))
    _, text = render_shapes(log, tmp_path / "out")
    unbacked = table_after(text, "Unbacked symbols created")
    assert ('<tr id="node-11"><td><code>u0</code></td><td>11</td><td><code class="tlp-vr">[0, int_oo]</code></td>'
            in unbacked)
    expressions = table_after(text, "Expressions created")
    assert rows(expressions) == 2
    assert '<tr id="node-12"><td>add</td><td><code>u0 + 1</code></td><td><code>u0</code>, <code>1</code></td>' \
        in expressions
    assert '<tr id="node-12-2">' in expressions
    assert '<a href="#node-12-2" class="tlp-count">(expression)</a>' in text


def test_hostile_values_are_escaped(tmp_path: Path) -> None:
    log = write(tmp_path / "h.log", entry({"str": [HOSTILE, 0]}) + "".join([
        entry({"symbolic_shape_specialization": {
            "symbol": HOSTILE, "sources": [HOSTILE], "value": HOSTILE, "reason": HOSTILE,
            "user_stack": [{"line": 1, "name": HOSTILE, "filename": 0, "loc": HOSTILE}]}, **cid()}),
        entry({"guard_added": {"expr": HOSTILE, "frame_locals": {"locals": {HOSTILE: [HOSTILE]}}}, **cid()}),
        entry({"guard_added_fast": {"expr": HOSTILE, "stack": "</td>" + HOSTILE}, **cid()}),
    ]))
    # the last stack is not a frame list: the parse rejects that line, as legacy does
    _, text = render_shapes(log, tmp_path / "out")
    assert "<script>" not in text and "</td><script" not in text
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8


def test_with_no_entries_the_page_says_so(tmp_path: Path) -> None:
    log = write(tmp_path / "n.log", entry({"dynamo_cpp_guards_str": {}, **cid()}, "tree"))
    output, text = render_shapes(log, tmp_path / "out")
    assert "There were none" in text and "<table" not in text
    (index,) = output.index_entries
    assert index.kind == "html" and "The log has no symbolic-shape entries" in index.html
    assert '<a href="symbolic_shapes.html">' in index.html
    assert not (tmp_path / "out" / "data").exists()


def export_counts(log: Path) -> dict[str, int]:
    """Envelope types counted straight from the log text."""
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines():
        if line.startswith("\t") or "] {" not in line:
            continue
        envelope = json.loads(line[line.index("] {") + 2:])
        for key in symbolic_shapes.TYPES:
            if key in envelope:
                counts[key] = counts.get(key, 0) + 1
    return counts


def test_a_torch_export_log_outside_export_mode(tmp_path: Path) -> None:
    """08_export (TORCH_DTRACE run): every entry is on the page, list-valued locals included."""
    log = corpus_copy(TORCH_213 / "08_export" / "dedicated_log_torch_trace_f5jej_pq.log", tmp_path)
    counts = export_counts(log)
    assert counts == {"expression_created": 499, "create_unbacked_symbol": 3, "guard_added": 2,
                      "guard_added_fast": 2}
    output, text = render_shapes(log, tmp_path / "out")
    sections = re.split(r'<section class="tlp-sym-section"', text)[1:]
    assert len(sections) == 2
    assert sum(rows(table_after(s, "Expressions created")) for s in sections) == 499
    first = sections[0]
    assert rows(table_after(first, "Unbacked symbols created")) == 3
    assert rows(table_after(first, "Guards added fast")) == 2
    assert rows(table_after(first, "Guards added and data-dependent specializations")) == 2
    assert "<code>n: [&#34;u1&#34;]</code>" in first
    assert "/home/user/corpus/08_export/gen.py:25" in first  # stacks resolved through the string table
    (index,) = output.index_entries
    assert index.kind == "hybrid" and index.shard == "compile_ids" and index.renderer == "artifacts"
    shard = (tmp_path / "out" / "data" / "symbolic_shapes" / "compile_ids.js").read_text()
    data = json.loads(json.loads(shard[shard.index("JSON.parse(") + 11: shard.rindex("))")]))
    assert [(i["url"], i["number"]) for i in data] == [("symbolic_shapes.html#cid--_-_-_-", 454),
                                                       ("symbolic_shapes.html#cid--_0_0_0", 52)]
    assert data[1]["name"] == "[0/0]: 52 expressions created"


def test_the_index_is_static_with_eager(tmp_path: Path) -> None:
    log = write(tmp_path / "e.log", strings() + "".join([
        entry({"guard_added_fast": {"expr": "s0 > 1"}, **cid(0)}),
        entry({"guard_added_fast": {"expr": "s1 > 1"}, **cid(1)}),
        entry({"guard_added_fast": {"expr": "s2 > 1"}, **cid(1)}),
    ]))
    output, _ = render_shapes(log, tmp_path / "out", eager=True)
    (index,) = output.index_entries
    assert index.kind == "html" and index.shard == ""
    assert not (tmp_path / "out" / "data").exists()
    assert '<a href="symbolic_shapes.html#cid--_0_0_0">[0/0]: 1 guard added fast</a>' in index.html
    assert '<a href="symbolic_shapes.html#cid--_1_0_0">[1/0]: 2 guards added fast</a>' in index.html


@pytest.mark.parametrize("eager", [False, True])
def test_end_to_end_with_a_modules_config(tmp_path: Path, eager: bool) -> None:
    log = corpus_copy(LEGACY_TESTS / "export_guard_added.log", tmp_path)
    config = tmp_path / "modules.yaml"
    config.write_text(MODULES_YAML)
    index = build_report(log, tmp_path / "out", "--modules-config", str(config), *(["--eager"] if eager else []))
    text = index.read_text()
    assert '<section id="tlp-symbolic_shapes"' in text
    assert ('data-tlp-src="data/symbolic_shapes/compile_ids.js"' in text) is not eager
    page = (tmp_path / "out" / "symbolic_shapes.html").read_text()
    assert "<h3>Guards added and data-dependent specializations</h3>" in page
    assert "<h3>Expressions created</h3>" in page
