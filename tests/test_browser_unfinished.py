"""Unfinished compiles in a browser over file://: a log cut in the middle of a compile names the
compile id as `unfinished` in a warning at the top of the index, colours it so in the stack trie
and the compile directory, and the warning's link opens its entry; the whole log has no warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import CHROMIUM, PageWatch, build_report
from tests.conftest import TORCH_213, corpus_copy
from tests.test_unfinished import GRAPH_BREAKS, cut_before_metrics

if not CHROMIUM.exists():
    pytest.skip(f"headless Chromium not found at {CHROMIUM}", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

CUT = "[3/1]"  # 03_graph_breaks compiles frame 3 twice; the log is cut inside the second compile


def assert_clean(watch: PageWatch) -> None:
    assert watch.non_file_requests() == []
    assert watch.console_errors == [] and watch.page_errors == [] and watch.dialogs == []


@pytest.mark.parametrize("extra", [(), ("--eager",)], ids=["lazy", "eager"])
def test_a_log_cut_in_the_middle_of_a_compile_names_it_unfinished(page: Page, tmp_path: Path,
                                                                   extra: tuple[str, ...]) -> None:
    log, _ = cut_before_metrics(GRAPH_BREAKS, tmp_path, 3, 1)
    index = build_report(log, tmp_path / "out", *extra)
    watch = PageWatch().attach(page)
    page.goto(index.as_uri())

    sections = page.locator("section.tlp-section").evaluate_all("all => all.map(s => s.id)")
    # at the top: only the search box (issue 9 item 5) may come before it
    assert set(sections[:sections.index("tlp-notices")]) <= {"tlp-search"}
    warning = page.locator("#tlp-notices .tlp-unfinished")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("1 compile started but never finished")
    expect(warning.get_by_role("listitem")).to_have_count(1)
    expect(warning.get_by_role("listitem")).to_contain_text(f"{CUT} unfinished")

    trie = page.locator("#tlp-stack_trie")
    cut_link = trie.locator("a.tlp-cid", has_text=CUT)
    expect(cut_link).to_have_class("tlp-cid status-unfinished")
    expect(trie.locator("a.tlp-cid", has_text="[3/0]").first).to_have_class("tlp-cid status-break")
    expect(trie.locator("li", has_text="never finished").locator(".status-unfinished")).to_be_visible()
    colour = cut_link.evaluate("a => [getComputedStyle(a).color, getComputedStyle(a).outlineStyle]")
    ok_link = trie.locator("a.tlp-cid", has_text="[0/0]").first
    assert colour[1] == "dashed" and colour[0] != ok_link.evaluate("a => getComputedStyle(a).color")

    directory = page.locator("#tlp-compile_directory")
    entry = directory.locator(f'details[id="{CUT}"]')
    expect(entry.locator("summary .tlp-cid")).to_have_class("tlp-cid status-unfinished")
    # its restart [3/1_1] is part of the same unfinished compile; no other compile id is
    expect(directory.locator("summary .status-unfinished")).to_have_text([CUT, "[3/1_1]"])

    warning.get_by_role("link", name=CUT).click()
    expect(entry).to_be_in_viewport()
    if not extra:  # modules.js opens (and loads) the entry a link points at
        expect(entry).to_have_js_property("open", True)
    assert_clean(watch)


def test_the_whole_log_has_no_warning(page: Page, tmp_path: Path) -> None:
    index = build_report(corpus_copy(GRAPH_BREAKS, tmp_path), tmp_path / "out")
    page.goto(index.as_uri())
    expect(page.locator("#tlp-stack_trie a.tlp-cid").first).to_be_visible()
    expect(page.locator(".tlp-unfinished")).to_have_count(0)
    expect(page.locator("#tlp-stack_trie a.status-unfinished, #tlp-compile_directory .status-unfinished")
           ).to_have_count(0)


def test_the_training_log_cut_mid_restart_marks_both_attempts(page: Page, tmp_path: Path) -> None:
    """02_training's [1/0] restarts as [1/0_1] before it reports: both entries are unfinished."""
    log, _ = cut_before_metrics(next((TORCH_213 / "02_training").glob("*.log")), tmp_path, 1, 0)
    page.goto(build_report(log, tmp_path / "out").as_uri())
    expect(page.locator(".tlp-unfinished li")).to_have_text(["[1/0] unfinished (started at log line 6536)"])
    directory = page.locator("#tlp-compile_directory")
    for compile_id in ("[1/0]", "[1/0_1]"):
        expect(directory.locator(f'details[id="{compile_id}"] summary .tlp-cid')).to_have_class(
            "tlp-cid status-unfinished")
    expect(directory.locator('details[id="[0/0]"] summary .tlp-cid')).to_have_class("tlp-cid status-ok")
