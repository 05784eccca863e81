"""The guards module: guard pages (escaped, filterable, readable without JavaScript), the C++
guard dumps byte-identical to legacy, and its index entry."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser_support import PageWatch, build_report
from tests.conftest import LEGACY_TESTS, REPO, TORCH_213, corpus_copy
from tests.fixture_modules import LEGACY, modules_yaml_with, render_alone
from tests.logs import cid, entry, write
from tlparse_tasks.module_api import ModuleContext, ModuleOutput
from tlparse_tasks.modules import guards

if TYPE_CHECKING:
    from playwright.sync_api import Browser

HOSTILE_CODE = "<script>alert(1)</script>"
HOSTILE_FN = "<img src=x onerror=alert(2)>"
HOSTILE_FILE = "</td><script>alert(3)</script>.py"
CODE_CELL = re.compile(r'<code class="tlp-guard-code">(.*?)</code>', re.S)

MODULES_YAML = modules_yaml_with("stack_trie", "compile_directory", "guards")

def render_guards(log: Path, out: Path, *, eager: bool = False) -> ModuleOutput:
    """Stage 1, then the guards module alone, in this process."""
    return render_alone("guards", log, out, eager=eager)


def build_with_config(log: Path, out: Path, *extra: str) -> Path:
    config = log.parent / "modules.yaml"
    config.write_text(MODULES_YAML)
    return build_report(log, out, "--modules-config", str(config), *extra)


def guard_payload(codes: list[str], stack: list[dict[str, Any]] | None = None) -> str:
    return json.dumps([{"code": c, "stack": stack, "user_stack": None} for c in codes])


def logged_guard_codes(log: Path) -> list[list[str]]:
    """Each dynamo_guards payload's codes, read straight from the log text."""
    result, lines = [], log.read_text().splitlines()
    for i, line in enumerate(lines):
        if '"dynamo_guards"' in line:
            payload = []
            for follower in lines[i + 1:]:
                if not follower.startswith("\t"):
                    break
                payload.append(follower[1:])
            result.append([g["code"] for g in json.loads("\n".join(payload))])
    return result


def code_cells(page: Path) -> list[str]:
    return [html.unescape(c) for c in CODE_CELL.findall(page.read_text())]


def run_legacy(log: Path, out: Path) -> None:
    subprocess.run([str(LEGACY), str(log), "-o", str(out), "--overwrite", "--no-browser"], cwd=log.parent,
                   capture_output=True, timeout=300, check=True)


def files_named(root: Path, prefix: str) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob(f"{prefix}*") if p.is_file()}


# -- the C++ guard dumps ------------------------------------------------------------------------

@pytest.mark.legacy
@pytest.mark.skipif(not LEGACY.exists(), reason="legacy tlparse 0.4.3 is not installed in .legacy-venv")
@pytest.mark.parametrize(("source", "count"), [
    (LEGACY_TESTS / "simple.log", 1),
    (LEGACY_TESTS / "comp_metrics.log", 0),  # it logs dynamo_guards, not dynamo_cpp_guards_str
    (TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log", 12),
])
def test_cpp_guard_dumps_are_byte_identical_to_legacy(tmp_path: Path, source: Path, count: int) -> None:
    log = corpus_copy(source, tmp_path)
    render_guards(log, tmp_path / "ours")
    run_legacy(log, tmp_path / "legacy")
    ours = files_named(tmp_path / "ours", "dynamo_cpp_guards_str")
    legacy = files_named(tmp_path / "legacy", "dynamo_cpp_guards_str")
    assert len(legacy) == count
    assert ours.keys() == legacy.keys()
    for name, data in legacy.items():
        assert ours[name] == data, name


@pytest.mark.legacy
@pytest.mark.skipif(not LEGACY.exists(), reason="legacy tlparse 0.4.3 is not installed in .legacy-venv")
def test_guard_pages_are_where_legacy_puts_them(tmp_path: Path) -> None:
    log = corpus_copy(LEGACY_TESTS / "comp_metrics.log", tmp_path)
    render_guards(log, tmp_path / "ours")
    run_legacy(log, tmp_path / "legacy")
    legacy = files_named(tmp_path / "legacy", "dynamo_guards")
    assert len(legacy) == 3
    assert files_named(tmp_path / "ours", "dynamo_guards").keys() == legacy.keys()


def test_cpp_guard_dump_is_the_payload_verbatim(tmp_path: Path) -> None:
    payload = "TREE_GUARD_MANAGER:\n  +- RootGuardManager  \n\n\t| +- é → ≠ \\n  <x>"
    log = write(tmp_path / "cpp.log", entry({"dynamo_cpp_guards_str": {}, **cid()}, payload))
    output = render_guards(log, tmp_path / "out")
    assert (tmp_path / "out" / "-_0_0_0" / "dynamo_cpp_guards_str_0.txt").read_bytes() == payload.encode()
    assert not (tmp_path / "out" / "static" / "guards.js").exists()  # no guard page, no script
    (index,) = output.index_entries
    assert "1 C++ guard tree dump," in index.html


def test_only_guard_records_are_read(tmp_path: Path) -> None:
    """Shape-environment entries share guards.jsonl; a line is decoded only when it names a guard
    type, and then kept only when it is one (an expression may mention a type's name)."""
    log = write(tmp_path / "mixed.log", "".join([
        entry({"guard_added_fast": {"expr": '"dynamo_guards" in names'}, **cid()}),
        entry({"dynamo_guards": {}, **cid()}, json.dumps([{"code": "___x == 1"}])),
        entry({"guard_added_fast": {"expr": "s0 > 1"}, **cid()}),
        entry({"dynamo_cpp_guards_str": {}, **cid()}, "| +- TYPE_MATCH: x"),
    ]))
    out = tmp_path / "out"
    render_guards(log, out)
    ctx = ModuleContext("guards", out, {}, {}, [], subscriptions=("guards.jsonl",))
    stored = [json.loads(line) for line in (out / "intermediate" / "guards.jsonl").read_text().splitlines()]
    assert [r["type"] for r in stored] == ["guard_added_fast", "dynamo_guards", "guard_added_fast",
                                           "dynamo_cpp_guards_str"]
    assert list(guards.guard_records(ctx.read_jsonl("guards.jsonl", guards.has_guard_type))) == [stored[1], stored[3]]


# -- the guard pages ----------------------------------------------------------------------------

def test_guard_pages_list_every_guard_code(tmp_path: Path) -> None:
    log = corpus_copy(LEGACY_TESTS / "comp_metrics.log", tmp_path)
    out = tmp_path / "out"
    render_guards(log, out)
    pages = ["-_0_0_1/dynamo_guards_1.html", "-_1_0_1/dynamo_guards_4.html", "-_2_0_0/dynamo_guards_7.html"]
    expected = logged_guard_codes(log)
    assert len(expected) == len(pages)
    for page, codes in zip(pages, expected, strict=True):
        assert codes and code_cells(out / page) == codes
        text = (out / page).read_text()
        assert text.count('<tr class="tlp-guard">') == len(codes)
        assert "hasattr(L[&#39;x&#39;], &#39;_dynamo_dynamic_indices&#39;) == False" in text


def test_guard_stacks_are_resolved_against_the_string_table(tmp_path: Path) -> None:
    log = corpus_copy(LEGACY_TESTS / "comp_metrics.log", tmp_path)
    render_guards(log, tmp_path / "out")
    text = (tmp_path / "out" / "-_0_0_1" / "dynamo_guards_1.html").read_text()
    assert "<th>Framework stack</th>" in text
    assert '<span class="tlp-frame">/data/users/jjwu/a/pytorch/test/dynamo/test_misc.py:10079</span>' in text
    assert "in <span class=\"tlp-fn\">init_ambient_guards</span>" in text
    assert "&lt;module&gt;" in text and "<module>" not in text


def test_hostile_guard_code_is_escaped(tmp_path: Path) -> None:
    frame = [{"line": 1, "name": HOSTILE_FN, "filename": 0, "loc": HOSTILE_CODE}]
    log = write(tmp_path / "hostile.log", "".join([
        entry({"str": [HOSTILE_FILE, 0]}),
        entry({"dynamo_guards": {}, **cid()}, guard_payload([HOSTILE_CODE, "ok == 1"], frame)),
    ]))
    render_guards(log, tmp_path / "out")
    text = (tmp_path / "out" / "-_0_0_0" / "dynamo_guards_0.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "&lt;/td&gt;&lt;script&gt;alert(3)&lt;/script&gt;.py:1" in text
    assert "<script>alert" not in text and "<img" not in text and "</td><script" not in text
    assert code_cells(tmp_path / "out" / "-_0_0_0" / "dynamo_guards_0.html") == [HOSTILE_CODE, "ok == 1"]


@pytest.mark.parametrize("payload", ["not json", '[{"nocode": 1}]', '{"code": "x"}', '[{"code": 1}]'])
def test_an_unreadable_guard_list_writes_no_page(tmp_path: Path, payload: str) -> None:
    log = write(tmp_path / "bad.log", entry({"dynamo_guards": {}, **cid()}, payload))
    output = render_guards(log, tmp_path / "out")
    assert list((tmp_path / "out").rglob("dynamo_guards*")) == []
    assert not (tmp_path / "out" / "data" / "guards").exists()
    (index,) = output.index_entries
    assert index.kind == "html" and "The log has no guards." in index.html


def test_a_guard_page_is_complete_without_javascript(tmp_path: Path) -> None:
    codes = [f"L['x'].size()[{i}] == {i}" for i in range(5)]
    log = write(tmp_path / "g.log", entry({"dynamo_guards": {}, **cid(1, 2, 1)}, guard_payload(codes)))
    out = tmp_path / "out"
    render_guards(log, out)
    page = out / "-_1_2_1" / "dynamo_guards_0.html"
    text = page.read_text()
    assert code_cells(page) == codes
    assert '<p class="tlp-guard-filter" hidden>' in text  # only the script shows the box
    assert '<script src="../static/guards.js" defer></script>' in text
    assert "<th>User stack</th>" not in text  # no stacks logged: no empty columns
    assert "Guards [1/2_1]" in text and '<a href="../index.html">' in text
    assert (out / "static" / "guards.js").read_bytes() == (REPO / "templates" / "static" / "guards.js").read_bytes()


def test_an_empty_guard_list(tmp_path: Path) -> None:
    log = write(tmp_path / "g.log", entry({"dynamo_guards": {}, **cid()}, "[]"))
    render_guards(log, tmp_path / "out")
    text = (tmp_path / "out" / "-_0_0_0" / "dynamo_guards_0.html").read_text()
    assert "This compile logged no guards." in text and "id=\"tlp-guard-filter\"" not in text


# -- the index entry ----------------------------------------------------------------------------

def two_compiles_log(tmp_path: Path) -> Path:
    return write(tmp_path / "two.log", "".join([
        entry({"dynamo_cpp_guards_str": {}, **cid(0)}, "tree 0"),
        entry({"dynamo_guards": {}, **cid(0)}, guard_payload(["a == 1", "b == 2"])),
        entry({"dynamo_cpp_guards_str": {}, **cid(1)}, "tree 1"),
    ]))


def test_the_index_lists_the_files_lazily(tmp_path: Path) -> None:
    out = tmp_path / "out"
    output = render_guards(two_compiles_log(tmp_path), out)
    (index,) = output.index_entries
    assert (index.kind, index.shard, index.renderer, index.title) == ("hybrid", "files", "artifacts", "Guards")
    assert "1 guard page (2 guards)" in index.html and "2 C++ guard tree dumps, for 2 compile ids" in index.html
    assert "dynamo_guards_1.html" not in index.html  # the list itself is in the shard
    shard = (out / "data" / "guards" / "files.js").read_text()
    data = json.loads(json.loads(shard[shard.index("JSON.parse(") + 11: shard.rindex("))")]))
    assert [(i["url"], i["name"], i["number"]) for i in data] == [
        ("-_0_0_0/dynamo_cpp_guards_str_0.txt", "[0/0] dynamo_cpp_guards_str_0.txt (C++ guard tree)", 0),
        ("-_0_0_0/dynamo_guards_1.html", "[0/0] dynamo_guards_1.html (2 guards)", 1),
        ("-_1_0_0/dynamo_cpp_guards_str_2.txt", "[1/0] dynamo_cpp_guards_str_2.txt (C++ guard tree)", 2),
    ]
    for item in data:
        assert (out / item["url"]).is_file()
        assert item["external"] is False and item["readable_url"] is None


def test_the_index_is_static_with_eager(tmp_path: Path) -> None:
    out = tmp_path / "out"
    output = render_guards(two_compiles_log(tmp_path), out, eager=True)
    (index,) = output.index_entries
    assert index.kind == "html" and index.shard == ""
    assert not (out / "data").exists()
    for url in ("-_0_0_0/dynamo_cpp_guards_str_0.txt", "-_0_0_0/dynamo_guards_1.html",
                "-_1_0_0/dynamo_cpp_guards_str_2.txt"):
        assert f'<a href="{url}">' in index.html
    # The same items as the lazy shard, through the same macro.
    assert index.html.index("[0/0] dynamo_guards_1.html (2 guards)") < index.html.index(
        "[1/0] dynamo_cpp_guards_str_2.txt (C++ guard tree)")


def test_end_to_end_with_a_modules_config(tmp_path: Path) -> None:
    log = corpus_copy(LEGACY_TESTS / "comp_metrics.log", tmp_path)
    index = build_with_config(log, tmp_path / "out")
    text = index.read_text()
    assert '<section id="tlp-guards"' in text and 'data-tlp-src="data/guards/files.js"' in text
    assert (tmp_path / "out" / "-_2_0_0" / "dynamo_guards_7.html").is_file()
    assert (tmp_path / "out" / "static" / "guards.js").is_file()


# -- in a browser -------------------------------------------------------------------------------

FILTER_CODES = [
    "L['x'].size()[0] == 4",
    "L['y'] is None",
    "check_tensor(L['X'], Tensor, torch.float32)",
    "___check_global_state()",
    HOSTILE_CODE,
]


@pytest.fixture
def guard_page(tmp_path: Path) -> Path:
    frame = [{"line": 3, "name": HOSTILE_FN, "filename": 0}]
    log = write(tmp_path / "filter.log", "".join([
        entry({"str": ["/src/model.py", 0]}),
        entry({"dynamo_guards": {}, **cid()}, guard_payload(FILTER_CODES, frame)),
    ]))
    build_with_config(log, tmp_path / "out")
    return tmp_path / "out" / "-_0_0_0" / "dynamo_guards_0.html"


@pytest.mark.browser
def test_the_filter_hides_rows_that_do_not_match(browser: Browser, guard_page: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        watch = PageWatch().attach(page)
        page.goto(guard_page.as_uri())
        rows = page.locator("#tlp-guards tbody tr")
        box = page.locator("#tlp-guard-filter")
        count = page.locator("#tlp-guard-count")
        none = page.locator("#tlp-guards-none")
        expect(box).to_be_visible()
        expect(rows).to_have_count(len(FILTER_CODES))
        for i in range(len(FILTER_CODES)):
            expect(rows.nth(i)).to_be_visible()
        expect(count).to_have_text("5 guards")

        box.press_sequentially("l['x")  # case-insensitive, as typed
        visible = rows.filter(visible=True)
        expect(visible).to_have_count(2)
        expect(visible.locator(".tlp-guard-code")).to_have_text([FILTER_CODES[0], FILTER_CODES[2]])
        expect(rows.nth(1)).to_be_hidden()
        expect(count).to_have_text("2 of 5 guards")
        expect(none).to_be_hidden()

        box.fill("<script>")
        expect(rows.filter(visible=True).locator(".tlp-guard-code")).to_have_text([HOSTILE_CODE])

        box.fill("no such guard")
        expect(rows.filter(visible=True)).to_have_count(0)
        expect(none).to_be_visible()
        expect(count).to_have_text("0 of 5 guards")

        box.fill("")
        expect(rows.filter(visible=True)).to_have_count(len(FILTER_CODES))
        expect(none).to_be_hidden()

        # Stacks stay closed until asked for, and frame names are text.
        stack = rows.nth(0).locator("details.tlp-stack")
        expect(stack.locator(".tlp-frames")).to_be_hidden()
        stack.locator("summary").click()
        expect(stack.locator(".tlp-fn").first).to_have_text(HOSTILE_FN)
        assert page.locator("img, body script").count() == 0
        assert watch.page_errors == [] and watch.dialogs == [] and watch.console_errors == []
        assert watch.non_file_requests() == []
    finally:
        context.close()


@pytest.mark.browser
def test_without_javascript_every_guard_shows(browser: Browser, guard_page: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(guard_page.as_uri())
        expect(page.locator("#tlp-guard-filter")).to_be_hidden()
        rows = page.locator("#tlp-guards tbody tr")
        expect(rows.filter(visible=True)).to_have_count(len(FILTER_CODES))
        expect(rows.locator(".tlp-guard-code")).to_have_text(FILTER_CODES)
    finally:
        context.close()


@pytest.mark.browser
def test_the_index_lists_the_guard_files_on_demand(browser: Browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    index = build_with_config(two_compiles_log(tmp_path), tmp_path / "out")
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        watch = PageWatch().attach(page)
        page.goto(index.as_uri())
        details = page.locator("#tlp-guards details[data-tlp-src]")
        items = details.locator("li")
        expect(items).to_have_count(0)
        details.locator("summary").click()
        expect(items).to_have_count(3)
        link = items.nth(1).locator("a")
        expect(link).to_have_text("[0/0] dynamo_guards_1.html (2 guards)")
        link.click()
        expect(page.locator("#tlp-guards tbody tr")).to_have_count(2)
        assert page.url.endswith("/-_0_0_0/dynamo_guards_1.html")
        assert watch.page_errors == [] and watch.console_errors == [] and watch.non_file_requests() == []
    finally:
        context.close()
