"""compile_artifacts, cache, chromium_trace, raw and overview: the files a user gets, where
legacy puts them (spec §8 tests 1, 2, 5, 6, 7), and what the index says about them."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import orjson
import pytest

from devtools.legacy_diff import visible_words
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.logs import cid, entry, simple_log, write
from tlparse_tasks.cli import main
from tlparse_tasks.modules.artifact_files import pretty_json
from tlparse_tasks.modules.compile_artifacts import generic_entry
from tlparse_tasks.resources import TEMPLATE_DIR


def report(log: Path, out: Path, *flags: str) -> Path:
    assert main([str(log), "-o", str(out), "--no-browser", *flags]) == 0
    return out


def files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def has_prefix(out: Path, *prefixes: str) -> None:
    names = files(out)
    for prefix in prefixes:
        assert any(name.startswith(prefix) for name in names), prefix


LEGACY_SIMPLE_PREFIXES = ("-_0_0_0/aot_forward_graph", "-_0_0_0/dynamo_output_graph", "index.html",
                          "compile_directory.json", "-_0_0_0/inductor_post_grad_graph",
                          "-_0_0_0/inductor_output_code")


@pytest.mark.parametrize("name", ["simple.log", "simple_corrupted_json.log"])
def test_simple_logs(tmp_path: Path, name: str) -> None:
    """Legacy tests 1 and 2: the files, and raw.jsonl = string table + 14 entries."""
    out = report(corpus_copy(LEGACY_TESTS / name, tmp_path), tmp_path / "out")
    has_prefix(out, *LEGACY_SIMPLE_PREFIXES)
    lines = (out / "raw.jsonl").read_text().splitlines()
    assert len(lines) == 15 and lines[0].startswith('{"string_table":')
    raw = [json.loads(line) for line in lines[1:]]
    assert all(isinstance(r["timestamp"], str) and isinstance(r["thread"], int) for r in raw)
    assert all(r["pathname"].startswith(" ") for r in raw)  # legacy keeps the leading space
    for record in raw:
        if "payload_filename" in record:
            assert (out / record["payload_filename"]).is_file()
    assert (out / "raw.log").read_bytes() == (tmp_path / name).read_bytes()


def test_artifact_json_is_pretty_and_sorted(tmp_path: Path) -> None:
    """Legacy test 5 (artifacts.log) plus the JSON format rules of spec §2.3."""
    out = report(corpus_copy(LEGACY_TESTS / "artifacts.log", tmp_path), tmp_path / "out")
    has_prefix(out, "-_0_0_0/fx_graph_cache_hash", "index.html")
    assert pretty_json('{"b": 1e-7, "a": [1.5, 1e16, "é"], "c": {}}') == (
        '{\n  "a": [\n    1.5,\n    1e16,\n    "é"\n  ],\n  "b": 1e-7,\n  "c": {}\n}').encode()
    assert pretty_json("not json {") == b"not json {"


def test_chromium_events(tmp_path: Path) -> None:
    """Legacy test 6: chromium_events.json is the intermediate array, and the index links it."""
    out = report(corpus_copy(LEGACY_TESTS / "chromium_events.log", tmp_path), tmp_path / "out")
    events = json.loads((out / "chromium_events.json").read_text())
    assert events and all("ph" in event for event in events)
    assert (out / "chromium_events.json").read_bytes() == (out / "intermediate/chromium_events.json").read_bytes()
    assert 'href="chromium_events.json"' in (out / "index.html").read_text()


def test_cache_hit_miss_files_and_markers(tmp_path: Path) -> None:
    """Legacy test 7, plus the ✅/❌ markers in the compile directory and the cache summary."""
    out = report(corpus_copy(LEGACY_TESTS / "cache_hit_miss.log", tmp_path), tmp_path / "out")
    for name in ("-_1_0_0/fx_graph_cache_miss_33.json", "-_1_0_0/fx_graph_cache_miss_9.json",
                 "-_1_0_0/fx_graph_cache_hit_20.json"):
        assert (out / name).is_file(), name
    directory = json.loads((out / "compile_directory.json").read_text())
    suffixes = {a["name"]: a["suffix"] for a in directory["[1/0]"]["artifacts"]}
    assert suffixes["fx_graph_cache_miss_9.json"] == "❌" and suffixes["fx_graph_cache_hit_20.json"] == "✅"
    index = (out / "index.html").read_text()
    assert "The compile caches were consulted" in index and "data/cache/artifacts.js" in index


def code_text(html: str) -> str:
    """The text inside a code page's `<pre>`, as a browser reads it (tags dropped, entities decoded)."""
    body = html[html.index("<pre"):html.index("</pre>")]
    return unescape(re.sub(r"<[^>]*>", "", body[body.index(">") + 1:]))


def test_inductor_output_code_page_and_plain_text(tmp_path: Path) -> None:
    log = corpus_copy(LEGACY_TESTS / "simple.log", tmp_path)
    out = report(log, tmp_path / "html")
    (page,) = (out / "-_0_0_0").glob("inductor_output_code_*_5.html")
    html = page.read_text()
    record = next(r for r in map(orjson.loads, (out / "intermediate/codegen.jsonl").read_bytes().splitlines()))
    # lazy (default): the whole source as plain text, coloured by the browser, no Pygments work
    assert '<span id="L1" class="tlp-line">' in html and 'class="k"' not in html
    assert code_text(html) == record["payload"]
    assert '<script src="../highlight.js" defer></script>' in html
    assert '<script src="../copy.js" defer></script>' in html and 'data-tlp-copy="code"' in html
    assert (out / "copy.js").read_bytes() == (TEMPLATE_DIR / "static/copy.js").read_bytes()
    assert (out / "highlight.js").read_bytes() == (TEMPLATE_DIR / "static/highlight.js").read_bytes()
    assert (out / "pygments.css").is_file()
    # --eager: Pygments token classes at build time, no script
    eager = report(log, tmp_path / "eager", "--eager")
    (eager_page,) = (eager / "-_0_0_0").glob("inductor_output_code_*_5.html")
    eager_html = eager_page.read_text()
    assert '<span id="L1" class="tlp-line">' in eager_html and 'class="k"' in eager_html
    assert code_text(eager_html) == record["payload"] and "<script" not in eager_html
    assert not (eager / "copy.js").exists()
    assert not (eager / "highlight.js").exists()
    assert visible_words(html) == visible_words(eager_html)  # what legacy-diff compares (it runs --eager)
    plain = report(log, tmp_path / "plain", "-p")
    (text,) = (plain / "-_0_0_0").glob("inductor_output_code_*_5.txt")
    assert text.read_text() == record["payload"]
    raw = [json.loads(line) for line in (plain / "raw.jsonl").read_text().splitlines()[1:]]
    assert any(r.get("payload_filename", "").endswith(text.name) for r in raw)
    assert not list((plain / "payloads").glob("*.txt"))  # spec §9: -p leaves no payloads/ file


def test_dump_file_page_has_line_anchors_and_the_trie_links_them(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", "".join([
        entry({"str": ["<eval_with_key>.3", 0]}),
        entry({"dynamo_start": {"stack": [{"line": 2, "name": "forward", "filename": 0}]}, **cid()}),
        entry({"dump_file": {"name": "<eval_with_key>.3"}, **cid()}, "def forward(self, x):\n    return x + 1"),
    ]))
    out = report(log, tmp_path / "out")
    page = (out / "dump_file/eval_with_key_3.html").read_text()
    assert '<span id="L1" class="tlp-line">' in page and '<span id="L2" class="tlp-line">' in page
    assert 'href="dump_file/eval_with_key_3.html#L2"' in (out / "index.html").read_text()


def test_kernel_stack_traces_get_a_readable_page(tmp_path: Path) -> None:
    """Spec test 18: the readable twin shows real line breaks and the index links it."""
    traces = {"triton_poi_0": ["line 1\\n  foo()\\n"], "cpp_kernel": ["a\\nb"]}
    log = write(tmp_path / "t.log", entry({"artifact": {
        "name": "inductor_provenance_tracking_kernel_stack_traces", "encoding": "json"}, **cid()},
        json.dumps(traces)))
    out = report(log, tmp_path / "out")
    html = (out / "-_0_0_0/inductor_provenance_tracking_kernel_stack_traces_0_readable.html").read_text()
    assert "line 1\n  foo()</pre>" in html and "\\n" not in html
    assert html.index("cpp_kernel") < html.index("triton_poi_0")  # kernels sorted
    directory = json.loads((out / "compile_directory.json").read_text())
    (artifact,) = directory["[0/0]"]["artifacts"]
    assert artifact["number"] == 1
    assert artifact["readable_url"] == "-_0_0_0/inductor_provenance_tracking_kernel_stack_traces_0_readable.html"


def test_unknown_types_are_kept_as_generic_entries(tmp_path: Path) -> None:
    corpus = corpus_copy(TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log", tmp_path)
    for flags in ((), ("--eager",)):
        out = report(corpus, tmp_path / f"out{len(flags)}", *flags)
        index = (out / "index.html").read_text()
        assert "create_symbol</code> (2)" in index  # the unknown-fields notice
        assert '<code>create_symbol</code> (2 entries): <a href="other_entries/0_1.html">show</a>' in index
        page = (out / "other_entries/0_1.html").read_text()
        assert '<dt>symbol</dt><dd><code class="tlp-entry-value">zf37</code></dd>' in page
        assert "torch_dynamo_resume_in_f_at_26" in page and "<script" not in page


def test_generic_entry_shows_metadata_stacks_and_small_payloads(tmp_path: Path) -> None:
    """The view of one entry on corpus data: each metadata value as text, stacks as frames
    (file names from the string table), the payload only when small, the payload file linked."""
    corpus = corpus_copy(TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log", tmp_path)
    out = report(corpus, tmp_path / "out")
    strings = {str(i): s for i, s in enumerate(json.loads((out / "intermediate/string_table.json").read_text())
                                                ["string_table"]) if s is not None}
    record = next(r for r in map(json.loads, (out / "intermediate/artifacts.jsonl").read_text().splitlines())
                  if r["type"] == "create_symbol")
    view = generic_entry(record, strings)
    assert (view["kind"], view["compile_id"], view["line"], view["url"]) == ("create_symbol", "[3/1]", 20896, None)
    fields = {f["name"]: f for f in view["fields"]}
    assert list(fields)[:4] == ["symbol", "val", "vr", "source"]  # logged order
    assert fields["symbol"] == {"name": "symbol", "value": "zf37", "block": False}
    user = fields["user_stack (1 frame)"]
    assert user["block"] and user["value"] == (
        "/home/user/corpus/03_graph_breaks/gen.py:26 in torch_dynamo_resume_in_f_at_26\n"
        "    n = int(b.max().item() * 10) % 3         # graph break: item() (capture_scalar_outputs=False)")
    stack = fields[f"stack ({len(record['metadata']['stack'])} frames)"]["value"]
    assert stack.count(" in ") >= len(record["metadata"]["stack"]) and "trace_structured" in stack.splitlines()[-2]
    small = generic_entry({**record, "payload": "a\nb", "payload_file": "payloads/x.txt"}, strings)
    assert small["fields"][-1] == {"name": "payload", "value": "a\nb", "block": True}
    assert small["url"] == "payloads/x.txt"
    big = generic_entry({**record, "payload": "y" * 5000}, strings)
    assert big["fields"][-1]["value"] == "5,000 characters, in the payload file"
    huge = generic_entry({**record, "metadata": {"v": "z" * 30_000}}, strings)
    assert huge["fields"][0]["value"].endswith("… (10,000 more characters)")
    scalar = generic_entry({**record, "metadata": 7}, strings)
    assert scalar["fields"] == [{"name": "value", "value": "7", "block": False}]


def test_diagnostics_name_each_problem_line(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", simple_log() + "garbage line\n")
    out = report(log, tmp_path / "out")
    index = (out / "index.html").read_text()
    assert "line 9: failed to parse glog prefix" in index and "<code>fail_glog</code>" in index


def test_eager_report_has_no_lazy_data(tmp_path: Path) -> None:
    out = report(corpus_copy(LEGACY_TESTS / "cache_hit_miss.log", tmp_path), tmp_path / "out", "--eager")
    assert not (out / "data").exists()
    index = (out / "index.html").read_text()
    assert "data-tlp-src" not in index and "modules.js" not in index
    assert "fx_graph_cache_miss_33.json" in index


def test_stale_files_are_removed_when_the_log_is_replaced(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", entry({"artifact": {"name": "first", "encoding": "string"}, **cid()}, "1"))
    out = report(log, tmp_path / "out")
    assert (out / "-_0_0_0/first_0.txt").is_file()
    write(log, entry({"artifact": {"name": "second", "encoding": "string"}, **cid()}, "2"))
    report(log, out)
    assert (out / "-_0_0_0/second_0.txt").is_file() and not (out / "-_0_0_0/first_0.txt").exists()


def test_every_graph_type_is_written_verbatim(tmp_path: Path) -> None:
    """Spec §2.2: sentinel graphs, graph_dump and optimize_ddp_split_child, each numbered in order."""
    kinds = ["dynamo_output_graph", "aot_forward_graph", "aot_backward_graph", "aot_inference_graph",
             "aot_joint_graph", "inductor_pre_grad_graph", "inductor_post_grad_graph",
             "optimize_ddp_split_graph", "compiled_autograd_graph"]
    lines = [entry({kind: {}, **cid()}, f"graph of {kind}\n  body") for kind in kinds]
    lines.append(entry({"graph_dump": {"name": "my_dump"}, **cid()}, "dumped graph"))
    lines.append(entry({"optimize_ddp_split_child": {"name": "submod_0"}, **cid()}, "child graph"))
    out = report(write(tmp_path / "t.log", "".join(lines)), tmp_path / "out")
    for number, kind in enumerate(kinds):
        assert (out / f"-_0_0_0/{kind}_{number}.txt").read_text() == f"graph of {kind}\n  body"
    assert (out / "-_0_0_0/my_dump_9.txt").read_text() == "dumped graph"
    assert (out / "-_0_0_0/optimize_ddp_split_child_submod_0_10.txt").read_text() == "child graph"


def test_export_mode_writes_the_exported_program_and_links_it(tmp_path: Path) -> None:
    out = report(corpus_copy(LEGACY_TESTS / "export.log", tmp_path), tmp_path / "out", "-e")
    (record,) = [r for r in map(orjson.loads, (out / "intermediate/export.jsonl").read_bytes().splitlines())
                 if r["type"] == "exported_program"]
    assert record["outputs"][0]["url"] == "-_-_-_-/exported_program_1.txt"  # legacy's path and number
    assert (out / "-_-_-_-/exported_program_1.txt").read_text() == record["payload"] != ""
    assert 'href="-_-_-_-/exported_program_1.txt"' in (out / "index.html").read_text()  # the export module


def test_cpp_sources_are_highlighted_as_cpp(tmp_path: Path) -> None:
    """A dump_file named like a C++ file gets the C++ highlighter (in the browser or, --eager, Pygments)."""
    source = "#include <vector>\nint64_t main() { return 0; }\n"
    log = write(tmp_path / "t.log", entry({"dump_file": {"name": "kernel.cpp"}, **cid()}, source))
    (lazy,) = (report(log, tmp_path / "lazy") / "dump_file").glob("*.html")
    assert 'data-lang="cpp"' in lazy.read_text() and code_text(lazy.read_text()) == source
    (eager,) = (report(log, tmp_path / "eager", "--eager") / "dump_file").glob("*.html")
    html = eager.read_text()
    assert 'data-lang="cpp"' in html and '<span class="cp">#include</span>' in html
    assert '<span class="kt">int64_t</span>' in html and '<span class="nf">main</span>' in html
