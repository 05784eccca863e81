"""legacy-diff: the comparison rules on hand-made reports, and the corpus against legacy 0.4.3."""

from __future__ import annotations

import json
import lzma
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.legacy_diff import (
    CORPUS,
    DEFAULT_ALLOWLIST,
    DEFAULT_LEGACY,
    LARGE_ENV,
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
    normalize,
    parse_allowlist,
    summary_line,
    visible_words,
)

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
        ".tlparse-doit.db": "", "data/kept.txt": "ours differs"})
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


def test_diff_log_runs_both_tools_on_a_copy(tmp_path: Path) -> None:
    log = tmp_path / "trace.log.xz"
    with lzma.open(log, "wt") as handle:
        handle.write("V1206 line\n")
    keep = tmp_path / "keep"
    report = diff_log(log, [str(fake_tool(tmp_path, "legacy"))], [str(fake_tool(tmp_path, "ours"))], [], keep)
    work = keep / "trace.log.xz"
    assert (work / "input" / "trace.log").read_text() == "V1206 line\n"
    assert (work / "legacy" / "args.txt").read_text() == "-o OUT --no-browser --overwrite"
    assert (work / "ours" / "args.txt").read_text() == "-o OUT --no-browser --overwrite --eager"
    assert [f.line() for f in report.findings] == [
        "DIFFERENT args.txt: line 1 col 32: legacy `…o OUT --no-browser --overwrite` "
        "vs ours `…o OUT --no-browser --overwrite --eager`"]
    assert report.name == "trace.log.xz" and report.files == 3


def test_diff_log_reports_a_failing_tool(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text("FAIL\n")
    report = diff_log(log, [str(fake_tool(tmp_path, "legacy"))], [str(fake_tool(tmp_path, "ours"))], [])
    assert report.findings[0].line() == "ERROR ours: exit 1: Error: broken"
    assert not report.ok


def test_corpus_logs_are_single_rank_and_not_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {name: "" for name in [
        "tlparse-0.4.3-tests/simple.log", "tlparse-0.4.3-tests/export.log",
        "tlparse-0.4.3-tests/export_guard_added.log",
        "tlparse-0.4.3-tests/inductor_provenance_jit_log.txt", "tlparse-0.4.3-tests/LICENSE.tlparse",
        "tlparse-0.4.3-tests/multi_rank_logs/rank_0.log", "torch-2.13/01_simple/a.log", "torch-2.13/01_simple/gen.py",
        "torch-2.13/08_export/b.log", "torch-2.13/10_multi_rank/c.log", "torch-2.13/11_large/d.log.xz"]})
    monkeypatch.delenv(LARGE_ENV, raising=False)
    names = [p.relative_to(tmp_path).as_posix() for p in corpus_logs(corpus=tmp_path)]
    assert names == ["tlparse-0.4.3-tests/inductor_provenance_jit_log.txt", "tlparse-0.4.3-tests/simple.log",
                     "torch-2.13/01_simple/a.log"]
    assert corpus_logs(large=True, corpus=tmp_path)[-1].name == "d.log.xz"
    monkeypatch.setenv(LARGE_ENV, "1")
    assert len(corpus_logs(corpus=tmp_path)) == 4


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
    report = diff_log(log, [str(DEFAULT_LEGACY)], default_ours_cmd(), load_allowlist(DEFAULT_ALLOWLIST))
    text = "\n".join(format_report([report], verbose=True))
    if not report.ok:
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
