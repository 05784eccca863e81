"""The provenance module (`-i`): legacy's pages and lineMappings on the corpus, one compile per
page where legacy mixes compiles, pages for directories without data, escaping, the index."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import build_report
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.fixture_modules import LEGACY
from tests.logs import cid, entry, write
from tlparse_tasks.modules.provenance import CodeLines, line_mappings, node_lines

MAPPINGS_TAG = re.compile(r'<script id="lineMappings" type="application/json">(.*?)</script>', re.S)
PROVENANCE_LOGS = sorted(p.name for p in LEGACY_TESTS.glob("inductor_provenance_*"))

# Legacy's own integration tests (spec §8 rows 10-16): files that must exist and mapping values.
LEGACY_FILES = {
    "inductor_provenance_aot_cuda_log.txt": ["-_-_-_-/before_pre_grad_graph_0.txt",
                                             "-_-_-_-/after_post_grad_graph_6.txt",
                                             "-_-_-_-/inductor_provenance_tracking_node_mappings_12.json"],
    "inductor_provenance_aot_debug_handle_log.txt": ["-_-_-_-/before_pre_grad_graph_0.txt",
                                                     "-_-_-_-/after_post_grad_graph_6.txt",
                                                     "-_-_-_-/inductor_provenance_tracking_node_mappings_10.json"],
    "inductor_provenance_aot_log.txt": ["-_-_-_-/before_pre_grad_graph_0.txt", "-_-_-_-/after_post_grad_graph_6.txt",
                                        "-_-_-_-/inductor_provenance_tracking_node_mappings_11.json"],
    "inductor_provenance_aot_log_old.txt": ["-_-_-_-/inductor_pre_grad_graph_0.txt",
                                            "-_-_-_-/inductor_post_grad_graph_8.txt",
                                            "-_-_-_-/inductor_provenance_tracking_node_mappings_11.json"],
    "inductor_provenance_jit_cuda_log.txt": ["-_0_0_0/before_pre_grad_graph_1.txt",
                                             "-_0_0_0/after_post_grad_graph_8.txt",
                                             "-_0_0_0/inductor_provenance_tracking_node_mappings_14.json"],
    "inductor_provenance_jit_log.txt": ["-_0_0_0/before_pre_grad_graph_1.txt", "-_0_0_0/after_post_grad_graph_8.txt",
                                        "-_0_0_0/inductor_provenance_tracking_node_mappings_13.json"],
    "inductor_provenance_jit_debug_handle_log.txt": ["-_0_0_0/before_pre_grad_graph_1.txt",
                                                     "-_0_0_0/after_post_grad_graph_11.txt",
                                                     "-_0_0_0/inductor_provenance_tracking_node_mappings_14.json"],
}
LEGACY_VALUES: dict[str, tuple[str, str, dict[str, list[int]] | list[str]]] = {
    # log → (page, table, entries it holds, or the exact keys of the table)
    "inductor_provenance_aot_cuda_log.txt": ("-_-_-_-", "cppCodeToPost", {"1060": [14, 27, 24]}),
    "inductor_provenance_aot_debug_handle_log.txt": ("-_-_-_-", "cppCodeToPost", {
        "1074": [12], "1079": [19, 16, 13], "1087": [22], "1096": [25], "1102": [33, 29, 26, 32, 31, 30]}),
    "inductor_provenance_aot_log.txt": ("-_-_-_-", "cppCodeToPost", ["813", "821", "829", "834"]),
    "inductor_provenance_aot_log_old.txt": ("-_-_-_-", "cppCodeToPost", {"704": [21], "717": [31, 27, 30, 29, 28]}),
    "inductor_provenance_jit_cuda_log.txt": ("-_0_0_0", "pyCodeToPost", ["186", "192", "197", "201", "207"]),
    "inductor_provenance_jit_log.txt": ("-_0_0_0", "pyCodeToPost", ["132", "138", "142", "147"]),
    "inductor_provenance_jit_debug_handle_log.txt": ("-_0_0_0", "pyCodeToPost", ["197", "204", "211", "216", "223"]),
}


def line_mappings_of(page: Path) -> Any:
    """The JSON legacy's tests extract, with exactly legacy's tag."""
    found = MAPPINGS_TAG.findall(page.read_text())
    assert len(found) == 1, page
    return json.loads(found[0])


def provenance_pages(out: Path) -> set[str]:
    return {p.name for p in out.glob("provenance_tracking_*.html")}


def run_legacy(log: Path, out: Path) -> None:
    subprocess.run([str(LEGACY), str(log), "-o", str(out), "-i", "--overwrite", "--no-browser"], cwd=log.parent,
                   capture_output=True, timeout=300, check=True)


@pytest.fixture(scope="module")
def corpus_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Our -i report of every provenance log of legacy's tests, built once."""
    root = tmp_path_factory.mktemp("provenance")
    reports = {}
    for name in PROVENANCE_LOGS:
        log = corpus_copy(LEGACY_TESTS / name, root)
        reports[name] = build_report(log, root / f"out-{name}", "-i").parent
    return reports


@pytest.mark.parametrize("name", sorted(LEGACY_VALUES))
def test_legacy_integration_expectations_hold(corpus_reports: dict[str, Path], name: str) -> None:
    out = corpus_reports[name]
    directory, table, expected = LEGACY_VALUES[name]
    for path in LEGACY_FILES[name]:
        assert (out / path).is_file(), path
    mappings = line_mappings_of(out / f"provenance_tracking_{directory}.html")
    assert set(mappings) == {"preToPost", "postToPre", "pyCodeToPost", "postToPyCode", "cppCodeToPost",
                             "postToCppCode"}
    if isinstance(expected, dict):
        assert {k: mappings[table][k] for k in expected} == expected
    else:
        assert sorted(mappings[table], key=int) == expected
    other = "pyCodeToPost" if table == "cppCodeToPost" else "cppCodeToPost"
    assert mappings[other] == {}  # JIT logs have no C++ wrapper, AOT logs no Python output code


@pytest.mark.legacy
@pytest.mark.skipif(not LEGACY.exists(), reason="legacy tlparse 0.4.3 is not installed in .legacy-venv")
@pytest.mark.parametrize("name", PROVENANCE_LOGS)
def test_pages_and_mappings_equal_legacy(corpus_reports: dict[str, Path], tmp_path: Path, name: str) -> None:
    """Every legacy provenance page exists with the same lineMappings (these logs hold one
    compile per directory, so legacy's "last of each kind" is right on them)."""
    log = corpus_copy(LEGACY_TESTS / name, tmp_path)
    run_legacy(log, tmp_path / "legacy")
    legacy_pages = provenance_pages(tmp_path / "legacy")
    assert legacy_pages  # one per compile directory, even without data
    ours = corpus_reports[name]
    assert legacy_pages <= provenance_pages(ours)
    for page in legacy_pages:
        assert line_mappings_of(ours / page) == line_mappings_of(tmp_path / "legacy" / page), page


def test_a_directory_without_data_says_so(corpus_reports: dict[str, Path]) -> None:
    path = corpus_reports["inductor_provenance_jit_log.txt"] / "provenance_tracking_-_-_-_-.html"
    page = path.read_text()
    assert "No provenance data was logged for this compile id" in page
    assert 'id="preGradGraph"' not in page  # no empty panes
    assert line_mappings_of(path) == {}


def test_page_links_its_sources_and_the_readable_stack_traces(corpus_reports: dict[str, Path]) -> None:
    out = corpus_reports["inductor_provenance_extended_log.txt"]
    page = (out / "provenance_tracking_-_-_-_-.html").read_text()
    links = dict((html.unescape(text), href) for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', page))
    assert links["kernel stack traces"].endswith("_readable.html")
    assert links["AOT C++ wrapper code"] == "-_-_-_-/inductor_aot_wrapper_code_9.txt"
    for href in links.values():
        assert (out / href).is_file(), href


def test_index_lists_every_directory_in_index_order(corpus_reports: dict[str, Path]) -> None:
    index = (corpus_reports["inductor_provenance_jit_log.txt"] / "index.html").read_text()
    section = index[index.index("<h2>Provenance Tracking</h2>"):]
    assert re.findall(r'<a href="(provenance_tracking_[^"]+)">', section)[:2] == [
        "provenance_tracking_-_0_0_0.html", "provenance_tracking_-_-_-_-.html"]


def test_panes_hold_the_escaped_sources_with_line_ids(corpus_reports: dict[str, Path]) -> None:
    page = (corpus_reports["inductor_provenance_aot_log.txt"] / "provenance_tracking_-_-_-_-.html").read_text()
    for pane in ("preGradGraph", "postGradGraph", "generatedCode"):
        assert f'id="{pane}"' in page
    assert 'id="post-L1" class="tlp-line">class &lt;lambda&gt;(torch.nn.Module):' in page
    # legacy numbers the C++ wrapper without its leading blank line; the pane keeps it and says so
    assert re.search(r'data-prov-pane="cpp" data-line-offset="1"', page)


# -- one compile per page -------------------------------------------------------------------------

PRE = "class GraphModule(torch.nn.Module):\n    def forward(self, x):\n        y = x * 2\n        z = y + 1\n"
FORWARD_POST = ("class <lambda>(torch.nn.Module):\n    def forward(self, a):\n        mul: 'f32' = a * 2\n"
                "        add: 'f32' = mul + 1\n")
BACKWARD_POST = ("class <lambda>(torch.nn.Module):\n    def forward(self, g):\n\n\n"
                 "        add: 'f32' = g + 0\n        mul: 'f32' = add * 2\n")
FORWARD_CODE = ("# AOT ID: ['0_forward']\nimport torch\n\ndef call(args):\n    buf0 = empty()\n"
                "    kernel_a.run(buf0)\n    kernel_b.run(buf0)\n    return (buf0,)\n")
BACKWARD_CODE = "# AOT ID: ['0_backward']\nimport torch\n\ndef call(args):\n    kernel_c.run(x)\n    return (x,)\n"
FORWARD_MAPPINGS = {"preToPost": {"y": ["mul"], "z": ["add"]}, "postToPre": {"mul": ["y"], "add": ["z"]},
                    "cppCodeToPost": {"kernel_a": ["mul"], "kernel_b": ["add"]},
                    "postToCppCode": {"mul": ["kernel_a"], "add": ["kernel_b"]}}


def artifact(name: str, payload: str, encoding: str = "string") -> str:
    return entry({"artifact": {"name": name, "encoding": encoding}, **cid()}, payload)


def two_compile_log(path: Path) -> Path:
    """[0/0] compiles a forward (with node mappings) and then a backward (without any)."""
    return write(path, "".join([
        artifact("before_pre_grad_graph", PRE),
        artifact("after_post_grad_graph", FORWARD_POST),
        entry({"inductor_output_code": {"filename": "/tmp/fw.py"}, **cid()}, FORWARD_CODE),
        artifact("inductor_provenance_tracking_node_mappings", json.dumps(FORWARD_MAPPINGS), "json"),
        artifact("after_post_grad_graph", BACKWARD_POST),
        entry({"inductor_output_code": {"filename": "/tmp/bw.py"}, **cid()}, BACKWARD_CODE),
        entry({"compilation_metrics": {"restart_reasons": []}, **cid()}),
    ]))


def test_each_page_shows_one_compile(tmp_path: Path) -> None:
    out = build_report(two_compile_log(tmp_path / "two.log"), tmp_path / "out", "-i").parent
    assert {"provenance_tracking_-_0_0_0.html", "provenance_tracking_-_0_0_0.1.html"} <= provenance_pages(out)
    forward = out / "provenance_tracking_-_0_0_0.1.html"
    # the forward's mappings against the forward's own graphs and code (pre line 3 `y` → post
    # line 3 `mul` → code line 6 `kernel_a.run`)
    assert line_mappings_of(forward) == {
        "preToPost": {"3": [3], "4": [4]}, "postToPre": {"3": [3], "4": [4]},
        "pyCodeToPost": {"6": [3], "7": [4]}, "postToPyCode": {"3": [6], "4": [7]},
        "cppCodeToPost": {}, "postToCppCode": {}}
    assert "0_forward" in forward.read_text() and "0_backward" not in forward.read_text().split("</nav>", 2)[-1]
    # The legacy path holds the last compile, the backward, which logged no mappings: legacy
    # would apply the forward's mappings to the backward's graph and code (wrong lines); ours
    # shows the backward unlinked and says why.
    last = (out / "provenance_tracking_-_0_0_0.html").read_text()
    assert line_mappings_of(out / "provenance_tracking_-_0_0_0.html") == {}
    assert "kernel_c.run(x)" in last and "kernel_a.run" not in last
    assert "No node mappings were logged for this compile" in last
    assert 'href="provenance_tracking_-_0_0_0.1.html"' in last  # the sibling compile is one click away


@pytest.mark.legacy
@pytest.mark.skipif(not LEGACY.exists(), reason="legacy tlparse 0.4.3 is not installed in .legacy-venv")
def test_legacy_mixes_compiles_where_we_do_not(tmp_path: Path) -> None:
    """The reason the pages differ from legacy's on such a log: legacy maps the forward's node
    names onto the backward's graph (whose lines are elsewhere)."""
    log = two_compile_log(tmp_path / "two.log")
    run_legacy(log, tmp_path / "legacy")
    legacy = line_mappings_of(tmp_path / "legacy" / "provenance_tracking_-_0_0_0.html")
    assert legacy["postToPre"] == {"5": [4], "6": [3]}  # backward lines 5-6 paired with the forward's nodes
    ours = build_report(log, tmp_path / "out", "-i").parent
    assert line_mappings_of(ours / "provenance_tracking_-_0_0_0.1.html")["postToPre"] == {"3": [3], "4": [4]}


def test_logged_text_is_escaped(tmp_path: Path) -> None:
    hostile = "</script><script>alert(1)</script>"  # a node name (no `=` or `:`, which end names)
    image = "<img src=x onerror=alert(2)>"
    mappings = {"preToPost": {hostile: [hostile]}, "postToPre": {}, "cppCodeToPost": {hostile: [hostile]},
                "postToCppCode": {}}
    log = write(tmp_path / "hostile.log", "".join([
        artifact("before_pre_grad_graph", f"{hostile} = x  # {image}\n"),
        artifact("after_post_grad_graph", f"{hostile}: 'f32' = y\n"),
        entry({"inductor_output_code": {"filename": "/tmp/x.py"}, **cid()},
              f"# AOT ID: 0\ndef call(args):\n    {hostile}({image})\n"),
        artifact("inductor_provenance_tracking_node_mappings", json.dumps(mappings), "json"),
    ]))
    out = build_report(log, tmp_path / "out", "-i").parent
    page = (out / "provenance_tracking_-_0_0_0.html").read_text()
    assert "<script>alert" not in page and "<img" not in page
    assert page.count("&lt;script&gt;alert(1)") == 3  # once per pane
    assert line_mappings_of(out / "provenance_tracking_-_0_0_0.html")["preToPost"] == {"1": [1]}


def test_without_the_flag_there_is_no_provenance_page(tmp_path: Path) -> None:
    out = build_report(two_compile_log(tmp_path / "two.log"), tmp_path / "out").parent
    assert provenance_pages(out) == set()
    assert "Provenance Tracking" not in (out / "index.html").read_text()
    assert not (out / "provenance").exists()


def test_dropping_the_flag_removes_the_pages(tmp_path: Path) -> None:
    log = two_compile_log(tmp_path / "two.log")
    build_report(log, tmp_path / "out", "-i")
    assert provenance_pages(tmp_path / "out")
    build_report(log, tmp_path / "out")
    assert provenance_pages(tmp_path / "out") == set()


def test_torch_213_cache_hits_get_one_page_per_compile(tmp_path: Path) -> None:
    """Run 2 of 06_cache compiles [0/0] three times (forward, backward from the FX cache, and a
    later inference after a reset): three pages, each with its own post-grad graph and code."""
    log = corpus_copy(TORCH_213 / "06_cache" / "dedicated_log_torch_trace_8vuvh52_.log", tmp_path)
    out = build_report(log, tmp_path / "out", "-i").parent
    pages = sorted(p for p in provenance_pages(out) if p.startswith("provenance_tracking_-_0_0_0"))
    assert pages == ["provenance_tracking_-_0_0_0.1.html", "provenance_tracking_-_0_0_0.2.html",
                     "provenance_tracking_-_0_0_0.html"]
    graphs = [re.findall(r'href="(-_0_0_0/inductor_post_grad_graph_\d+\.txt)"', (out / p).read_text()) for p in pages]
    assert graphs == [["-_0_0_0/inductor_post_grad_graph_7.txt"], ["-_0_0_0/inductor_post_grad_graph_13.txt"],
                      ["-_0_0_0/inductor_post_grad_graph_52.txt"]]


# -- the line rules (spec §5.3) -------------------------------------------------------------------

def test_node_lines_take_the_name_before_the_type_and_the_last_occurrence() -> None:
    graph = "# comment = x\n\n    a: 'f32' = x\n    b = a\n    a = b\n"
    assert node_lines(graph) == {"a": 5, "b": 4}


def test_debug_handles_pick_the_call_after_the_handle_comment() -> None:
    code = ("\n# AOT ID: 0\ndef call(args):\n    k.run()\n    # [Provenance debug handles] k:2\n    k.run()\n")
    source = CodeLines.python(code)
    assert source.kernel("k:2") == [5]  # counted from the `# AOT ID:` line, blank lines dropped
    assert source.kernel("k") == [3, 4, 5]
    assert source.offset == 1  # line 5 of legacy is line 6 of the source shown


def test_cpp_kernels_skip_xnumel_lines_and_use_the_last_colon() -> None:
    code = ("void AOTInductorModel::run_impl(\n    // [Provenance debug handles] ns::k:7\n"
            "    int64_t ns::k_xnumel = 4;\n    call_ns::k(buf);\n")
    assert CodeLines.aot_wrapper(code).kernel("ns::k:7") == [4]


def test_unreadable_or_missing_mappings_give_an_empty_object() -> None:
    assert line_mappings(None, PRE, FORWARD_POST, FORWARD_CODE, None) == {}
    assert line_mappings("", PRE, FORWARD_POST, FORWARD_CODE, None) == {}
    assert line_mappings("[1]", PRE, FORWARD_POST, FORWARD_CODE, None) == {}
    empty = line_mappings("{}", None, None, None, None)
    assert empty == {k: {} for k in ("preToPost", "postToPre", "pyCodeToPost", "postToPyCode", "cppCodeToPost",
                                      "postToCppCode")}
