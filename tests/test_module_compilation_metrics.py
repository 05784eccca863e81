"""The compilation_metrics module: metrics pages, failures_and_restarts.html, the index summary.

Reports are built with a modules.yaml holding only the stack trie, the compile directory and
this module; legacy 0.4.3 (when installed in .legacy-venv) is the reference for what each page
shows and for which specializations / fast guards land on which page.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.legacy_diff import FLOAT_ROUNDING, compare_html
from tests.browser_support import build_report
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.fixture_modules import LEGACY, modules_yaml_with, render_alone
from tests.logs import cid, entry, write
from tlparse_tasks.module_api import ModuleContext, ModuleOutput
from tlparse_tasks.modules import compilation_metrics as cmm
from tlparse_tasks.modules import kit, metrics_model
from tlparse_tasks.resources import default_modules_yaml, template_dirs

needs_legacy = pytest.mark.skipif(not LEGACY.exists(), reason="legacy tlparse is not installed")

MODULES_YAML = modules_yaml_with("stack_trie", "compile_directory", "compilation_metrics")
# Legacy's "Not availble for restarts(yet)!" (typo and all) is reworded on our failures page.
REWORDED = {"failures_and_restarts.html": {"availble", "restarts(yet)!"}}
STRINGS = [entry({"str": ["/home/user/model.py", 0]}),
           entry({"str": ["/build/x#link-tree/torch/_dynamo/convert_frame.py", 1]})]


def build(log: Path, out: Path, *extra: str) -> Path:
    """The CLI with this module's modules.yaml; returns OUT."""
    config = log.parent / "modules.yaml"
    config.write_text(MODULES_YAML)
    build_report(log, out, "--modules-config", str(config), *extra)
    return out


def render_module(log: Path, out: Path, *, eager: bool = False, options: dict[str, Any] | None = None) -> ModuleOutput:
    """Stage 1, then this module alone, in this process."""
    return render_alone("compilation_metrics", log, out, eager=eager, options=options)


def frame(line: int, name: str, filename: int = 0) -> dict[str, Any]:
    return {"line": line, "name": name, "filename": filename}


def cm(ids: dict[str, int], **fields: Any) -> str:
    """A compilation_metrics entry with these compile-id keys and fields."""
    return entry({"compilation_metrics": fields, **ids})


# -- reading our pages ---------------------------------------------------------------------------

def value_rows(page: str) -> dict[str, str]:
    """Label → value of the label/value tables (times, cache, graph metrics)."""
    rows = re.findall(r'<th scope="row">([^<]*?)(?: <abbr[^>]*>\[\?\]</abbr>)?</th><td>(.*?)</td>', page)
    return {html.unescape(k): html.unescape(v) for k, v in rows}


def section(page: str, heading: str) -> str:
    """The markup after `<h2>heading</h2>` up to the next h2."""
    start = page.index(f"<h2>{heading}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start:end if end >= 0 else None]


def table_first_cells(block: str) -> list[str]:
    """The text of the first cell of each table row (legacy's and ours), header row excluded."""
    cells = []
    for row in re.findall(r"<tr>(.*?)</tr>", block, re.S):
        match = re.search(r"<td[^>]*>(.*?)</td>", row, re.S)
        if match and "colspan" not in row:
            cells.append(html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip())
    return cells


def cells_of(row: str) -> list[str]:
    """The text of each cell of one table row."""
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]


def frame_texts(block: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", li)).strip() for li in re.findall(r"<li>(.*?)</li>", block, re.S)]


# -- legacy integration tests 3 and 4 -----------------------------------------------------------

def test_comp_metrics_pages_at_legacy_paths(tmp_path: Path) -> None:
    out = build(corpus_copy(LEGACY_TESTS / "comp_metrics.log", tmp_path), tmp_path / "out")
    for prefix in ("-_0_0_1/compilation_metrics", "-_1_0_1/compilation_metrics", "-_2_0_0/compilation_metrics"):
        assert list(out.glob(f"{prefix}_*.html")), prefix
    for name in ("-_0_0_1/compilation_metrics_2.html", "-_1_0_1/compilation_metrics_5.html",
                 "-_2_0_0/compilation_metrics_8.html", "failures_and_restarts.html", "index.html"):
        assert (out / name).is_file(), name
    failures = (out / "failures_and_restarts.html").read_text()
    assert failures.count("RestartAnalysis") == 2
    assert '<a href="-_0_0_1/compilation_metrics_2.html">[0/0_1]</a>' in failures
    assert '<a href="-_1_0_1/compilation_metrics_5.html">[1/0_1]</a>' in failures


def test_comp_failure_page_and_failure_row(tmp_path: Path) -> None:
    out = build(corpus_copy(LEGACY_TESTS / "comp_failure.log", tmp_path), tmp_path / "out")
    page = (out / "-_0_0_0/compilation_metrics_2.html").read_text()
    assert "<h1>Compilation Info for [0/0]" in page
    assert '<pre class="cm-text cm-error">BackendCompilerFailed</pre>' in page
    assert "backend=&#39;broken_backend&#39; raised:\nRuntimeError: broken backend" in page
    assert "No restarts!" in page
    assert value_rows(page)["Dynamo Time Before Restart"] == "0.158574662"
    assert value_rows(page)["Entire Frame"] == ""  # null prints empty
    failures = (out / "failures_and_restarts.html").read_text()
    row = re.search(r'<tr class="fr-failure">(.*?)</tr>', failures, re.S)
    assert row is not None
    reason = "backend='broken_backend' raised:\nRuntimeError: broken backend"
    assert cells_of(row.group(1)) == ["[0/0]", "BackendCompilerFailed", reason, "N/A:0"]
    index = (out / "index.html").read_text()
    assert '<a href="failures_and_restarts.html">1 restart(s) and/or compilation failure(s)</a>' in index


# -- what a metrics page shows -------------------------------------------------------------------

def test_metrics_page_fields(tmp_path: Path) -> None:
    out = build(corpus_copy(LEGACY_TESTS / "comp_metrics.log", tmp_path), tmp_path / "out")
    page = (out / "-_0_0_1/compilation_metrics_2.html").read_text()
    assert "<title>Compilation Metrics [0/0_1]</title>" in page
    assert "<h1>Compilation Info for [0/0_1]" in page
    mini = page[page.index("</h1>"):page.index("<h2>Output files:</h2>")]
    assert frame_texts(mini) == ["/data/users/jjwu/a/pytorch/test/dynamo/test_misc.py:9549 in fn"]
    files = section(page, "Output files:")
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a> <span class="tlp-number">\((\d+)\)', files) == [
        ("../-_0_0_1/dynamo_output_graph_0.txt", "dynamo_output_graph_0.txt", "0"),
        ("../-_0_0_1/dynamo_guards_1.html", "dynamo_guards_1.html", "1")]
    stack = frame_texts(section(page, "Stack"))
    assert len(stack) == 18
    assert stack[0] == "/data/users/jjwu/a/pytorch/test/dynamo/test_misc.py:10079 in <module>"
    assert stack[-1] == "/data/users/jjwu/a/pytorch/torch/_dynamo/eval_frame.py:410 in _fn"
    assert value_rows(page) == {
        "Entire Frame": "0.012439489364624023", "Backend": "0.00003910064697265625",
        "Dynamo Time Before Restart": "0.006658077239990234", "Cache Size": "0",
        "Accumulated Cache Size": "0", "Guard Count": "9", "Shape Env Guards": "0", "Graph Ops": "1",
        "Graph Nodes": "3", "Graph Inputs": "1"}
    restarts = section(page, "Restarts and Failures")
    assert "No failures!" in restarts and "Restart Reasons:" in restarts
    assert frame_texts(restarts) == [
        "'skip function graph_break in file /data/users/jjwu/a/pytorch/torch/_dynamo/decorators.py'"]
    assert "No custom ops were logged." in section(page, "Custom Ops")
    assert table_first_cells(section(page, "Symbolic shape specializations")) == []
    assert table_first_cells(section(page, "Guards added fast")) == []
    other = section(page, "Other logged fields")
    assert "<code>frame_key</code>" in other and "<code>start_time</code>" in other


def test_optional_times_custom_ops_and_failure_source(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", "".join([
        *STRINGS,
        cm(cid(), inductor_compile_time_s=2, code_gen_time_s=0.0, entire_frame_compile_time_s=1e-7,
                      backend_compile_time_s=1e16, compliant_custom_ops=["ns::ok"], non_compliant_ops=["ns::<bad>"],
                      fail_type="Unsupported", fail_reason="why", fail_user_frame_filename="/u.py",
                      fail_user_frame_lineno=7, graph_op_count=2, restart_reasons=[]),
        cm(cid(1), co_name="f", co_filename="/x.py"),  # no co_firstlineno: no mini stack
    ]))
    render_module(log, tmp_path / "out")
    page = (tmp_path / "out/-_0_0_0/compilation_metrics_0.html").read_text()
    times = value_rows(page)
    assert times["Inductor"] == "2.0"  # legacy's f64 field: an integer prints as a float
    assert "Code Gen Time" not in times  # 0.0 is falsy, as in legacy
    assert (times["Entire Frame"], times["Backend"]) == ("1e-7", "1e16")
    ops = section(page, "Custom Ops")
    assert "Compliant Custom Ops:" in ops and "<code>ns::ok</code>" in ops
    assert "Non-Compliant Custom Ops:" in ops and "<code>ns::&lt;bad&gt;</code>" in ops
    assert "<p>In file <code>/u.py</code>, line <code>7</code></p>" in page
    second = (tmp_path / "out/-_1_0_0/compilation_metrics_1.html").read_text()
    assert frame_texts(second[second.index("</h1>"):second.index("<h2>Output files:</h2>")]) == []
    assert "No dynamo_start stack was logged" in second


def test_stack_is_the_latest_dynamo_start_with_convert_frame_frames_stripped(tmp_path: Path) -> None:
    convert = [frame(1, "catch_errors", 1), frame(2, "_convert_frame", 1), frame(3, "_convert_frame_assert", 1)]
    log = write(tmp_path / "t.log", "".join([
        *STRINGS,
        entry({"dynamo_start": {"stack": [frame(10, "old")]}, **cid()}),
        entry({"dynamo_start": {"stack": [frame(12, "forward"), *convert]}, **cid()}),
        cm(cid(attempt=1), graph_op_count=1),  # attempt 1 looks up attempt 0's stack
        entry({"dynamo_start": {"stack": [frame(99, "later")]}, **cid()}),
    ]))
    render_module(log, tmp_path / "out")
    page = (tmp_path / "out/-_0_0_1/compilation_metrics_0.html").read_text()
    assert frame_texts(section(page, "Stack")) == ["/home/user/model.py:12 in forward"]


def test_output_files_link_where_files_really_are(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", "".join([
        entry({"dynamo_output_graph": {}, **cid()}, "graph"),
        cm(cid(), graph_op_count=1),
        entry({"link": {"name": "<b>my link</b>", "url": "https://example.com/a/b"}, **cid()}),
        entry({"link": {"name": "bad", "url": "javascript:alert(1)"}, **cid()}),
        entry({"dump_file": {"name": "<eval_with_key>.3"}, **cid()}, "a = 1"),
        entry({"dynamo_output_graph": {}, "frame_id": 0, "frame_compile_id": 0}, "graph"),  # -_0_0_-, same group
        cm(cid(), graph_op_count=1),
        entry({"dynamo_output_graph": {}, **cid(1)}, "graph"),  # another compile id: not listed
    ]))
    render_module(log, tmp_path / "out")
    first = section((tmp_path / "out/-_0_0_0/compilation_metrics_1.html").read_text(), "Output files:")
    assert re.findall(r'href="([^"]+)"', first) == ["../-_0_0_0/dynamo_output_graph_0.txt"]
    files = section((tmp_path / "out/-_0_0_0/compilation_metrics_6.html").read_text(), "Output files:")
    assert re.findall(r'href="([^"]+)"[^>]*>([^<]*)</a>', files) == [
        ("../-_0_0_0/dynamo_output_graph_0.txt", "dynamo_output_graph_0.txt"),
        ("../-_0_0_0/compilation_metrics_1.html", "compilation_metrics_1.html"),
        ("https://example.com/a/b", "&lt;b&gt;my link&lt;/b&gt;"),
        ("../dump_file/eval_with_key_3.html", "dump_file/eval_with_key_3.html"),
        ("../-_0_0_-/dynamo_output_graph_5.txt", "-_0_0_-/dynamo_output_graph_5.txt")]
    assert 'href="javascript:' not in files  # shown as text, the URL only in its title
    assert '<span class="tlp-unsafe-link" title="javascript:alert(1)">bad</span>' in files
    assert "compilation_metrics_6.html" not in files


def test_unknown_compile_id_page(tmp_path: Path) -> None:
    bad_id = {"frame_id": "x"}  # a compile-id key of the wrong type: unknown_<line>
    log = write(tmp_path / "t.log", entry({"compilation_metrics": {"fail_type": "E", "fail_reason": "R"}, **bad_id}))
    render_module(log, tmp_path / "out")
    page = (tmp_path / "out/unknown_1/compilation_metrics_0.html").read_text()
    assert "<h1>Compilation Info for (unknown)" in page
    failures = (tmp_path / "out/failures_and_restarts.html").read_text()
    assert '<a href="unknown_1/compilation_metrics_0.html">(unknown)</a>' in failures


def test_backward_pages(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", "".join([
        entry({"bwd_compilation_metrics": {"inductor_compile_time_s": 1, "code_gen_time_s": 0.5,
                                           "extra_field": "x\ny"}, **cid()}),
        entry({"aot_autograd_backward_compilation_metrics": {"start_time": 1.0, "elapsed_time": 2,
                                                             "fail_type": "E", "fail_reason": "<R>"}, **cid()}),
        entry({"bwd_compilation_metrics": {"fail_type": "F", "fail_reason": "G"}, **cid(1)}),
    ]))
    render_module(log, tmp_path / "out")
    bwd = (tmp_path / "out/-_0_0_0/bwd_compilation_metrics_0.html").read_text()
    assert "<title>Backward Compilation Metrics [0/0]</title>" in bwd
    assert "<h1>Backward Compilation Info for [0/0]" in bwd
    assert value_rows(bwd) == {"Inductor": "1.0", "Code Gen Time": "0.5"}
    assert "No failures!" in bwd
    assert '<pre class="cm-text">x\ny</pre>' in section(bwd, "Other logged fields")
    aot = (tmp_path / "out/-_0_0_0/aot_autograd_backward_compilation_metrics_1.html").read_text()
    assert "<title>AOT Autograd Backward Compilation Metrics [0/0]</title>" in aot
    assert "<h1>Compilation Info for [0/0]" in aot
    assert '<pre class="cm-text cm-error">E</pre>' in aot and "&lt;R&gt;" in aot
    assert "<code>elapsed_time</code></th><td><code class=\"cm-value\">2.0</code>" in aot
    failed = (tmp_path / "out/-_1_0_0/bwd_compilation_metrics_2.html").read_text()
    assert value_rows(failed) == {} and "No inductor or code generation time was logged." in failed
    assert '<pre class="cm-text cm-error">F</pre>' in failed
    # backward failures are not compilation failures in legacy's table
    assert '<tr class="fr-failure">' not in (tmp_path / "out/failures_and_restarts.html").read_text()


# -- specializations and fast guards are drained like legacy -------------------------------------

def drain_log() -> str:
    spec = {"symbol": "s0", "sources": ["L['x'].size()[0]", "L['<y>']"], "value": "3", "reason": "r",
            "stack": [frame(5, "f")], "user_stack": []}
    return "".join([
        *STRINGS,
        entry({"symbolic_shape_specialization": spec, **cid()}),
        entry({"guard_added_fast": {"expr": "attempt1"}, **cid(attempt=1)}),
        entry({"guard_added_fast": {"expr": "no_attempt"}, "frame_id": 0, "frame_compile_id": 0}),
        entry({"guard_added_fast": {"expr": "early", "user_stack": [frame(7, "g")]}, **cid()}),
        cm(cid(), graph_op_count=1, restart_reasons=["r"]),
        entry({"guard_added_fast": {"expr": "late"}, **cid()}),
        entry({"guard_added_fast": {"expr": "other frame"}, **cid(1)}),
        cm(cid(attempt=1), graph_op_count=1),
        cm(cid(), graph_op_count=1),
        cm(cid(1), graph_op_count=1),
    ])


def shown(out: Path, page: str) -> tuple[list[str], list[str]]:
    """(specialization symbols, fast-guard exprs) on one of our metrics pages."""
    text = (out / page).read_text()
    return (table_first_cells(section(text, "Symbolic shape specializations")),
            table_first_cells(section(text, "Guards added fast")))


def test_specializations_and_guards_are_drained_like_legacy(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", drain_log())
    render_module(log, tmp_path / "out", options={"drain": "legacy"})
    out = tmp_path / "out"
    assert shown(out, "-_0_0_0/compilation_metrics_0.html") == (["s0"], ["early"])
    assert shown(out, "-_0_0_1/compilation_metrics_1.html") == ([], ["late"])  # looked up as attempt 0
    assert shown(out, "-_0_0_0/compilation_metrics_2.html") == ([], [])  # drained: shown once
    assert shown(out, "-_1_0_0/compilation_metrics_3.html") == ([], ["other frame"])
    page = (out / "-_0_0_0/compilation_metrics_0.html").read_text()
    specs = section(page, "Symbolic shape specializations")
    assert "<code>L[&#39;x&#39;].size()[0]</code><br><code>L[&#39;&lt;y&gt;&#39;]</code>" in specs
    assert '<summary>User Stack <span class="tlp-count">(0 frames)</span></summary>' in specs  # logged as []
    assert re.search(r"<summary>Framework Stack: .*/home/user/model.py:5</span> in .*\(1 frame\)</span></summary>",
                     specs)
    assert "/home/user/model.py:5 in" in frame_texts(specs)[0]
    # entries logged under attempt 1 or without an attempt never match legacy's lookup
    everything = "".join(p.read_text() for p in out.rglob("compilation_metrics_*.html"))
    assert "attempt1" not in everything and "no_attempt" not in everything


def test_by_default_every_entry_is_shown(tmp_path: Path) -> None:
    """Legacy never shows entries logged under a retry (attempt 1) or with no attempt: a bug."""
    log = write(tmp_path / "t.log", drain_log())
    render_module(log, tmp_path / "out")
    assert shown(tmp_path / "out", "-_0_0_0/compilation_metrics_0.html") == (
        ["s0"], ["attempt1", "no_attempt", "early"])


@needs_legacy
def test_drained_entries_match_legacy_page_by_page(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", drain_log())
    legacy_out = tmp_path / "legacy"
    subprocess.run([str(LEGACY), str(log), "-o", str(legacy_out), "--overwrite", "--no-browser"],
                   check=True, capture_output=True, timeout=120)
    render_module(log, tmp_path / "out", options={"drain": "legacy"})
    pages = sorted(p.relative_to(legacy_out).as_posix() for p in legacy_out.rglob("compilation_metrics_*.html"))
    assert len(pages) == 4
    for page in pages:
        legacy = (legacy_out / page).read_text()
        theirs = (table_first_cells(legacy[legacy.index("<h2>Symbolic shape specializations</h2>"):
                                           legacy.index("<h2>Guards added fast</h2>")]),
                  table_first_cells(legacy[legacy.index("<h2>Guards added fast</h2>"):]))
        assert shown(tmp_path / "out", page) == theirs, page


# -- failures_and_restarts.html ------------------------------------------------------------------

def test_failure_rows_escape_restarts_and_survive_a_missing_reason(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", "".join([
        cm(cid(), restart_reasons=["<script>alert(1)</script>", "second"], fail_type="NoReason"),
        cm(cid(1), fail_type="E", fail_reason="boom", fail_user_frame_filename="/u.py",
                      fail_user_frame_lineno=3),
    ]))
    output = render_module(log, tmp_path / "out")
    failures = (tmp_path / "out/failures_and_restarts.html").read_text()
    assert "<script>alert" not in failures
    rows = re.findall(r'<tr class="fr-(\w+)">(.*?)</tr>', failures, re.S)
    texts = [(kind, cells_of(body)) for kind, body in rows]
    assert texts == [
        ("restart", ["[0/0]", "RestartAnalysis", "<script>alert(1)</script>", "Not available for restarts (yet)"]),
        ("restart", ["[0/0]", "RestartAnalysis", "second", "Not available for restarts (yet)"]),
        ("failure", ["[0/0]", "NoReason", "(no reason was logged)", "N/A:0"]),
        ("failure", ["[1/0]", "E", "boom", "/u.py:3"]),
    ]
    page = (tmp_path / "out/-_0_0_0/compilation_metrics_0.html").read_text()
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in page
    (entry_,) = output.index_entries
    assert "4 restart(s) and/or compilation failure(s)" in entry_.html
    assert "2 restarts, 2 failures" in entry_.html


def test_failures_page_is_always_written(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", entry({"dynamo_output_graph": {}, **cid()}, "graph"))
    output = render_module(log, tmp_path / "out")
    failures = (tmp_path / "out/failures_and_restarts.html").read_text()
    assert "No restarts or compilation failures were logged." in failures
    assert "<th>Failure Source (compilation failures only)</th>" in failures
    (entry_,) = output.index_entries
    assert entry_.kind == "html" and entry_.shard == ""
    assert "No restarts or compilation failures" in entry_.html
    assert not (tmp_path / "out/data").exists()


# -- the index entry -----------------------------------------------------------------------------

def shard_data(path: Path) -> Any:
    literal = re.fullmatch(r'TLP\.register\("compilation_metrics", "pages", JSON\.parse\((.*)\)\);\n',
                           path.read_text(), re.S)
    assert literal is not None
    return json.loads(json.loads(literal.group(1)))


def test_index_entry_is_hybrid_with_every_page_in_a_shard(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", "".join([
        cm(cid(), graph_op_count=1, restart_reasons=[]),
        cm(cid(1), graph_op_count=1, restart_reasons=["<r>"]),
        cm(cid(2), fail_type="E", fail_reason="x"),
        entry({"bwd_compilation_metrics": {}, **cid()}),
    ]))
    (entry_,) = render_module(log, tmp_path / "out").index_entries
    assert (entry_.kind, entry_.section, entry_.shard, entry_.renderer) == ("hybrid", "failures", "pages", "artifacts")
    assert 'href="failures_and_restarts.html"' in entry_.html
    items = shard_data(tmp_path / "out/data/compilation_metrics/pages.js")
    assert [(i["url"], i["name"], i["suffix"], i["number"]) for i in items] == [
        ("-_0_0_0/compilation_metrics_0.html", "[0/0] compilation metrics", "compiled", 0),
        ("-_1_0_0/compilation_metrics_1.html", "[1/0] compilation metrics", "restarted", 1),
        ("-_2_0_0/compilation_metrics_2.html", "[2/0] compilation metrics", "failed", 2),
        ("-_0_0_0/bwd_compilation_metrics_3.html", "[0/0] backward compilation metrics", "compiled", 3)]
    assert all(i["external"] is False and i["readable_url"] is None for i in items)


def test_eager_index_entry_lists_pages_inline(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", cm(cid(), graph_op_count=0))
    (entry_,) = render_module(log, tmp_path / "out", eager=True).index_entries
    assert entry_.kind == "html" and entry_.shard == ""
    assert ('<a href="-_0_0_0/compilation_metrics_0.html">[0/0] compilation metrics</a>'
            ' <span class="tlp-suffix">empty graph</span>') in entry_.html
    assert not (tmp_path / "out/data").exists()


# -- number formatting ---------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "f64", "text"), [
    (None, False, ""), (True, False, "true"), (7, False, "7"), (5, True, "5.0"), (0.0, False, "0.0"),
    (3.910064697265625e-05, False, "0.00003910064697265625"), (1e-5, False, "0.00001"), (1e-7, False, "1e-7"),
    (1e15, False, "1000000000000000.0"), (1e16, False, "1e16"), (1.2345678901234567e19, False, "1.2345678901234567e19"),
    (5e-324, False, "5e-324"), (-2.5e-6, False, "-2.5e-6"),
    # legacy reads this one ulp off (…582); we show the logged value (legacy-diff: float-rounding)
    (0.025464773178100586, False, "0.025464773178100586"),
    (["a", 1], False, '["a",1]'),
])
def test_numbers_print_as_legacy_prints_them(value: Any, f64: bool, text: str) -> None:
    assert metrics_model.number_text(value, f64) == text


# -- words legacy shows are all on our pages -----------------------------------------------------

LEGACY_WORD_LOGS = [
    pytest.param(LEGACY_TESTS / "comp_metrics.log", id="comp_metrics"),
    pytest.param(TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log", id="03_graph_breaks"),
    pytest.param(TORCH_213 / "05_failure" / "dedicated_log_torch_trace_kqq2ecy2.log", id="05_failure"),
    pytest.param(TORCH_213 / "02_training" / "dedicated_log_torch_trace_aambwkd9.log", id="02_training"),
]


@needs_legacy
@pytest.mark.parametrize("source", LEGACY_WORD_LOGS)
def test_every_word_legacy_shows_is_on_our_pages(tmp_path: Path, source: Path) -> None:
    log = corpus_copy(source, tmp_path)
    legacy_out = tmp_path / "legacy"
    subprocess.run([str(LEGACY), str(log), "-o", str(legacy_out), "--overwrite", "--no-browser"],
                   check=True, capture_output=True, timeout=300)
    out = build(log, tmp_path / "ours")
    pages = [p.relative_to(legacy_out).as_posix() for p in legacy_out.rglob("*.html")
             if p.name == "failures_and_restarts.html" or "compilation_metrics_" in p.name]
    assert pages
    for page in pages:
        ours = out / page
        assert ours.is_file(), page
        items = compare_html((legacy_out / page).read_text(), ours.read_text())
        allowed = REWORDED.get(page, set()) | {FLOAT_ROUNDING}
        missing = {w: n for w, n in items if w not in allowed and not re.fullmatch(r"eval_with_key_\d+\.html", w)}
        assert not missing, f"{page}: {missing}"


# -- what the module renders once per run gives what the macros give ------------------------------

def metrics_context(tmp_path: Path, eager: bool = False) -> ModuleContext:
    spec = next(m for m in yaml.safe_load(default_modules_yaml().read_text())["modules"]
                if m["id"] == "compilation_metrics")
    return ModuleContext("compilation_metrics", tmp_path, {}, {"eager": eager, "mode": "default"},
                         [str(d) for d in template_dirs()], tuple(spec["templates"]), strategy="hybrid")


def test_file_lists_render_each_item_once_and_as_the_macro_does(tmp_path: Path) -> None:
    ctx = metrics_context(tmp_path)
    lists = cmm.FileLists(ctx)
    assert lists.around is not None
    outputs = [metrics_model.output_ref(o) for o in [
        {"kind": "payload", "url": "-_0_0_0/a b.txt", "name": "a", "number": 1, "suffix": "✅"},
        {"kind": "link", "url": "javascript:alert(1)", "name": "<x>", "number": None, "suffix": ""},
        {"kind": "link", "url": "https://x/y", "name": "y", "number": 2, "suffix": ""},
        {"kind": "dump_file", "url": "dump/eval_with_key_1.html", "name": "e", "number": 3, "suffix": "",
         "readable_url": "dump/r.html"}]]
    whole = ctx.macro("artifact_list.html", "artifact_list")
    key = ("-_0_0_0", "-_0_0_0", "../")
    for count in (1, 2, 4):  # a compile id's list grows along the log
        links = lists.links(key, outputs[:count])
        assert links == [metrics_model.file_link(o, "-_0_0_0", "../") for o in outputs[:count]]
        assert lists.html(key, count) == whole(links)
    assert lists.html(key, 2) == whole(links[:2]) and lists.html(key, 0) == whole([])
    elsewhere = lists.links(("-_0_0_0", "-_0_0_1", "../"), outputs)  # a page of attempt 1
    assert elsewhere[0].name == "-_0_0_0/a b.txt" and links[0].name == "a b.txt"
    assert whole(links) == whole([link._asdict() for link in links])  # as listed_file dicts show
    lists.around = None  # a list that is not its items in between is rendered whole
    assert lists.html(key, 4) == whole(links)


def test_stacks_are_viewed_and_rendered_once_per_value(tmp_path: Path) -> None:
    ctx = metrics_context(tmp_path)
    stacks = cmm.Stacks(ctx, {"0": "/home/user/model.py", "1": "/torch/_dynamo/eval_with_key_3"})
    logged = [{"line": 1, "name": "<f>", "filename": 0}, {"line": 2, "name": "g", "filename": 1, "loc": "x = 1"}]
    view = stacks.view(logged)
    assert stacks.view(json.loads(json.dumps(logged))) is view and stacks.view(logged[:1]) is not view
    macro = ctx.macro("frame.html", "stack")
    for shown in (view, stacks.view("not frames"), stacks.view(None), stacks.view([]), None,
                  kit.stack_of(logged, stacks.strings)):
        for caption, root, open_ in (("Stack", "../", True), ("User Stack", "", False)):
            assert stacks(shown, caption, root, open=open_) == macro(shown, caption, root, open=open_)
            assert stacks(shown, caption, root, open=open_) == macro(shown, caption, root, open=open_)
    compiled = {"co_name": "f", "co_filename": "/m.py", "co_firstlineno": 3}
    frame = stacks.mini_frame(compiled)
    assert frame == metrics_model.mini_frame(compiled) and stacks.mini_frame(dict(compiled)) is frame
    assert stacks(frame, "Stack", "../", open=True) == macro(frame, "Stack", "../", open=True)
    other = stacks.mini_frame({**compiled, "co_firstlineno": 3.0})  # equal, but printed as 3.0
    assert other is not None and other is not frame and other.frames[0].location == "/m.py:3.0"
    assert stacks.mini_frame({"co_name": "f"}) is None is metrics_model.mini_frame({"co_name": "f"})


@pytest.mark.parametrize("eager", [False, True])
def test_other_fields_made_once_are_the_fields_and_rows_of_each_page(tmp_path: Path, eager: bool) -> None:
    ctx = metrics_context(tmp_path, eager=eager)
    values = cmm.SharedValues("compilation_metrics", enabled=ctx.lazy)
    other = cmm.OtherFields(ctx, values)
    big = {f"k{i}": "v" * 50 for i in range(60)}
    metrics = {"graph_op_count": 3, "one": 1, "one_f": 1.0, "yes": True, "text": "1", "start_time": 5,
               "multi": "a\n<b>", "lines": ["a\nb", "c"], "list": [1, None], "obj": {"q": 1e20}, "big": big,
               "none": None, "amp": "a&b"}
    macro = ctx.macro("metrics_macros.html", "other_field")
    for kind in ("compilation_metrics", "bwd_compilation_metrics", "aot_autograd_backward_compilation_metrics"):
        for _ in range(2):
            made = other(metrics, kind, "../")
            shown = metrics_model.shown_fields(kind)
            fields = [values.defer(f, "../") for f in metrics_model.other_fields(metrics, shown)]
            assert [m.field for m in made] == fields
            assert other.rows(made) == "".join(macro(f) for f in fields)
    texts = {m.field.key: m.field.value for m in other(metrics, "compilation_metrics", "../")}
    assert [texts[k] for k in ("one", "one_f", "yes", "text", "start_time")] == ["1", "1.0", "true", "1", "5.0"]
    assert any(m.field.lazy for m in other(metrics, "compilation_metrics", "")) != eager


def test_value_rows_rendered_once_are_the_rows_of_each_table(tmp_path: Path) -> None:
    ctx = metrics_context(tmp_path)
    rows = cmm.ValueRows(ctx)
    macro = ctx.macro("metrics_macros.html", "value_row")
    table = [metrics_model.Row("Entire Frame", "1.5", "<help> & more"), metrics_model.Row("Graph Ops", "<3>"),
             metrics_model.Row("Graph Ops", "")]
    for _ in range(2):
        assert rows(table) == "".join(macro(r) for r in table)
    assert rows([]) == "" and len(rows.rendered) == len(table)
