"""Symbolic shapes in a browser over file://: the overview links each compile id's page, the page
shows its entries (hostile ones as text), links back into the report work, and it reads the
same with JavaScript off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import PageWatch, build_report
from tests.logs import cid, entry, write

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_EXPR = "<script>alert(2)</script> > 0"
SECOND_PAGE = "-_1_0_0/symbolic_shapes.html"


def shapes_log() -> str:
    """Two compile ids: [0/0] with a guard added fast, [1/0] with a specialization and a guard
    evaluated with hostile names."""
    frame = [{"line": 7, "name": HOSTILE, "filename": 0, "loc": "n = x.size(0)"}]
    return "".join([
        entry({"str": ["/home/user/model.py", 0]}),
        entry({"dynamo_start": {"stack": frame}, **cid(0)}),
        entry({"guard_added_fast": {"expr": "Eq(s0, 4)", "user_stack": frame}, **cid(0)}),
        entry({"dynamo_start": {"stack": frame}, **cid(1)}),
        entry({"symbolic_shape_specialization": {"symbol": "s1", "sources": ["L['x'].size()[0]"], "value": "8",
                                                 "reason": HOSTILE, "user_stack": frame}, **cid(1)}),
        entry({"guard_added": {"expr": HOSTILE_EXPR, "frame_locals": {"locals": {HOSTILE: "3"}}}, **cid(1)}),
    ])


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    build_report(write(root / "shapes.log", shapes_log()), root / "out")
    return root / "out"


def assert_clean(watch: PageWatch) -> None:
    assert not watch.non_file_requests() and not watch.dialogs
    assert not watch.page_errors and not watch.console_errors


def test_the_overview_links_to_a_compile_ids_page_with_its_entries(page: Page, report: Path) -> None:
    watch = PageWatch().attach(page)
    page.goto((report / "symbolic_shapes.html").as_uri())
    links = page.locator("ul.tlp-artifacts > li > a")
    expect(links).to_have_text(["[0/0]: 1 guard added fast", "[1/0]: 1 specialization, 1 guard added"])
    links.nth(1).click()
    page.wait_for_url("**/" + SECOND_PAGE)
    expect(page.locator("h1")).to_have_text("Symbolic shapes [1/0]")
    specialization = page.locator("h3:text-is('Specializations') + table tbody tr")
    expect(specialization).to_have_count(1)
    expect(specialization.locator("td").nth(0)).to_have_text("s1")
    expect(specialization.locator("td").nth(3)).to_have_text(HOSTILE)  # shown as text, not an image
    guard = page.locator("h3:text-is('Guards added and data-dependent specializations') + table tbody tr")
    expect(guard.locator("td").nth(1)).to_have_text(HOSTILE_EXPR)
    expect(guard.locator("dl.tlp-fields")).to_contain_text(f"{HOSTILE}: 3")
    stack = specialization.locator("details.tlp-stack")
    stack.locator("summary").click()
    expect(stack.locator("ol.tlp-frames li")).to_have_text(f"/home/user/model.py:7 in {HOSTILE}n = x.size(0)")
    assert page.locator("img").count() == 0
    assert_clean(watch)


def test_links_from_a_compile_ids_page_lead_back_into_the_report(page: Page, report: Path) -> None:
    watch = PageWatch().attach(page)
    page.goto((report / SECOND_PAGE).as_uri())
    page.get_by_role("link", name="[1/0] in the compile directory").click()
    page.wait_for_url("**/index.html#*")
    details = page.locator('#tlp-compile_directory details[id="[1/0]"]')
    expect(details).to_have_js_property("open", True)  # the quoted fragment finds the entry
    expect(page.locator("link[rel=stylesheet]")).to_have_count(1)

    section = page.locator("#tlp-symbolic_shapes")
    section.locator("details.tlp-lazy > summary").click()  # the list loads from its shard
    section.get_by_role("link", name="[0/0]: 1 guard added fast").click()
    page.wait_for_url("**/-_0_0_0/symbolic_shapes.html")
    expect(page.locator("h3:text-is('Guards added fast') + table tbody tr td").first).to_have_text("Eq(s0, 4)")
    assert "system-ui" in page.evaluate("getComputedStyle(document.body).fontFamily")  # ../style.css
    page.get_by_role("link", name="All compile ids").click()
    page.wait_for_url("**/symbolic_shapes.html")
    expect(page.locator("h1")).to_have_text("Symbolic shapes")
    assert_clean(watch)


def test_a_compile_ids_page_reads_the_same_without_javascript(browser: Any, page: Page, report: Path) -> None:
    page.goto((report / SECOND_PAGE).as_uri())
    with_js = page.locator("main, body").first.inner_text()
    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto((report / SECOND_PAGE).as_uri())
        assert plain.locator("main, body").first.inner_text() == with_js
        expect(plain.locator("h3:text-is('Specializations') + table tbody tr")).to_have_count(1)
    finally:
        context.close()
