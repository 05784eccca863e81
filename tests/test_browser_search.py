"""Search in a browser over file:// with no network: a kernel name lists its output-code page and
the link opens it, a compile id lists its entry and files, reasons are found by their words, an
--eager report (no modules.js) searches too, and a report whose token rows are packed into many
small files finds the words on each side of every file boundary, loading one token file per word.
Each test prints how long results took."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import PageWatch, build_report
from tests.conftest import TORCH_213, corpus_copy
from tests.test_module_search import Index, file_of

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


#: The CLI with token files of at most ~2 KB (some 60 of them for this log, not two).
SMALL_FILES = ("import sys; from tlparse_tasks.modules import search; search.TOKEN_FILE_BYTES = 2048; "
               "from tlparse_tasks.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.fixture(scope="module")
def packed_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search")
    log = corpus_copy(next(GRAPH_BREAKS.glob("*.log")), root)
    result = subprocess.run([sys.executable, "-c", SMALL_FILES, str(log), "-o", str(root / "out"), "--no-browser",
                             "-j", "1"], cwd=root, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return root / "out" / "index.html"


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


def expected_status(index: Index, term: str) -> str:
    """What the page says for a one-word query: the pages holding a word that starts with it."""
    docs = {posting >> 1 for token, row in index.rows.items() if token.startswith(term) for posting in row[2]}
    return f"{len(docs)} match{'es' if len(docs) != 1 else ''}" if len(docs) <= 50 else "The first 50 matches."


def test_words_either_side_of_every_file_boundary(page: Page, packed_report: Path) -> None:
    index = Index(packed_report.parent)
    assert len(index.files) > 20
    watch = opened(page, packed_report)
    for number, start in enumerate(index.starts):
        if number % 4:  # every fourth file: its first and last word, across the boundaries
            continue
        rows = index.files[start]
        for token in {rows[0][0], rows[-1][0]}:
            watch.requests.clear()
            search(page, token)
            expect(page.locator(".tlp-search-status")).to_contain_text(expected_status(index, token))
            expect(page.locator(".tlp-search-results li").first).to_be_visible()
            loaded = [url.rpartition("/")[2] for url in watch.requests if "/t-" in url]
            assert loaded in ([f"{start}.js"], [])  # its own file, unless an earlier word loaded it
            assert file_of(index.starts, token) == start
    assert watch.page_errors == [] and watch.console_errors == [] and watch.non_file_requests() == []


def test_file_choice_matches_the_python_reader(page: Page, packed_report: Path) -> None:
    index = Index(packed_report.parent)
    opened(page, packed_report)
    owner = {row[0]: name for name, rows in index.files.items() for row in rows}
    tokens = sorted(owner)
    picked = page.evaluate("([starts, terms]) => terms.map(t => TLP.searchFileOf(starts, t))", [index.starts, tokens])
    assert picked == [owner[token] for token in tokens]  # every word: the file that holds it
    terms = sorted({token[:n] for token in index.rows for n in (2, 3)} | {"!!", "zz", "~~", "0/", "1/0", "-/"})
    picked = page.evaluate("([starts, terms]) => terms.map(t => TLP.searchFileOf(starts, t))", [index.starts, terms])
    assert picked == [file_of(index.starts, term) for term in terms]  # any term: as the Python reader
    assert picked[terms.index("!!")] is None


def test_the_small_report_has_few_token_files(lazy_report: Path, eager_report: Path) -> None:
    assert 1 <= len(Index(lazy_report.parent).files) <= 3
    assert len(Index(eager_report.parent, "search").files) == len(Index(lazy_report.parent).files)
