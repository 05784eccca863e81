"""legacy-diff: the comparison rules on hand-made reports, and the corpus against legacy 0.4.3."""

from __future__ import annotations

import json
import lzma
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.lazy_view import LazyError, js_json, js_number, open_lazy_blocks, read_shard
from devtools.legacy_diff import (
    CORPUS,
    DEFAULT_ALLOWLIST,
    DEFAULT_LEGACY,
    LARGE_ENV,
    MODES,
    AllowlistError,
    Finding,
    LogReport,
    apply_allowlist,
    compare_dirs,
    compare_html,
    compare_index,
    corpus_logs,
    default_ours_cmd,
    diff_log,
    first_difference,
    format_report,
    load_allowlist,
    main,
    mode_flags,
    normalize,
    parse_allowlist,
    parse_page,
    summary_line,
    visible_words,
)
from tests.browser_support import build_report, hostile_log
from tests.conftest import LEGACY_TESTS, corpus_copy
from tlparse_tasks.module_api import listed_file, shard_script
from tlparse_tasks.resources import template_dirs

REPO = Path(__file__).resolve().parents[1]


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


# --------------------------------------------------------------------------------------------
# What a page shows


def test_visible_words_skip_hidden_content_and_split_at_blocks() -> None:
    html = ("<html><head><title>T</title><style>p {x: 1}</style></head><body><script>var s;</script>"
            "<h1>Title</h1><p>one</p><p>two</p><table><tr><td>a</td><td>b</td></tr></table>x<br>y "
            "<b>gl</b>ued &lt;module&gt; a&nbsp;&nbsp;b</body></html>")
    assert visible_words(html) == ["Title", "one", "two", "a", "b", "x", "y", "glued", "<module>", "a", "b"]


def test_legacy_source_lines_are_separate_words() -> None:
    html = '<pre><span id="L1">def f():</span><span id="L2">return 1</span><span id="x">z</span></pre>'
    assert visible_words(html) == ["def", "f():", "return", "1z"]


def test_a_page_without_closing_head_still_shows_its_body() -> None:
    assert visible_words("<head><title>t</title><body><p>shown</p></body>") == ["shown"]


@pytest.mark.parametrize(("word", "expected"), [
    ("[0/0]", "[0/0]"), ("([0/0_1]):", "[0/0_1]"), ("[!0/1/2]", "[!0/1/2]"), ("[-/-]", "[-/-]"),
    ("(6)", "6"), ('"x",', "x"), ("[Success]", "Success"), ("(unknown)", "unknown"), ("[?]:", "?"),
    ("()", ""), ("a/b.txt", "a/b.txt"),
])
def test_normalize_keeps_compile_ids_whole(word: str, expected: str) -> None:
    assert normalize(word) == expected


def test_html_needs_every_legacy_word_as_often_as_legacy() -> None:
    legacy = "<p>Graph Ops: 3</p><p>Graph Nodes: 7</p>"
    assert compare_html(legacy, "<div>Graph Ops: 3 Graph Nodes: 7 and more</div>") == []  # markup differs, ok
    assert compare_html(legacy, "<p>Graph Ops: 3 Nodes: 7</p>") == [("Graph", 1)]
    assert compare_html(legacy, "<p>Graph Ops 3</p>") == [("Graph", 1), ("Nodes", 1), ("7", 1)]


LEGACY_INDEX = """<html><head><meta charset="UTF-8"></head><style>.a{}</style><body><div>
<h2>Stack trie</h2><p>Legacy prose about the [x/y] ids.</p>
<details><summary>Stack</summary><div class='stack-trie'><ul>
<li>/a/model.py:12 in forward<br>&nbsp;&nbsp;&nbsp;&nbsp;y = f(x)</li>
<li><a href='#[0/0]' class='status-ok'>[0/0]</a> /a/model.py:3 in f<br>&nbsp;&nbsp;&nbsp;&nbsp;</li>
</ul></div></details></div><div>
<h2> Failures and Restarts </h2>
This run had <strong><a href="failures_and_restarts.html">7 restart(s) and/or compilation failure(s)</a></strong>.
<h2> Chromium Events </h2> See <a href='chromium_events.json'>Chromium Trace Events</a> in
<a href='https://ui.perfetto.dev/'>Perfetto</a>.
<p><a href="collectives_parity.json">Collectives Parity report</a> comparing ...</p>
<p>Build products below:</p>
<ul>
  <li><a id="[0/0]">[0/0]</a>
  <ul>
    <li><a href="-_0_0_0/fx_graph_cache_miss_1.json">-_0_0_0/fx_graph_cache_miss_1.json</a> ❌ (1)</li>
    <li><a href="https://example.com/trace">trace link</a>  (2)</li>
  </ul></li>
</ul></div><script>var x = "[0/0]";</script></body></html>"""

OURS_INDEX = """<!DOCTYPE html><html><head><title>r</title></head><body><main>
<h2>Stack trie</h2><p>Our own words.</p><ul>
<li><span>/a/model.py:12</span> in <span>forward</span><br><code>y = f(x)</code></li>
<li><a href="#[0/0]">[0/0]</a> /a/model.py:3 in f</li></ul>
<p><a href="failures_and_restarts.html">Failures and restarts</a>: 7 of them.</p>
<p><a href="chromium_events.json">chromium_events.json</a></p>
<details id="[0/0]"><summary>[0/0]</summary><ul>
<li><a href="-_0_0_0/fx_graph_cache_miss_1.json">-_0_0_0/fx_graph_cache_miss_1.json</a> ❌ (1)</li>
<li><a href="https://example.com/trace">trace link</a> (2)</li>
</ul></details></main></body></html>"""


def test_index_compares_data_not_prose() -> None:
    assert compare_index(LEGACY_INDEX, OURS_INDEX) == [("href=collectives_parity.json", 1)]


@pytest.mark.parametrize(("change", "missing"), [
    (('<a href="chromium_events.json">chromium_events.json</a>', "chromium_events.json"),
     [("href=chromium_events.json", 1)]),
    (('<li><a href="https://example.com/trace">trace link</a> (2)</li>', ""),
     [("href=https://example.com/trace", 1), ("link=trace link", 1), ("trace", 1), ("link", 1), ("2", 1)]),
    (('>-_0_0_0/fx_graph_cache_miss_1.json</a> ❌', ">cache miss</a>"),
     [("link=-_0_0_0/fx_graph_cache_miss_1.json", 1), ("-_0_0_0/fx_graph_cache_miss_1.json", 1),
      ("❌", 1)]),
    (('<summary>[0/0]</summary>', "<summary>0/0</summary>"), [("[0/0]", 1)]),
    (("<code>y = f(x)</code>", ""), [("y", 1), ("=", 1), ("f(x", 1)]),
    (("7 of them", "some of them"), [("7", 1)]),
])
def test_index_reports_missing_links_labels_and_data(change: tuple[str, str], missing: list[tuple[str, int]]) -> None:
    ours = OURS_INDEX.replace(*change)
    assert ours != OURS_INDEX
    assert sorted(compare_index(LEGACY_INDEX, ours)) == sorted([("href=collectives_parity.json", 1), *missing])


# --------------------------------------------------------------------------------------------
# Text files and directories


def test_first_difference_names_line_column_and_both_versions(tmp_path: Path) -> None:
    a, b, c = (write_tree(tmp_path, {}) / n for n in "abc")
    a.write_bytes(b'{"x": 1}\n{"start": 1.9018197}\n')
    b.write_bytes(b'{"x": 1}\n{"start": 1.9018195}\n')
    c.write_bytes(b'{"x": 1}\n')
    assert first_difference(a, a) is None
    assert first_difference(a, b) == ('line 2 col 19: legacy `{"start": 1.9018197}\\n` '
                                      'vs ours `{"start": 1.9018195}\\n`')
    assert first_difference(a, c) == 'line 2 col 1: legacy `{"start": 1.9018197}\\n` vs ours `<end of file>`'


def test_first_difference_shows_the_neighbourhood_of_a_long_line(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("x" * 100 + "A" + "y" * 100)
    b.write_text("x" * 100 + "B" + "y" * 100)
    assert first_difference(a, b) == (f"line 1 col 101: legacy `…{'x' * 30}A{'y' * 29}…` "
                                      f"vs ours `…{'x' * 30}B{'y' * 29}…`")


def test_compare_dirs_reports_missing_extra_different_and_ignores_our_infrastructure(tmp_path: Path) -> None:
    legacy = write_tree(tmp_path / "legacy", {
        "index.html": "<p>[0/0]</p>", "raw.log": "same", "-_0_0_0/graph_0.txt": "a\nb\n", "gone.json": "{}",
        "-_0_0_0/page_1.html": "<p>Guard Count: 3</p>", "data/kept.txt": "legacy has it"})
    ours = write_tree(tmp_path / "ours", {
        "index.html": "<p>[0/0]</p>", "raw.log": "same", "-_0_0_0/graph_0.txt": "a\nc\n", "new.txt": "",
        "-_0_0_0/page_1.html": "<div>Guard Count: 4</div>", "intermediate/manifest.json": "{}",
        ".modules/m.json": "", "data/m/0.js": "", "modules.js": "", "style.css": "", "static/x.js": "",
        ".tlparse-doit.db": "", "data/kept.txt": "ours differs", "highlight.js": "",
        ".tlparse.lock": ""})
    files, findings = compare_dirs(legacy, ours)
    assert files == 7
    assert [f.line() for f in findings] == [
        "DIFFERENT -_0_0_0/graph_0.txt: line 2 col 1: legacy `b\\n` vs ours `c\\n`",
        "DIFFERENT -_0_0_0/page_1.html: 1 missing from ours: 3",
        "DIFFERENT data/kept.txt: line 1 col 1: legacy `legacy has it` vs ours `ours differs`",
        "MISSING gone.json",
        "EXTRA new.txt",
    ]


# --------------------------------------------------------------------------------------------
# Allowlist


@pytest.mark.parametrize(("data", "message"), [
    ({"path": "x"}, "allowlist: the top level must be a list of entries, not dict"),
    ([{"path": "a", "kind": "extra", "reason": "r"}, "oops"], "allowlist: entry 2: must be a mapping"),
    ([{"path": "a.html", "kind": "extra", "reason": "r", "resons": "x"}],
     "allowlist: entry 1 (path 'a.html'): unknown key(s) resons"),
    ([{"path": "a.html", "kind": "extra"}], "allowlist: entry 1 (path 'a.html'): 'reason' is required"),
    ([{"path": "a.html", "kind": "extra", "reason": "  "}], "'reason' is required"),
    ([{"kind": "extra", "reason": "r"}], "allowlist: entry 1: 'path' is required"),
    ([{"path": "a", "kind": "gone", "reason": "r"}], "'kind' must be one of missing, extra, different, any"),
    ([{"path": "a", "kind": "different", "reason": "r", "words": "x"}], "'words' must be a non-empty list"),
    ([{"path": "a", "kind": "missing", "reason": "r", "words": ["x"]}], "'words' only applies to kind different"),
    ([{"path": "a", "kind": "any", "reason": "r", "logs": [1]}], "'logs' must be a non-empty list"),
])
def test_allowlist_validation_names_the_entry(data: object, message: str) -> None:
    with pytest.raises(AllowlistError) as error:
        parse_allowlist(data)
    assert message in str(error.value)


def test_allowlist_file_errors(tmp_path: Path) -> None:
    with pytest.raises(AllowlistError, match="cannot read"):
        load_allowlist(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("- path: [unclosed\n")
    with pytest.raises(AllowlistError, match=r"bad\.yaml: not valid YAML"):
        load_allowlist(tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    assert load_allowlist(tmp_path / "empty.yaml") == []


def test_checked_in_allowlist_is_valid_and_reasoned() -> None:
    entries = load_allowlist(DEFAULT_ALLOWLIST)
    assert entries
    assert all(len(e.reason) > 40 for e in entries)
    assert any(e.words == ("href=collectives_parity.json",) for e in entries)


ENTRIES = parse_allowlist([
    {"path": "index.html", "kind": "different", "words": ["href=collectives_parity.json"], "reason": "broken link"},
    {"path": "*/compilation_metrics_*.html", "kind": "different", "words": ["eval_with_key_*.html"],
     "reason": "mangled"},
    {"path": "pygments.css", "kind": "extra", "reason": "our stylesheet"},
    {"path": "raw.jsonl", "kind": "any", "logs": ["links*.log"], "reason": "floats"},
])


def test_allowlist_matches_path_kind_words_and_logs() -> None:
    findings = [
        Finding("extra", "pygments.css"),
        Finding("missing", "pygments.css"),
        Finding("different", "index.html", items=[("href=collectives_parity.json", 1)]),
        Finding("different", "-_0_0_0/compilation_metrics_3.html",
                items=[("eval_with_key_3.html", 1), ("Graph", 2)]),
        Finding("different", "raw.jsonl", "line 2"),
        Finding("error", "ours", "exit 1"),
    ]
    used: set[int] = set()
    result = apply_allowlist(findings, ENTRIES, "links.log", used)
    assert [bool(f.allowed) for f in result] == [True, False, True, False, True, False]
    assert result[0].allowed == ["our stylesheet"]
    assert result[3].items == [("Graph", 2)] and result[3].allowed_items == 1
    assert result[3].detail == "2 missing from ours: Graph ×2 (1 more allowlisted)"
    assert used == {1, 2, 3, 4}
    assert not apply_allowlist([findings[4]], ENTRIES, "simple.log")[0].allowed  # logs filter
    assert not apply_allowlist([findings[4]], ENTRIES, None)[0].allowed


# --------------------------------------------------------------------------------------------
# Reports and the command line


def test_summary_line() -> None:
    ok = LogReport("a.log", 57, [Finding("extra", "pygments.css", allowed=["r"])] * 3)
    bad = LogReport("b.log", 10, [Finding("missing", "x"), Finding("different", "y", "d"),
                                  Finding("error", "ours", "exit 1")])
    assert summary_line([ok]) == "legacy-diff: 57 files compared, 0 missing, 0 extra, 0 different (3 allowlisted) — OK"
    assert summary_line([bad]) == ("legacy-diff: 10 files compared, 1 missing, 0 extra, 1 different, "
                                   "1 tool error (0 allowlisted) — FAIL")
    assert format_report([ok, bad]) == [
        "legacy-diff a.log: 57 files compared, 0 missing, 0 extra, 0 different (3 allowlisted) — OK",
        "MISSING x", "DIFFERENT y: d", "ERROR ours: exit 1",
        "legacy-diff b.log: 10 files compared, 1 missing, 0 extra, 1 different, 1 tool error (0 allowlisted) — FAIL",
        "legacy-diff total (2 logs): 67 files compared, 1 missing, 0 extra, 1 different, 1 tool error "
        "(3 allowlisted) — FAIL",
    ]


def test_cli_compares_two_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    legacy = write_tree(tmp_path / "legacy", {"index.html": "<p>x</p>", "a.txt": "1", "b.txt": "2"})
    ours = write_tree(tmp_path / "ours", {"index.html": "<p>x</p>", "a.txt": "1", "pygments.css": ""})
    allowlist = tmp_path / "allow.yaml"
    allowlist.write_text("- {path: pygments.css, kind: extra, reason: our stylesheet}\n")
    args = ["--legacy-out", str(legacy), "--ours-out", str(ours), "--allowlist", str(allowlist)]
    assert main(args) == 1
    assert capsys.readouterr().out.splitlines() == [
        "MISSING b.txt", "legacy-diff: 4 files compared, 1 missing, 0 extra, 0 different (1 allowlisted) — FAIL"]
    (tmp_path / "legacy" / "b.txt").unlink()
    assert main([*args, "-v"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "EXTRA pygments.css  allowed (our stylesheet)",
        "legacy-diff: 3 files compared, 0 missing, 0 extra, 0 different (1 allowlisted) — OK"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["logs"][0]["findings"][0]["allowed"] == ["our stylesheet"]


@pytest.mark.parametrize("args", [[], ["--legacy-out", "."], ["x.log", "--legacy-out", ".", "--ours-out", "."],
                                  ["no-such.log"]])
def test_cli_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "legacy-diff: error:" in capsys.readouterr().err


def test_cli_bad_allowlist_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "allow.yaml").write_text("- {path: x, kind: extra}\n")
    assert main(["--legacy-out", str(tmp_path), "--ours-out", str(tmp_path),
                 "--allowlist", str(tmp_path / "allow.yaml")]) == 2
    assert "entry 1 (path 'x'): 'reason' is required" in capsys.readouterr().err


FAKE_TOOL = """#!{python}
import pathlib, shutil, sys
log, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[sys.argv.index("-o") + 1])
assert out.is_absolute() and log.is_file(), sys.argv
out.mkdir(parents=True, exist_ok=True)
with open(log.parent / "{name}.runs", "a") as runs:
    runs.write(out.name + "\\n")
(out / "args.txt").write_text(" ".join(sys.argv[2:]).replace(str(out), "OUT"))
shutil.copyfile(log, out / "raw.log")
(out / "index.html").write_text("<p>[0/0]</p>")
if "{name}" == "ours" and "FAIL" in log.read_text():
    sys.exit("Error: broken")
"""


def fake_tool(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"fake-{name}"
    path.write_text(FAKE_TOOL.format(python=sys.executable, name=name))
    path.chmod(0o755)
    return path


def test_diff_log_runs_legacy_once_and_ours_once_per_mode(tmp_path: Path) -> None:
    log = tmp_path / "trace.log.xz"
    with lzma.open(log, "wt") as handle:
        handle.write("V1206 line\n")
    keep = tmp_path / "keep"
    reports = diff_log(log, [str(fake_tool(tmp_path, "legacy"))], [str(fake_tool(tmp_path, "ours"))], [], keep)
    work = keep / "trace.log.xz"
    assert (work / "input" / "trace.log").read_text() == "V1206 line\n"
    assert (work / "input" / "legacy.runs").read_text() == "legacy\n"
    assert (work / "input" / "ours.runs").read_text() == "ours-eager\nours-default\n"
    assert (work / "legacy" / "args.txt").read_text() == "-o OUT --no-browser --overwrite"
    assert (work / "ours-eager" / "args.txt").read_text() == "-o OUT --no-browser --overwrite --eager"
    assert (work / "ours-default" / "args.txt").read_text() == "-o OUT --no-browser --overwrite"
    assert [(r.name, r.mode, r.files) for r in reports] == [("trace.log.xz", "eager", 3),
                                                            ("trace.log.xz", "default", 3)]
    assert [f.line() for f in reports[0].findings] == [
        "DIFFERENT args.txt: line 1 col 32: legacy `…o OUT --no-browser --overwrite` "
        "vs ours `…o OUT --no-browser --overwrite --eager`"]
    assert reports[1].ok
    assert format_report(reports)[-1] == ("legacy-diff total (1 log, 2 modes): 6 files compared, 0 missing, "
                                          "0 extra, 1 different (0 allowlisted) — FAIL")


def test_diff_log_runs_one_mode_when_asked(tmp_path: Path) -> None:
    log = write_tree(tmp_path, {"t.log": "V1206 line\n"}) / "t.log"
    keep = tmp_path / "keep"
    reports = diff_log(log, [str(fake_tool(tmp_path, "legacy"))], [str(fake_tool(tmp_path, "ours"))], [], keep,
                       modes=("default",))
    assert [r.mode for r in reports] == ["default"] and reports[0].ok
    assert (keep / "t.log" / "input" / "ours.runs").read_text() == "ours-default\n"


def test_diff_log_reports_a_failing_tool(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text("FAIL\n")
    reports = diff_log(log, [str(fake_tool(tmp_path, "legacy"))], [str(fake_tool(tmp_path, "ours"))], [])
    assert [r.findings[0].line() for r in reports] == ["ERROR ours: exit 1: Error: broken"] * 2
    assert not any(r.ok for r in reports)


def test_corpus_logs_are_every_single_rank_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {name: "" for name in [
        "tlparse-0.4.3-tests/simple.log", "tlparse-0.4.3-tests/export.log",
        "tlparse-0.4.3-tests/export_guard_added.log",
        "tlparse-0.4.3-tests/inductor_provenance_jit_log.txt", "tlparse-0.4.3-tests/LICENSE.tlparse",
        "tlparse-0.4.3-tests/multi_rank_logs/rank_0.log", "torch-2.13/01_simple/a.log", "torch-2.13/01_simple/gen.py",
        "torch-2.13/08_export/b.log", "torch-2.13/10_multi_rank/c.log", "torch-2.13/11_large/d.log.xz"]})
    monkeypatch.delenv(LARGE_ENV, raising=False)
    logs = corpus_logs(corpus=tmp_path)
    assert [(p.relative_to(tmp_path).as_posix(), mode_flags(p)) for p in logs] == [
        ("tlparse-0.4.3-tests/export.log", ("-e",)), ("tlparse-0.4.3-tests/export_guard_added.log", ("-e",)),
        ("tlparse-0.4.3-tests/inductor_provenance_jit_log.txt", ("-i",)), ("tlparse-0.4.3-tests/simple.log", ()),
        ("torch-2.13/01_simple/a.log", ()), ("torch-2.13/08_export/b.log", ("-e",))]
    assert corpus_logs(large=True, corpus=tmp_path)[-1].name == "d.log.xz"
    monkeypatch.setenv(LARGE_ENV, "1")
    assert len(corpus_logs(corpus=tmp_path)) == 7


def test_diff_log_gives_the_mode_flags_to_both_tools(tmp_path: Path) -> None:
    log = write_tree(tmp_path, {"export_x.log": "V1206 line\n"}) / "export_x.log"
    keep = tmp_path / "keep"
    diff_log(log, [str(fake_tool(tmp_path, "legacy"))], [str(fake_tool(tmp_path, "ours"))], [], keep)
    work = keep / "export_x.log"
    assert (work / "legacy" / "args.txt").read_text() == "-o OUT --no-browser --overwrite -e"
    assert (work / "ours-eager" / "args.txt").read_text() == "-o OUT --no-browser --overwrite -e --eager"
    diff_log(log, [str(fake_tool(tmp_path, "legacy"))], [str(fake_tool(tmp_path, "ours"))], [], keep, flags=[])
    assert (work / "legacy" / "args.txt").read_text() == "-o OUT --no-browser --overwrite"


def test_index_does_not_compare_link_texts_that_name_nothing() -> None:
    legacy = ('<p>Please click <a href="-_-_-_-/symbolic_guard_information_0.html">here</a>. '
              'Program: <a href="-_-_-_-/exported_program_1.txt">link</a>.</p>')
    ours = ('<p><a href="-_-_-_-/symbolic_guard_information_0.html">guard details</a> '
            '<a href="-_-_-_-/exported_program_1.txt">-_-_-_-/exported_program_1.txt</a></p>')
    assert compare_index(legacy, ours) == []
    assert compare_index(legacy, ours.replace("_1.txt", "_2.txt")) == [("href=-_-_-_-/exported_program_1.txt", 1)]


def test_wrapper_script_keeps_relative_paths(tmp_path: Path) -> None:
    write_tree(tmp_path / "L", {"a.txt": "1"})
    write_tree(tmp_path / "O", {"a.txt": "1"})
    result = subprocess.run([str(REPO / "scripts" / "legacy-diff"), "--legacy-out", "L", "--ours-out", "O"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "LEGACY_DIFF_CWD"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "legacy-diff: 1 files compared, 0 missing, 0 extra, 0 different (0 allowlisted) — OK\n"


# --------------------------------------------------------------------------------------------
# The corpus against the real legacy binary


@pytest.mark.legacy
@pytest.mark.skipif(not DEFAULT_LEGACY.exists(), reason="legacy tlparse 0.4.3 is not in .legacy-venv")
@pytest.mark.parametrize("log", corpus_logs(), ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_corpus_matches_legacy(log: Path) -> None:
    """Both modes: ours with --eager, and the default lazy report read with every block open."""
    reports = diff_log(log, [str(DEFAULT_LEGACY)], default_ours_cmd(), load_allowlist(DEFAULT_ALLOWLIST))
    assert [r.mode for r in reports] == list(MODES)
    text = "\n".join(format_report(reports, verbose=True))
    if not all(r.ok for r in reports):
        pytest.fail(f"differences from legacy tlparse 0.4.3 that are not allowlisted:\n{text}", pytrace=False)


def test_json_differing_only_by_float_rounding_is_a_named_item(tmp_path: Path) -> None:
    """Legacy's inexact float parsing shows as `float-rounding`; any other change stays a plain difference."""
    from devtools.legacy_diff import FLOAT_ROUNDING, compare_file, json_rounding_only

    legacy, ours = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    legacy.write_text('{"t":1715885247.9018197,"n":1}\n{"x":"same"}\n')
    ours.write_text('{"t":1715885247.9018195,"n":1}\n{"x":"same"}\n')
    assert json_rounding_only(legacy, ours) == 1
    finding = compare_file("raw.jsonl", legacy, ours)
    assert finding is not None and finding.items == [(FLOAT_ROUNDING, 1)]
    ours.write_text('{"t":1715885247.9,"n":1}\n{"x":"same"}\n')
    assert json_rounding_only(legacy, ours) is None
    ours.write_text('{"t":1715885247.9018195,"n":2}\n{"x":"same"}\n')
    assert json_rounding_only(legacy, ours) is None
    finding = compare_file("raw.jsonl", legacy, ours)
    assert finding is not None and finding.items == []


def test_html_numbers_off_by_rounding_become_one_named_item() -> None:
    from devtools.legacy_diff import FLOAT_ROUNDING, compare_html

    legacy = "<p>Dynamo Time: 0.025464773178100582</p><p>Ops: 3</p>"
    assert compare_html(legacy, "<p>Dynamo Time: 0.025464773178100586</p><p>Ops: 3</p>") == [(FLOAT_ROUNDING, 1)]
    assert compare_html(legacy, "<p>Dynamo Time: 0.0254</p><p>Ops: 3</p>") == [("0.025464773178100582", 1)]
    assert compare_html(legacy, "<p>Dynamo Time: 0.025464773178100586</p><p>Ops: 4</p>") == [
        ("3", 1), (FLOAT_ROUNDING, 1)]


# --------------------------------------------------------------------------------------------
# Default mode: our lazy blocks, opened as modules.js opens them


HOSTILE_STRINGS = ['</script><script>alert(1)</script>', "<!-- x -->", "back\\slash\\!", 'quote " \' `',
                   "\u2028 line sep", "emoji 😀", "\\u0041 literal", "<\\!-- already escaped"]


def shard(root: Path, module: str, name: str, data: object) -> Path:
    path = root / "data" / module / f"{name}.js"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(shard_script(module, name, data))
    return path


def shown(html: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The words and links (href, text) a reader sees on a page."""
    page = parse_page(html)
    return "".join(page.parts).split(), page.links


@pytest.mark.parametrize("data", [HOSTILE_STRINGS, {"k": HOSTILE_STRINGS, "n": [1, 2.5, None, True]}, "text", 3, []])
def test_read_shard_gives_back_what_shard_script_wrote(tmp_path: Path, data: object) -> None:
    assert read_shard(shard(tmp_path, "mod", "s-1", data)) == ("mod", "s-1", data)


@pytest.mark.parametrize("text", [
    'TLP.register("m", "s", JSON.parse("[]"));\nalert(1);\n',  # code after the call
    'TLP.register("m", "s", alert(1));\n',  # not a JSON.parse of a string
    'TLP.register("m", "s", JSON.parse("[1,"));\n',  # broken JSON inside
    'TLP.register("m", "s", JSON.parse("\\x41"));\n',  # an escape JSON does not know
    'TLP.register("m", "s", JSON.parse("[]")+alert(1));\n',
    '',
])
def test_read_shard_refuses_anything_else(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.js"
    path.write_text(text)
    with pytest.raises(LazyError):
        read_shard(path)


@pytest.mark.parametrize(("value", "expected"), [
    (1.0, "1"), (-0.0, "0"), (0.1, "0.1"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"),
    (1.5e-6, "0.0000015"), (123.456, "123.456"), (-2.5e300, "-2.5e+300"), (5e-324, "5e-324"),
    (float("nan"), "NaN"), (float("-inf"), "-Infinity"),
])
def test_js_number_is_javascripts_number_to_string(value: float, expected: str) -> None:
    assert js_number(value) == expected


def test_js_json_is_json_stringify() -> None:
    data = {"a": [1, 2.0, {"b": None}], "c": {}, "d": [], "e": 'q"</'}
    assert js_json(data) == '{"a":[1,2,{"b":null}],"c":{},"d":[],"e":"q\\"</"}'
    assert js_json(data, "  ") == ('{\n  "a": [\n    1,\n    2,\n    {\n      "b": null\n    }\n  ],\n'
                                   '  "c": {},\n  "d": [],\n  "e": "q\\"</"\n}')
    assert js_json(2**60) == "1152921504606847000"  # a double, as JSON.parse makes it


LAZY_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><script src="modules.js"></script></head><body>
<noscript><p>Parts of this report load on demand.</p></noscript>
<details id="[0/0]" class="tlp-compile" data-tlp-module="compile_directory" data-tlp-shard="-_0_0_0"
 data-tlp-src="data/compile_directory/-_0_0_0.js" data-tlp-render="artifacts"><summary>[0/0] 3 files</summary>
<ul class="tlp-artifacts">
</ul></details>
<div class="tlp-block"><p>Metrics pages</p>
<details class="tlp-lazy" data-tlp-module="compilation_metrics" data-tlp-shard="pages"
 data-tlp-src="data/compilation_metrics/pages.js" data-tlp-render="artifacts"><summary>Show the list</summary>
<div class="tlp-body"><div>nested</div></div></details></div>
<table><tr><td><details class="tlp-lazy" data-tlp-module="compilation_metrics" data-tlp-shard="value-1"
 data-tlp-src="data/compilation_metrics/value-1.js" data-tlp-render="text"><summary>Show the value</summary>
<div class="tlp-body"></div></details></td></tr></table>
<div data-tlp-module="m" data-tlp-shard="j" data-tlp-src="data/m/j.js" data-tlp-render="json">
no body: all replaced</div>
<p>after</p></body></html>"""

LAZY_ITEMS = [
    listed_file("-_0_0_0/dynamo_output_graph_1.txt", "-_0_0_0/dynamo_output_graph_1.txt", 1),
    listed_file("-_0_0_0/fx_graph_cache_miss_2.json", "-_0_0_0/fx_graph_cache_miss_2.json", 2, "❌"),
    listed_file("javascript:alert(1)", "<b>unsafe</b>", 3, external=True),
    listed_file(None, "no page", None),
    listed_file("-_0_0_0/code_4.html", "code_4.html", 4, readable_url="-_0_0_0/code_4.txt"),
]


def lazy_report(root: Path) -> Path:
    """A page with each kind of lazy block, its shards and modules.js; returns the page."""
    static = next(d / "static" / "modules.js" for d in template_dirs() if (d / "static" / "modules.js").is_file())
    shutil.copyfile(static, root / "modules.js")
    shard(root, "compile_directory", "-_0_0_0", LAZY_ITEMS)
    shard(root, "compilation_metrics", "pages", [
        listed_file("-_0_0_0/compilation_metrics_5.html", "[0/0] compilation metrics", 5, "compiled"),
        {**listed_file("x.html", "shown", 6), "hidden": "not-rendered"}])
    shard(root, "compilation_metrics", "value-1", {"lr": 1.0, "tiny": 1e-7, "names": HOSTILE_STRINGS,
                                                   "numbers": [0.05, 1.5e-6, 123.456, 1e21, 2**60, -0.0]})
    shard(root, "m", "j", {"nested": [{"x": 2.50, "y": None}], "s": "a b </c>"})
    return write_tree(root, {"index.html": LAZY_PAGE}) / "index.html"


# A long index: a stack-trie frame's further compile ids behind a button, and a later page of
# the compile directory whose entries (one with its own lazy file list) load when opened.
WINDOWED_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><script src="modules.js"></script></head><body>
<ul><li><details open class="tlp-branch"><summary><a href="#[0/0]" class="tlp-cid">[0/0]</a>
<button type="button" class="tlp-more" data-tlp-module="stack_trie" data-tlp-shard="links-0"
 data-tlp-src="data/stack_trie/links-0.js">2 more compile ids</button> model.py:3 in f</summary></details></li></ul>
<p><span class="tlp-more" data-tlp-module="x" data-tlp-shard="y" data-tlp-src="data/x/none.js">not a button</span></p>
<details id="tlp-compile-page-2" class="tlp-compile-page" data-tlp-module="compile_directory" data-tlp-shard="page-2"
 data-tlp-src="data/compile_directory/page-2.js" data-tlp-render="compile-page"><summary>[1/0] to [3/0]</summary>
<ul class="tlp-compile-directory tlp-body"></ul></details>
</body></html>"""


def windowed_report(root: Path) -> Path:
    lazy_report(root)
    shard(root, "stack_trie", "links-0", [{"id": "[1/0]", "status": "ok"}, {"id": "[2/0]", "status": "error"}])
    shard(root, "compile_directory", "page-2", [
        {"id": "[1/0]", "status": "ok", "count": "5 files", "cache_status": "hit", "module": "compile_directory",
         "shard": "-_0_0_0", "src": "data/compile_directory/-_0_0_0.js", "items": []},
        {"id": "[2/0]", "status": "error", "count": "1 file", "cache_status": None, "module": None, "shard": None,
         "src": None, "items": [listed_file("-_2_0_0/x_1.txt", "-_2_0_0/x_1.txt", 1, "✅")]},
        {"id": "[3/0]", "status": "empty", "count": "0 files", "cache_status": None, "src": None, "items": []}])
    return write_tree(root, {"windowed.html": WINDOWED_PAGE}) / "windowed.html"


def test_open_lazy_blocks_opens_what_opened_blocks_bring(tmp_path: Path) -> None:
    page = windowed_report(tmp_path)
    words, links = shown(open_lazy_blocks(page.read_text(), page, tmp_path))
    text = " ".join(words)
    assert "[0/0] [1/0] [2/0] model.py:3 in f" in text and "more" not in words
    assert "not a button" in text  # a tlp-more of another tag never loads
    assert ("[1/0] 5 files cache hit -_0_0_0/dynamo_output_graph_1.txt (1) -_0_0_0/fx_graph_cache_miss_2.json ❌ (2)"
            in text)
    assert "[2/0] 1 file -_2_0_0/x_1.txt ✅ (1) [3/0] 0 files" in text
    assert links[:2] == [("#[0/0]", "[0/0]"), ("#[1/0]", "[1/0]")]
    assert ("-_2_0_0/x_1.txt", "-_2_0_0/x_1.txt") in links


def test_open_lazy_blocks_shows_what_the_renderers_show(tmp_path: Path) -> None:
    page = lazy_report(tmp_path)
    html = open_lazy_blocks(page.read_text(), page, tmp_path)
    words, links = shown(html)
    assert links == [
        ("-_0_0_0/dynamo_output_graph_1.txt", "-_0_0_0/dynamo_output_graph_1.txt"),
        ("-_0_0_0/fx_graph_cache_miss_2.json", "-_0_0_0/fx_graph_cache_miss_2.json"),
        ("-_0_0_0/code_4.html", "code_4.html"), ("-_0_0_0/code_4.txt", "readable_html"),
        ("-_0_0_0/compilation_metrics_5.html", "[0/0] compilation metrics"), ("x.html", "shown")]
    text = " ".join(words)
    assert "[0/0] 3 files -_0_0_0/dynamo_output_graph_1.txt (1) -_0_0_0/fx_graph_cache_miss_2.json ❌ (2)" in text
    assert "<b>unsafe</b> (3) no page code_4.html (readable_html) (4) Metrics pages Show the list" in text
    assert "nested" not in words and "not-rendered" not in text  # the body is replaced; unshown keys do not count
    assert 'Show the value {"lr":1,"tiny":1e-7,"names":["</script><script>alert(1)</script>"' in text
    assert '"numbers":[0.05,0.0000015,123.456,1e+21,1152921504606847000,0]}' in text
    assert '{ "nested": [ { "x": 2.5, "y": null } ], "s": "a b </c>" } after' in text
    assert "no body" not in text and "Parts" not in words  # no body: all replaced; <noscript> is hidden
    assert '<span class="tlp-unsafe-link" title="javascript:alert(1)">&lt;b&gt;unsafe&lt;/b&gt;</span>' in html


@pytest.mark.parametrize(("change", "message"), [
    (('data-tlp-render="text"', 'data-tlp-render="chart"'), "renderer 'chart' is not one of modules.js's"),
    (('data-tlp-shard="pages"', 'data-tlp-shard="other"'),
     "registers compilation_metrics/pages, the page waits for compilation_metrics/other"),
    (("data/m/j.js", "../outside/j.js"), "points outside the report"),
    (("data/m/j.js", "https://example.invalid/j.js"), "is not a relative file URL"),
    (("data/m/j.js", "data/m/gone.js"), "cannot read gone.js"),
    (('data-tlp-render="json">\nno body: all replaced</div>', 'data-tlp-render="json">'), "is never closed"),
    (("data/compilation_metrics/value-1.js", "data/compile_directory/-_0_0_0.js"), "registers compile_directory"),
])
def test_a_lazy_block_a_browser_could_not_show_is_an_error(tmp_path: Path, change: tuple[str, str],
                                                           message: str) -> None:
    page = lazy_report(tmp_path)
    html = page.read_text()
    assert change[0] in html
    with pytest.raises(LazyError, match=re.escape(message)):
        open_lazy_blocks(html.replace(*change), page, tmp_path)


def test_artifacts_renderer_needs_a_list_of_objects(tmp_path: Path) -> None:
    page = lazy_report(tmp_path)
    for data, message in (({"a": 1}, "needs a list"), (["a string"], "is not an object")):
        shard(tmp_path, "compile_directory", "-_0_0_0", data)
        with pytest.raises(LazyError, match=message):
            open_lazy_blocks(page.read_text(), page, tmp_path)


LEGACY_WITH_LIST = """<html><body><p>Build products below:</p><ul><li><a id="[0/0]">[0/0]</a><ul>
<li><a href="-_0_0_0/dynamo_output_graph_1.txt">-_0_0_0/dynamo_output_graph_1.txt</a> (1)</li>
<li><a href="-_0_0_0/fx_graph_cache_miss_2.json">-_0_0_0/fx_graph_cache_miss_2.json</a> ❌ (2)</li>
</ul></li></ul></body></html>"""


def test_default_mode_compares_the_index_with_its_lazy_lists_open(tmp_path: Path) -> None:
    legacy = write_tree(tmp_path / "legacy", {"index.html": LEGACY_WITH_LIST})
    ours = tmp_path / "ours"
    ours.mkdir()
    lazy_report(ours)
    assert compare_dirs(legacy, ours, lazy=True) == (1, [])
    _, findings = compare_dirs(legacy, ours, lazy=False)  # closed, as an --eager comparison reads it
    assert findings[0].items[:3] == [("href=-_0_0_0/dynamo_output_graph_1.txt", 1),
                                     ("href=-_0_0_0/fx_graph_cache_miss_2.json", 1),
                                     ("link=-_0_0_0/dynamo_output_graph_1.txt", 1)]
    # A word only in a key the renderer does not show is missing.
    hidden = [{**item, "suffix": "", "hidden": item["suffix"]} for item in LAZY_ITEMS]
    shard(ours, "compile_directory", "-_0_0_0", hidden)
    _, findings = compare_dirs(legacy, ours, lazy=True)
    assert [(f.kind, f.items) for f in findings] == [("different", [("❌", 1)])]
    (ours / "data" / "compile_directory" / "-_0_0_0.js").write_text("TLP.register(")
    _, findings = compare_dirs(legacy, ours, lazy=True)
    assert [(f.kind, f.path) for f in findings] == [("error", "index.html")]
    assert findings[0].detail.startswith("lazy block: -_0_0_0.js is not a TLP.register")


def test_cli_mode_eager_leaves_lazy_blocks_closed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    legacy = write_tree(tmp_path / "legacy", {"index.html": LEGACY_WITH_LIST})
    (tmp_path / "ours").mkdir()
    lazy_report(tmp_path / "ours")
    args = ["--legacy-out", str(legacy), "--ours-out", str(tmp_path / "ours"), "--allowlist", str(DEFAULT_ALLOWLIST)]
    assert main(args) == 0
    assert main([*args, "--mode", "default"]) == 0
    assert main([*args, "--mode", "eager"]) == 1
    assert "DIFFERENT index.html: " in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# The lazy reader against Chromium: the words and links of every page with its blocks opened

# As a reader would: open every lazy <details> (and those around it), click every `tlp-more`
# button; containers of other tags load by themselves. Returns how many it acted on, and counts
# the clicks in window.tlpClicked.
OPEN_ALL = """() => {
  let acted = 0;
  for (const block of document.querySelectorAll("[data-tlp-src]")) {
    if (block.classList.contains("tlp-more")) {
      if (block.tagName === "BUTTON" && !block.disabled && !block.classList.contains("tlp-error")) {
        block.click();
        window.tlpClicked = (window.tlpClicked || 0) + 1;
        acted++;
      }
    } else if (!block.dataset.tlpState) {
      for (let node = block; node; node = node.parentElement) if (node.tagName === "DETAILS") node.open = true;
      acted++;
    }
  }
  return acted;
}"""
IDLE = """() => !document.querySelector("[data-tlp-state=loading], button.tlp-more[disabled]")"""
FAILED = """() => Array.from(document.querySelectorAll(".tlp-error, [data-tlp-state=error]")).map(b => b.outerHTML)"""
OPENED = """() => document.querySelectorAll("[data-tlp-state=loaded]").length + (window.tlpClicked || 0)"""


def assert_reader_matches_browser(page: Any, path: Path, root: Path) -> int:
    """Open every lazy block of the page in Chromium, and those they bring, until none is left;
    what it shows must be what open_lazy_blocks makes of the file. Returns how many it opened."""
    page.goto(path.as_uri())
    while True:  # opened blocks may bring more
        page.wait_for_function(IDLE)
        if not page.evaluate(OPEN_ALL):
            break
    assert page.evaluate(FAILED) == [], path.name
    browser_words, browser_links = shown(page.evaluate("() => document.documentElement.outerHTML"))
    words, links = shown(open_lazy_blocks(path.read_text(encoding="utf-8"), path, root))
    assert links == browser_links, path.name
    assert words == browser_words, path.name
    opened: int = page.evaluate(OPENED)
    return opened


@pytest.mark.browser
def test_lazy_reader_matches_chromium_on_every_renderer(page: Any, tmp_path: Path) -> None:
    assert assert_reader_matches_browser(page, lazy_report(tmp_path), tmp_path) == 4


@pytest.mark.browser
def test_lazy_reader_matches_chromium_on_a_windowed_index(page: Any, tmp_path: Path) -> None:
    path = windowed_report(tmp_path)
    script = (tmp_path / "modules.js").read_text(encoding="utf-8")
    if 'renderers["compile-page"]' not in script or "tlp-more" not in script:
        pytest.skip("modules.js has no index windowing (compile-page, tlp-more) yet")
    assert assert_reader_matches_browser(page, path, tmp_path) == 3  # button, page, the entry's list


@pytest.mark.browser
@pytest.mark.parametrize("source", ["autotune_with_compile_id.log", "hostile"])
def test_lazy_reader_matches_chromium_on_a_report(page: Any, tmp_path: Path, source: str) -> None:
    """Every page of a default report that has lazy blocks (index, metrics pages with values)."""
    log = (write_tree(tmp_path, {"hostile.log": hostile_log()}) / "hostile.log" if source == "hostile"
           else corpus_copy(LEGACY_TESTS / source, tmp_path))
    out = tmp_path / "out"
    build_report(log, out)
    pages = sorted(p for p in out.rglob("*.html") if "data-tlp-src" in p.read_text(encoding="utf-8"))
    assert out / "index.html" in pages
    blocks = sum(assert_reader_matches_browser(page, path, out) for path in pages)
    assert blocks == sum(path.read_text(encoding="utf-8").count("data-tlp-src=") for path in pages) >= 2
