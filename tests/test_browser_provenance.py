"""Provenance pages in a browser over file://: clicking a line highlights its counterparts in
the other panes and scrolls them into view, with no network; marks survive the highlighter."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import PageWatch, build_report
from tests.conftest import LEGACY_TESTS, corpus_copy

pytestmark = pytest.mark.browser

JIT_PAGE = "provenance_tracking_-_0_0_0.html"
AOT_PAGE = "provenance_tracking_-_-_-_-.html"
MARKED = "el => getComputedStyle(el).backgroundColor !== 'rgba(0, 0, 0, 0)'"
VISIBLE_IN_PANE = """el => {
  const pane = el.closest('pre').getBoundingClientRect(), line = el.getBoundingClientRect();
  return line.top >= pane.top && line.bottom <= pane.bottom;
}"""


def build(tmp_path_factory: pytest.TempPathFactory, name: str, *extra: str) -> Path:
    root = tmp_path_factory.mktemp("provenance")
    return build_report(corpus_copy(LEGACY_TESTS / name, root), root / "out", "-i", *extra).parent


@pytest.fixture(scope="module")
def jit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory, "inductor_provenance_jit_log.txt")


@pytest.fixture(scope="module")
def jit_eager(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory, "inductor_provenance_jit_log.txt", "--eager")


@pytest.fixture(scope="module")
def aot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory, "inductor_provenance_aot_debug_handle_log.txt")


def open_page(page: Page, url: str) -> PageWatch:
    watch = PageWatch().attach(page)
    page.set_viewport_size({"width": 1500, "height": 900})
    page.goto(url)
    page.wait_for_selector("body[data-prov-ready]", state="attached")
    return watch


def marked(page: Page, *ids: str) -> list[bool]:
    return [bool(page.locator(f"#{i}").evaluate(MARKED)) for i in ids]


def assert_clean(watch: PageWatch) -> None:
    assert not watch.non_file_requests() and not watch.dialogs
    assert not watch.page_errors and not watch.console_errors


@pytest.mark.parametrize("mode", ["lazy", "eager"])
def test_clicking_a_post_grad_node_highlights_its_pre_grad_nodes_and_code_lines(
        page: Page, jit: Path, jit_eager: Path, mode: str) -> None:
    out = jit if mode == "lazy" else jit_eager
    watch = open_page(page, (out / JIT_PAGE).as_uri())
    expect(page.locator("#post-L14")).to_contain_text("mul:")
    page.locator("#post-L14").click()
    # legacy's mappings for this log: postToPre "14": [20], postToPyCode "14": [138, 132, 142]
    assert marked(page, "post-L14", "pre-L20", "py-L132", "py-L138", "py-L142") == [True] * 5
    assert marked(page, "pre-L11", "post-L20", "py-L147", "py-L133") == [False] * 4
    expect(page.locator("#tlp-prov-status")).to_have_text(
        "Line 14 of the post-grad graph: 1 pre-grad graph line, 3 Python code lines.")
    assert page.locator("#py-L138").evaluate(VISIBLE_IN_PANE)  # scrolled to, inside its pane
    if mode == "lazy":  # highlight.js repaints lines; the marks stay on them
        page.wait_for_function("[...document.querySelectorAll('pre[data-prov-pane]')]"
                               ".every(p => p.dataset.highlight === 'done')")
        assert page.locator("#py-L138 span").count() > 0  # coloured
        assert marked(page, "pre-L20", "py-L132", "py-L138", "py-L142") == [True] * 4
    assert_clean(watch)


def test_clicking_a_code_line_highlights_the_graph_nodes_it_came_from(page: Page, jit: Path) -> None:
    watch = open_page(page, (jit / JIT_PAGE).as_uri())
    page.locator("#py-L147").click()
    # pyCodeToPost "147": [24, 20, 23, 22, 21]; those post nodes all come from pre line 26
    assert marked(page, *(f"post-L{n}" for n in range(20, 25)), "pre-L26") == [True] * 6
    assert marked(page, "post-L14", "pre-L20") == [False, False]
    page.locator("#pre-L20").click()  # a new selection replaces the last one
    assert marked(page, "post-L14", "py-L138") == [True, True]
    assert marked(page, "post-L20", "py-L147") == [False, False]
    assert_clean(watch)


def test_cpp_wrapper_lines_are_shown_where_legacy_counts_them(page: Page, aot: Path) -> None:
    watch = open_page(page, (aot / AOT_PAGE).as_uri())
    # legacy: postToCppCode "19": [1079], counted without the wrapper's leading blank line
    page.locator("#post-L19").click()
    expect(page.locator("#cpp-L1080")).to_contain_text("call_triton_poi_fused_addmm_relu_sigmoid_0(")
    assert marked(page, "cpp-L1080", "pre-L14") == [True, True]
    assert page.locator("#cpp-L1080").evaluate(VISIBLE_IN_PANE)
    assert_clean(watch)


def test_a_line_in_the_address_is_selected_on_load(page: Page, jit: Path) -> None:
    watch = open_page(page, (jit / JIT_PAGE).as_uri() + "#pre-L26")
    assert marked(page, "pre-L26", "post-L22", "py-L147") == [True] * 3
    assert page.locator("#py-L147").evaluate(VISIBLE_IN_PANE)
    assert_clean(watch)


def test_the_page_reads_without_javascript(browser: object, jit: Path) -> None:
    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.goto((jit / JIT_PAGE).as_uri())
        expect(page.locator("#generatedCode pre")).to_contain_text("cpp_fused_gelu_1(buf4)")
        expect(page.locator("#preGradGraph pre")).to_contain_text("class GraphModule(torch.nn.Module):")
    finally:
        context.close()
