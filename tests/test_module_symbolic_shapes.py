"""The symbolic_shapes module: one page per compile id of specializations, guards added (fast),
unbacked symbols, created expressions and data-dependent entries, an overview page that links
them, its index entry, and re-runs that render only the compile ids whose entries changed."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.browser_support import build_report
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.fixture_modules import modules_yaml_with
from tests.logs import cid, entry, write
from tlparse_tasks.cli import main
from tlparse_tasks.module_api import ModuleContext, ModuleOutput
from tlparse_tasks.modules import symbolic_shapes
from tlparse_tasks.modules.common import load_strings
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.resources import default_modules_yaml, template_dirs

HOSTILE = "<script>alert(1)</script>"
USER_FRAME = [{"line": 12, "name": "forward", "filename": 0, "loc": "return x.view(4, -1)"}]
FRAMEWORK_FRAME = [{"line": 99, "name": "evaluate_expr", "filename": 1}]
MODULES_YAML = modules_yaml_with("compile_directory", "symbolic_shapes")
EXPORT_LOG = TORCH_213 / "08_export" / "dedicated_log_torch_trace_f5jej_pq.log"
COMPILE_TEMPLATE = "symbolic_shapes_compile.html"
TABLES = {  # envelope type → (table heading on a compile id's page, label in its Kind column or None)
    "symbolic_shape_specialization": ("Specializations", None),
    "guard_added_fast": ("Guards added fast", None),
    "create_unbacked_symbol": ("Unbacked symbols created", None),
    "expression_created": ("Expressions created", None),
    "guard_added": ("Guards added and data-dependent specializations", "guard added"),
    "propagate_real_tensors_provenance": ("Guards added and data-dependent specializations",
                                          "data-dependent specialization"),
}


def shapes_context(out: Path, *, eager: bool = False) -> ModuleContext:
    """The module's context as a run makes it: the shipped spec's templates, subscriptions, strategy."""
    spec = next(m for m in yaml.safe_load(default_modules_yaml().read_text())["modules"]
                if m["id"] == "symbolic_shapes")
    return ModuleContext("symbolic_shapes", out, {}, {"eager": eager, "mode": "default"},
                         [str(d) for d in template_dirs()], tuple(spec["templates"]), tuple(spec["subscriptions"]),
                         strategy=spec["strategy"])


def render_shapes(log: Path, out: Path, *, eager: bool = False) -> tuple[ModuleOutput, str]:
    """Stage 1, then the module alone; returns its output and the overview page's text."""
    parse_log(log, out, stderr=None)
    output = symbolic_shapes.render(shapes_context(out, eager=eager))
    return output, (out / "symbolic_shapes.html").read_text()


def compile_page(out: Path, directory: str = "-_0_0_0") -> str:
    return (out / directory / "symbolic_shapes.html").read_text()


def strings() -> str:
    return entry({"str": ["/home/user/model.py", 0]}) + entry({"str": ["/site/torch/symbolic_shapes.py", 1]})


def stacks() -> dict[str, Any]:
    return {"user_stack": USER_FRAME, "stack": FRAMEWORK_FRAME}


def table_after(text: str, heading: str) -> str:
    start = text.index(f"<h3>{heading}</h3>")
    return text[start: text.index("</table>", start)]


def rows(table: str) -> int:
    return table.count("<tr") - 1  # less the header row


def listed_links(overview: str) -> list[tuple[str, str]]:
    """(href, text) of the overview's compile-id list."""
    start = overview.index('<ul class="tlp-artifacts">')
    part = overview[start: overview.index("</ul>", start)]
    return re.findall(r'<li><a href="([^"]*)">([^<]*)</a>', part)


def test_a_specialization_and_a_guard_added_fast(tmp_path: Path) -> None:
    log = write(tmp_path / "s.log", strings() + "".join([
        entry({"symbolic_shape_specialization": {
            "symbol": "s0", "sources": ["L['x'].size()[0]", "L['y'].size()[1]"], "value": "4",
            "reason": "Eq(s0, 4) from view", **stacks()}, **cid()}),
        entry({"guard_added_fast": {"expr": "Eq(Mod(s0, 2), 0)", **stacks()}, **cid()}),
    ]))
    output, overview = render_shapes(log, tmp_path / "out")
    text = compile_page(tmp_path / "out")
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
    assert '<h1>Symbolic shapes <span class="tlp-cid">[0/0]</span></h1>' in text
    assert '<link rel="stylesheet" href="../style.css">' in text  # one folder down: links lead up
    assert '<a href="../symbolic_shapes.html">All compile ids</a>' in text
    assert '<a href="../index.html#%5B0%2F0%5D">[0/0] in the compile directory</a>' in text
    assert listed_links(overview) == [("-_0_0_0/symbolic_shapes.html", "[0/0]: 1 specialization, 1 guard added fast")]
    assert "<table" not in overview  # the entries are on the compile id's page only
    (index,) = output.index_entries
    assert "1 specialization," in index.html and "1 guard added fast," in index.html


def test_a_repeated_stack_is_viewed_and_rendered_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries that log the same stacks share one view, rendered once per caption and root by
    frame.html's macro; another stack is its own view."""
    other = [{**USER_FRAME[0], "line": 13}]
    log = write(tmp_path / "r.log", strings() + "".join([
        *(entry({"guard_added_fast": {"expr": f"s{n} > 1", **stacks()}, **cid(n % 2)}) for n in range(4)),
        entry({"guard_added_fast": {"expr": "s9 > 1", "user_stack": other, "stack": FRAMEWORK_FRAME}, **cid()}),
    ]))
    out = tmp_path / "out"
    parse_log(log, out, stderr=None)
    ctx = shapes_context(out)
    views = symbolic_shapes.Stacks(load_strings(ctx))
    sections, _ = symbolic_shapes.collect(ctx, views)
    guards = [g for s in sections for g in s.fast_guards]
    assert len(guards) == 5 and len({id(g.user_stack) for g in guards}) == 2 and len({id(g.stack) for g in guards}) == 1
    calls: list[str] = []
    views.bind(ctx)
    macro = views.macro
    assert macro is not None

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return macro(*args, **kwargs)

    monkeypatch.setattr(views, "macro", counting)
    symbolic_shapes.write_compile_pages(ctx, sections, views)
    assert sorted(calls) == ["Stack", "User stack", "User stack"]  # two pages, three distinct (stack, caption)
    page = compile_page(out)
    assert page.count("/home/user/model.py:12</span>") == 2 * 2 and "/home/user/model.py:13</span>" in page


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
    _, overview = render_shapes(log, tmp_path / "out")
    text = compile_page(tmp_path / "out")
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
    assert "1 expression created, 2 guards added, 1 data-dependent specialization" in overview


def test_unbacked_symbols_and_expressions(tmp_path: Path) -> None:
    log = write(tmp_path / "u.log", strings() + "".join([
        entry({"create_unbacked_symbol": {"symbol": "u0", "node_id": 11, "vr": "[0, int_oo]", **stacks()}, **cid()}),
        entry({"expression_created": {"method": "add", "result": "u0 + 1", "result_id": 12,
                                       "arguments": ["u0", "1"]}, **cid()}),
        entry({"expression_created": {"method": "add", "result": "u0 + 2", "result_id": 12,
                                       "arguments": ["u0", "2"]}, **cid()}),  # a reused Python id
        entry({"guard_added": {"expr": "u0 + 2 > 0", "expr_node_id": 12}, **cid()}),
    ]))
    render_shapes(log, tmp_path / "out")
    text = compile_page(tmp_path / "out")
    unbacked = table_after(text, "Unbacked symbols created")
    assert ('<tr id="node-11"><td><code>u0</code></td><td>11</td><td><code class="tlp-vr">[0, int_oo]</code></td>'
            in unbacked)
    expressions = table_after(text, "Expressions created")
    assert rows(expressions) == 2
    assert '<tr id="node-12"><td>add</td><td><code>u0 + 1</code></td><td><code>u0</code>, <code>1</code></td>' \
        in expressions
    assert '<tr id="node-12-2">' in expressions
    assert '<a href="#node-12-2" class="tlp-count">(expression)</a>' in text


def test_a_guard_links_only_to_expressions_of_its_own_compile_id(tmp_path: Path) -> None:
    """Node ids are Python object ids: one logged by another compile is a reused id, not this node."""
    log = write(tmp_path / "n.log", "".join([
        entry({"expression_created": {"method": "add", "result": "s0 + 1", "result_id": 5}, **cid(0)}),
        entry({"guard_added": {"expr": "s0 + 1 > 0", "expr_node_id": 5}, **cid(1)}),
        entry({"expression_created": {"method": "mul", "result": "2*s1", "result_id": 5}, **cid(1)}),
        entry({"guard_added": {"expr": "2*s1 > 0", "expr_node_id": 5}, **cid(1)}),
    ]))
    render_shapes(log, tmp_path / "out")
    first, second = compile_page(tmp_path / "out", "-_0_0_0"), compile_page(tmp_path / "out", "-_1_0_0")
    assert '<tr id="node-5">' in first and '<tr id="node-5">' in second  # anchors count per page
    guards = table_after(second, "Guards added and data-dependent specializations").split("<tr>")[2:]
    assert len(guards) == 2
    assert "(expression)" not in guards[0]  # logged before its compile id had node 5
    assert '<a href="#node-5" class="tlp-count">(expression)</a>' in guards[1]


def test_hostile_values_are_escaped(tmp_path: Path) -> None:
    log = write(tmp_path / "h.log", entry({"str": [HOSTILE, 0]}) + "".join([
        entry({"symbolic_shape_specialization": {
            "symbol": HOSTILE, "sources": [HOSTILE], "value": HOSTILE, "reason": HOSTILE,
            "user_stack": [{"line": 1, "name": HOSTILE, "filename": 0, "loc": HOSTILE}]}, **cid()}),
        entry({"guard_added": {"expr": HOSTILE, "frame_locals": {"locals": {HOSTILE: [HOSTILE]}}}, **cid()}),
        entry({"guard_added_fast": {"expr": HOSTILE, "stack": "</td>" + HOSTILE}, **cid()}),
    ]))
    # the last stack is not a frame list: the parse rejects that line, as legacy does
    output, overview = render_shapes(log, tmp_path / "out")
    text = compile_page(tmp_path / "out")
    for html in (text, overview, output.index_entries[0].html):
        assert "<script>" not in html and "</td><script" not in html
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8


def test_with_no_entries_the_page_says_so(tmp_path: Path) -> None:
    log = write(tmp_path / "n.log", entry({"dynamo_cpp_guards_str": {}, **cid()}, "tree"))
    output, text = render_shapes(log, tmp_path / "out")
    assert "There were none" in text and "<table" not in text and "tlp-artifacts" not in text
    assert not list((tmp_path / "out").glob("*/symbolic_shapes.html"))
    (index,) = output.index_entries
    assert index.kind == "html" and "The log has no symbolic-shape entries" in index.html
    assert '<a href="symbolic_shapes.html">' in index.html
    assert not (tmp_path / "out" / "data").exists()


def log_counts(log: Path) -> dict[str, collections.Counter[str]]:
    """Symbolic-shape entries counted straight from the log text: type → compile id (dir form) → count."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in log.read_text().splitlines():
        if line.startswith("\t") or "] {" not in line:
            continue
        envelope = json.loads(line[line.index("] {") + 2:])
        parts = [envelope.get(k) for k in ("compiled_autograd_id", "frame_id", "frame_compile_id", "attempt")]
        if parts[2] is not None and parts[3] is None:
            parts[3] = 0  # the grouping key: a missing attempt counts as 0
        directory = "_".join("-" if p is None else str(p) for p in parts)
        for key in symbolic_shapes.TYPES:
            if key in envelope:
                counts[key][directory] += 1
    return counts


def page_rows(text: str, kind: str) -> int:
    """Rows of one entry type on a compile id's page."""
    heading, label = TABLES[kind]
    if f"<h3>{heading}</h3>" not in text:
        return 0
    table = table_after(text, heading)
    return rows(table) if label is None else table.count(f"<tr><td>{label}</td>")


@pytest.mark.parametrize("source", [EXPORT_LOG, LEGACY_TESTS / "export.log"], ids=["08_export", "export.log"])
def test_collect_groups_a_corpus_log_per_compile_id(tmp_path: Path, source: Path) -> None:
    log = corpus_copy(source, tmp_path)
    expected = log_counts(log)
    out = tmp_path / "out"
    parse_log(log, out, stderr=None)
    sections, totals = symbolic_shapes.collect(shapes_context(out))
    by_id = {s.id: s for s in sections}
    assert set(by_id) == {cid_ for counter in expected.values() for cid_ in counter}
    for section in sections:
        assert len(section.specializations) == expected["symbolic_shape_specialization"][section.id]
        assert len(section.fast_guards) == expected["guard_added_fast"][section.id]
        assert len(section.unbacked) == expected["create_unbacked_symbol"][section.id]
        assert len(section.expressions) == expected["expression_created"][section.id]
        assert section.guards_added == expected["guard_added"][section.id]
        assert section.total == sum(counter[section.id] for counter in expected.values())
    assert (totals.specializations, totals.fast_guards, totals.unbacked, totals.expressions, totals.guards_added,
            totals.data_dependent) == tuple(sum(expected[k].values()) for k in symbolic_shapes.TYPES)


def test_every_compile_id_has_a_page_and_the_sections_add_up_to_the_totals(tmp_path: Path) -> None:
    """08_export (a TORCH_DTRACE run, outside export mode): the pages together show every entry."""
    log = corpus_copy(EXPORT_LOG, tmp_path)
    expected = log_counts(log)
    assert {k: sum(v.values()) for k, v in expected.items()} == {
        "expression_created": 499, "create_unbacked_symbol": 3, "guard_added": 2, "guard_added_fast": 2}
    out = tmp_path / "out"
    output, overview = render_shapes(log, out)
    links = listed_links(overview)
    assert links == [("-_-_-_-/symbolic_shapes.html", "[-/-]: 2 guards added fast, 3 unbacked symbols, "
                      "447 expressions created, 2 guards added"),
                     ("-_0_0_0/symbolic_shapes.html", "[0/0]: 52 expressions created")]
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/symbolic_shapes.html")) == \
        sorted(href for href, _ in links)
    for kind in symbolic_shapes.TYPES:
        per_page = {href.split("/")[0]: page_rows((out / href).read_text(), kind) for href, _ in links}
        assert per_page == {d: expected[kind][d] for d in per_page}, kind
    first = compile_page(out, "-_-_-_-")
    assert "<code>n: [&#34;u1&#34;]</code>" in first
    assert "/home/user/corpus/08_export/gen.py:25" in first  # stacks resolved through the string table
    totals = "0 specializations, 2 guards added fast, 3 unbacked symbols, 499 expressions created, 2 guards added"
    for html in (overview, output.index_entries[0].html):
        assert " ".join(html.split()).count(totals + " and 0 data-dependent specializations, for 2 compile ids.") == 1
    (index,) = output.index_entries
    assert index.kind == "hybrid" and index.shard == "compile_ids" and index.renderer == "artifacts"
    shard = (out / "data" / "symbolic_shapes" / "compile_ids.js").read_text()
    data = json.loads(json.loads(shard[shard.index("JSON.parse(") + 11: shard.rindex("))")]))
    assert [(i["url"], i["name"], i["number"]) for i in data] == [(href, name, n) for (href, name), n in
                                                                 zip(links, (454, 52), strict=True)]


def test_page_urls_and_links_are_relative_and_url_safe() -> None:
    assert symbolic_shapes.page_url("-_0_0_1") == "-_0_0_1/symbolic_shapes.html"
    assert symbolic_shapes.page_url("0_-_-_-") == "0_-_-_-/symbolic_shapes.html"
    assert symbolic_shapes.page_url("a b#?") == "a%20b%23%3F/symbolic_shapes.html"
    assert symbolic_shapes.page_path("a b#?") == "a b#?/symbolic_shapes.html"  # the file the URL leads to
    page = symbolic_shapes.CompilePage.of(symbolic_shapes.Section("unknown", "(unknown)"))
    assert (page.root, page.directory_href) == ("../", "../index.html#%28unknown%29")


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
    assert '<a href="-_0_0_0/symbolic_shapes.html">[0/0]: 1 guard added fast</a>' in index.html
    assert '<a href="-_1_0_0/symbolic_shapes.html">[1/0]: 2 guards added fast</a>' in index.html


def fast_guards(*pairs: tuple[int, str]) -> str:
    return "".join(entry({"guard_added_fast": {"expr": expr, **stacks()}, **cid(frame)}) for frame, expr in pairs)


def test_a_grown_log_renders_only_the_compile_ids_that_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = write(tmp_path / "g.log", strings() + fast_guards((0, "s0 > 1"), (1, "s1 > 1"), (2, "s2 > 1")))
    out = tmp_path / "out"
    argv = [str(log), "-o", str(out), "--no-browser", "-j", "1", "--modules", "symbolic_shapes"]
    assert main(argv) == 0

    rendered: list[str] = []
    original = ModuleContext.render

    def counting(self: ModuleContext, template: str, **data: Any) -> str:
        if template == COMPILE_TEMPLATE:
            rendered.append(data["page"].section.display)
        return original(self, template, **data)

    monkeypatch.setattr(ModuleContext, "render", counting)
    with open(log, "a") as handle:  # one more guard for [1/0], and a new compile id [3/0]
        handle.write(fast_guards((1, "s1 < 9"), (3, "s3 > 1")))
    assert main(argv) == 0
    assert sorted(rendered) == ["[1/0]", "[3/0]"]  # [0/0] and [2/0] were skipped
    assert "<code>s1 &lt; 9</code>" in compile_page(out, "-_1_0_0")
    assert "<code>s2 &gt; 1</code>" in compile_page(out, "-_2_0_0")  # kept, and still listed
    overview = (out / "symbolic_shapes.html").read_text()
    assert [href for href, _ in listed_links(overview)] == [f"-_{n}_0_0/symbolic_shapes.html" for n in range(4)]

@pytest.mark.parametrize("eager", [False, True])
def test_end_to_end_with_a_modules_config(tmp_path: Path, eager: bool) -> None:
    log = corpus_copy(LEGACY_TESTS / "export_guard_added.log", tmp_path)
    config = tmp_path / "modules.yaml"
    config.write_text(MODULES_YAML)
    index = build_report(log, tmp_path / "out", "--modules-config", str(config), *(["--eager"] if eager else []))
    text = index.read_text()
    assert '<section id="tlp-symbolic_shapes"' in text
    assert ('data-tlp-src="data/symbolic_shapes/compile_ids.js"' in text) is not eager
    overview = (tmp_path / "out" / "symbolic_shapes.html").read_text()
    ((href, _),) = listed_links(overview)
    page = (tmp_path / "out" / href).read_text()
    assert "<h3>Guards added and data-dependent specializations</h3>" in page
    assert "<h3>Expressions created</h3>" in page
