"""The export report in Chromium over file://: the draft-export table shows its issues, and a
symbolic guard page's provenance tree expands when a reader opens a node. No network."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import PageWatch, build_report
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", params=["lazy", "eager"])
def export_report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    extra = ("--eager",) if request.param == "eager" else ()
    return build_report(corpus_copy(LEGACY_TESTS / "export.log", root), root / "out", "-e", *extra).parent


def open_page(page: Page, path: Path) -> PageWatch:
    watch = PageWatch().attach(page)
    page.goto(path.as_uri())
    return watch


def assert_clean(watch: PageWatch) -> None:
    assert not watch.non_file_requests() and not watch.dialogs
    assert not watch.page_errors and not watch.console_errors


def test_draft_export_table_shows_every_issue(page: Page, tmp_path: Path) -> None:
    log = corpus_copy(TORCH_213 / "08_export" / "dedicated_log_torch_trace_0qtkqqoa.log", tmp_path)
    out = build_report(log, tmp_path / "out", "-e").parent
    watch = open_page(page, out / "index.html")
    table = page.locator("#tlp-export-issues")
    expect(table).to_be_visible()
    expect(page.locator(".tlp-verdict")).to_contain_text("3 issues were found during export")
    expect(table.locator("td.tlp-export-kind")).to_have_text(
        ["Missing Fake Kernel", "Mismatched Fake Kernel", "Data Dependent Error"])
    page.get_by_role("link", name="guard details").click()
    expect(page.locator("h1")).to_contain_text("More detailed information on u2 > 2")
    assert_clean(watch)


def test_guard_page_provenance_tree_expands(page: Page, export_report: Path) -> None:
    watch = open_page(page, export_report / "index.html")
    page.get_by_role("link", name="guard details").click()
    expect(page).to_have_title("Symbolic Shapes Information")
    nodes = page.locator("li.tlp-tree-node")
    assert nodes.count() >= 5
    root_card = nodes.first.locator(":scope > details > .tlp-card")
    expect(root_card).to_be_visible()
    child = nodes.nth(1)
    card = child.locator(":scope > details > .tlp-card")
    expect(card).to_be_hidden()
    child.locator(":scope > details > summary").click()
    expect(card).to_be_visible()
    expect(card).to_contain_text("Method: int_floordiv")
    grandchild = nodes.nth(2).locator(":scope > details > summary")
    grandchild.click()
    expect(nodes.nth(2).locator(":scope > details > .tlp-card")).to_contain_text("Method: sub")
    assert_clean(watch)
