"""Search in a browser over file:// with no network: a kernel name lists its output-code page and
the link opens it, a compile id lists its entry and files, reasons are found by their words, and
an --eager report (no modules.js) searches too. Each test prints how long results took."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import PageWatch, build_report
from tests.conftest import TORCH_213, corpus_copy

pytestmark = pytest.mark.browser

KERNEL = re.compile(r"\bcpp_fused_\w+")
GRAPH_BREAKS = TORCH_213 / "03_graph_breaks"


def report(tmp_path_factory: pytest.TempPathFactory, *extra: str) -> Path:
    root = tmp_path_factory.mktemp("search")
    log = corpus_copy(next(GRAPH_BREAKS.glob("*.log")), root)
    return build_report(log, root / "out", *extra)


@pytest.fixture(scope="module")
def lazy_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report(tmp_path_factory)


@pytest.fixture(scope="module")
def eager_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report(tmp_path_factory, "--eager")


def kernel_page(index: Path) -> tuple[str, str]:
    """A kernel named by exactly one output-code page, and that page's path."""
    owners: dict[str, set[str]] = {}
    with open(index.parent / "intermediate" / "codegen.jsonl") as handle:
        for line in handle:
            record = json.loads(line)
            for kernel in KERNEL.findall(record.get("payload", "")):
                owners.setdefault(kernel, set()).add(record["outputs"][0]["url"])
    kernel, urls = next((k, u) for k, u in sorted(owners.items()) if len(u) == 1)
    return kernel, urls.pop()


def search(page: Page, text: str) -> float:
    """Type `text` into the box; seconds until the results are shown (printed)."""
    box = page.locator("input#search")
    started = time.perf_counter()
    box.fill(text)
    expect(page.locator(".tlp-search")).to_have_attribute("data-tlp-search-state", "done")
    took = time.perf_counter() - started
    print(f"search {text!r}: results in {took * 1000:.0f} ms "
          f"(in the page, from the key press: "
          f"{page.locator('.tlp-search').get_attribute('data-tlp-search-ms')} ms)")
    return took


def opened(page: Page, index: Path) -> PageWatch:
    watch = PageWatch().attach(page)
    page.goto(index.as_uri())
    return watch


@pytest.mark.parametrize("which", ["lazy", "eager"])
def test_kernel_name_opens_its_output_code(page: Page, which: str, lazy_report: Path, eager_report: Path) -> None:
    index = lazy_report if which == "lazy" else eager_report
    kernel, url = kernel_page(index)
    watch = opened(page, index)
    search(page, kernel)
    first = page.locator(".tlp-search-results li").first
    expect(first.locator(".tlp-search-kind")).to_have_text("output code")
    expect(first.locator(".tlp-search-words code")).to_have_text(kernel.lower())
    first.locator("a").click()
    page.wait_for_load_state()
    assert page.url == (index.parent / url).as_uri()
    expect(page.locator("body")).to_contain_text(kernel)
    assert watch.non_file_requests() == [] and watch.page_errors == [] and watch.console_errors == []


def test_typing_a_prefix_narrows_as_you_type(page: Page, lazy_report: Path) -> None:
    kernel, _url = kernel_page(lazy_report)
    opened(page, lazy_report)
    search(page, "cpp_fused")
    broad = page.locator(".tlp-search-results li").count()
    search(page, kernel)
    assert 0 < page.locator(".tlp-search-results li").count() < broad


def test_compile_id_lists_its_entry_and_files(page: Page, lazy_report: Path) -> None:
    watch = opened(page, lazy_report)
    search(page, "1/0")
    results = page.locator(".tlp-search-results li")
    expect(results.first.locator("a")).to_have_text("[1/0]")
    hrefs = results.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    files = [h for h in hrefs if not h.startswith("#")]
    assert files and all(h.startswith("-_1_0_0/") for h in files)
    assert all((lazy_report.parent / h).is_file() for h in files)
    results.first.locator("a").click()
    expect(page.locator('details[id="[1/0]"]')).to_have_attribute("open", "")
    assert watch.page_errors == [] and watch.non_file_requests() == []


def test_words_of_a_graph_break_reason_and_a_guard(page: Page, lazy_report: Path) -> None:
    opened(page, lazy_report)
    search(page, "builtin operator")
    breaks = page.locator(".tlp-search-results li", has_text="graph break")
    expect(breaks.first.locator(".tlp-search-note")).to_contain_text("gen.py:21: Failed to trace builtin operator")
    search(page, "TENSOR_MATCH")
    expect(page.locator(".tlp-search-results li .tlp-search-kind", has_text="guards").first).to_be_visible()


def test_nothing_found_and_too_short(page: Page, lazy_report: Path) -> None:
    opened(page, lazy_report)
    search(page, "zzqqxx_not_a_word")
    expect(page.locator(".tlp-search-status")).to_have_text("Nothing found.")
    page.locator("input#search").fill("x")
    expect(page.locator(".tlp-search-status")).to_contain_text("at least two letters")
    expect(page.locator(".tlp-search-results li")).to_have_count(0)


def test_hostile_text_stays_text(page: Page, lazy_report: Path) -> None:
    watch = opened(page, lazy_report)
    search(page, "<img src=x onerror=alert(1)> [0/0]")
    assert watch.dialogs == [] and page.locator(".tlp-search img").count() == 0
