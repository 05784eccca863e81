"""What a user sees in the report, checked in headless Chromium (system binary, file:// URLs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser_support import (
    CHROMIUM,
    HOSTILE_ARTIFACT,
    HOSTILE_FRAME_FILE,
    HOSTILE_FRAME_FN,
    HOSTILE_LINK_NAME,
    UNSAFE_URLS,
    PageWatch,
    build_report,
    hostile_log,
    tree,
)
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.logs import write

if not CHROMIUM.exists():
    pytest.skip(f"headless Chromium not found at {CHROMIUM}", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Browser, Locator, Page, expect

pytestmark = pytest.mark.browser

CID = "[0/0]"
SHARD = "data/compile_directory/files-0.js"  # the file lists of [0/0] and the entries after it
FIRST_FILE = "dynamo_output_graph_0.txt"
SIMPLE_FILES = 10  # simple.log: [0/0] produced ten files


@pytest.fixture
def watch(page: Page) -> PageWatch:
    return PageWatch().attach(page)


@pytest.fixture
def simple_report(tmp_path: Path) -> Path:
    """The lazy report of the corpus simple.log; returns its index.html."""
    return build_report(corpus_copy(LEGACY_TESTS / "simple.log", tmp_path), tmp_path / "out")


@pytest.fixture
def graph_breaks_report(tmp_path: Path) -> Path:
    """The lazy report of a torch 2.13 log with many compile ids and retries (`[3/0_1]`)."""
    (source,) = sorted((TORCH_213 / "03_graph_breaks").glob("*.log"))
    return build_report(corpus_copy(source, tmp_path), tmp_path / "out")


def entry_of(page: Page, compile_id: str = CID) -> Locator:
    """The compile directory `<details>` of one compile id."""
    return page.locator(f'#tlp-compile_directory details[id="{compile_id}"]')


def items_of(details: Locator) -> Locator:
    return details.locator("ul.tlp-artifacts > li")


def is_open(details: Locator) -> bool:
    return bool(details.evaluate("d => d.open"))


def assert_clean(watch: PageWatch) -> None:
    """No network, no console errors, no uncaught exceptions, no dialogs."""
    assert watch.non_file_requests() == []
    assert watch.console_errors == []
    assert watch.page_errors == []
    assert watch.dialogs == []


def test_simple_report_shows_stack_trie_and_compile_directory(page: Page, watch: PageWatch,
                                                              simple_report: Path) -> None:
    """The stack trie shows frames and a compile-id link; the directory lists [0/0]."""
    page.goto(simple_report.as_uri())
    trie = page.locator("#tlp-stack_trie .tlp-stack-trie")
    expect(trie).to_contain_text("test_torchinductor.py:11123")
    expect(trie.locator(".tlp-fn", has_text="forward")).to_be_visible()
    link = trie.locator("a.tlp-cid", has_text=CID)
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", f"#{CID}")

    details = entry_of(page)
    expect(details.locator("summary")).to_contain_text(CID)
    expect(details.locator("summary")).to_contain_text(f"{SIMPLE_FILES} files")
    assert not is_open(details)
    expect(items_of(details)).to_have_count(0)  # nothing loaded before it is opened
    assert watch.requests_for(SHARD) == []
    assert_clean(watch)


def test_expanding_a_compile_id_loads_its_shard_once(page: Page, watch: PageWatch, simple_report: Path) -> None:
    """Opening an entry loads its file list over file:// only; reopening reuses the cache."""
    page.goto(simple_report.as_uri())
    details = entry_of(page)
    summary = details.locator("summary")
    seen_loading = details.evaluate(
        """d => {
            const seen = [];
            new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(n => {
                if (n.classList && n.classList.contains("tlp-status-loading")) {
                    seen.push([n.textContent, n.getAttribute("role")]);
                }
            }))).observe(d, {childList: true});
            window.__tlpSeenLoading = seen;
            return seen.length;
        }"""
    )
    assert seen_loading == 0

    summary.click()
    items = items_of(details)
    expect(items).to_have_count(SIMPLE_FILES)
    expect(items.filter(has_text=FIRST_FILE)).to_have_count(1)
    expect(items.first.locator("a")).to_have_attribute("href", f"-_0_0_0/{FIRST_FILE}")
    expect(details.locator(".tlp-status")).to_have_count(0)
    assert page.evaluate("window.__tlpSeenLoading") == [["Loading…", "status"]]

    summary.click()
    assert not is_open(details)
    summary.click()
    assert is_open(details)
    expect(items).to_have_count(SIMPLE_FILES)
    assert page.locator(f'head script[src="{SHARD}"]').count() == 1
    assert len(watch.requests_for(SHARD)) == 1
    assert_clean(watch)


def test_missing_shard_shows_an_alert_and_can_retry(page: Page, watch: PageWatch, simple_report: Path) -> None:
    """A shard that fails to load gives a role=alert message, no uncaught error; reopening retries."""
    shard = simple_report.parent / SHARD
    saved = shard.read_bytes()
    shard.unlink()
    page.goto(simple_report.as_uri())
    details = entry_of(page)
    details.locator("summary").click()

    alert = details.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_have_class(re.compile(r"\btlp-status-error\b"))
    expect(alert).to_contain_text("Could not load")
    expect(items_of(details)).to_have_count(0)
    assert watch.page_errors == []
    assert watch.dialogs == []
    assert watch.non_file_requests() == []

    shard.write_bytes(saved)
    details.locator("summary").click()  # close
    details.locator("summary").click()  # reopen: try again
    expect(items_of(details)).to_have_count(SIMPLE_FILES)
    expect(details.get_by_role("alert")).to_have_count(0)
    assert watch.page_errors == []


def test_stack_trie_link_opens_and_loads_its_entry(page: Page, watch: PageWatch, simple_report: Path) -> None:
    """Clicking [0/0] in the stack trie opens that compile directory entry and fills it."""
    page.goto(simple_report.as_uri())
    details = entry_of(page)
    assert not is_open(details)
    page.locator("#tlp-stack_trie a.tlp-cid", has_text=CID).click()
    expect(items_of(details).filter(has_text=FIRST_FILE)).to_have_count(1)
    assert is_open(details)
    assert page.evaluate("decodeURIComponent(location.hash)") == f"#{CID}"
    assert_clean(watch)


def test_stack_trie_link_reopens_a_closed_entry(page: Page, watch: PageWatch, simple_report: Path) -> None:
    """Clicking the same compile-id link again, after closing its entry, opens it again."""
    page.goto(simple_report.as_uri())
    details = entry_of(page)
    link = page.locator("#tlp-stack_trie a.tlp-cid", has_text=CID)
    link.click()
    expect(items_of(details)).to_have_count(SIMPLE_FILES)
    details.locator("summary").click()
    assert not is_open(details)
    link.click()
    expect(details).to_have_attribute("open", "", timeout=1_000)


def test_every_link_and_entry_of_a_bigger_report(page: Page, watch: PageWatch, graph_breaks_report: Path) -> None:
    """Each stack-trie link opens its own entry; each entry lists as many files as its summary says."""
    page.goto(graph_breaks_report.as_uri())
    links = page.locator("#tlp-stack_trie a.tlp-cid")
    targets = links.evaluate_all("links => links.map(a => a.getAttribute('href').slice(1))")
    assert len(targets) > 5
    for compile_id in targets:
        page.locator(f'#tlp-stack_trie a.tlp-cid[href="#{compile_id}"]').first.click()
        details = entry_of(page, compile_id)
        expect(details).to_have_attribute("open", "")
        expect(details).to_have_class(re.compile(r"\btlp-loaded\b"))

    entries = page.locator("#tlp-compile_directory details.tlp-compile")
    ids = entries.evaluate_all("ds => ds.map(d => d.id)")
    assert {"[3/0_1]", "[-/-]"} <= set(ids)
    for compile_id in ids:
        details = entry_of(page, compile_id)
        if not is_open(details):
            details.locator("summary").click()
        count = int(details.locator(".tlp-count").inner_text().split()[0])
        expect(items_of(details)).to_have_count(count)
        expect(details.locator(".tlp-status")).to_have_count(0)
    # The file lists share a few scripts: each loaded once, however many of its entries opened.
    shards = [url for url in watch.requests if "/data/compile_directory/" in url]
    sources = page.locator(".tlp-compile-directory details[data-tlp-src]").evaluate_all(
        "ds => ds.map(d => d.dataset.tlpSrc)")
    assert len(shards) == len(set(shards)) == len(set(sources)) < len(sources)
    assert_clean(watch)


def test_entries_sharing_a_script_open_without_another_load(page: Page, watch: PageWatch,
                                                            graph_breaks_report: Path) -> None:
    """Opening the first entry loads the script its file list is in; the other entries in that
    script then show their files with no request, and closing and reopening loads nothing."""
    page.goto(graph_breaks_report.as_uri())
    entries = page.locator("#tlp-compile_directory details.tlp-compile[data-tlp-src]")
    first_src = entries.first.get_attribute("data-tlp-src")
    neighbours = entries.evaluate_all("(ds, src) => ds.filter(d => d.dataset.tlpSrc === src).map(d => d.id)",
                                      first_src)
    assert len(neighbours) > 2
    for compile_id in neighbours:
        details = entry_of(page, compile_id)
        details.locator("summary").click()
        count = int(details.locator(".tlp-count").inner_text().split()[0])
        expect(items_of(details)).to_have_count(count)
        expect(details).to_have_attribute("data-tlp-state", "loaded")
    assert len(watch.requests_for(f"/{first_src}")) == 1
    assert [url for url in watch.requests if "/data/compile_directory/" in url] == watch.requests_for(f"/{first_src}")
    assert page.locator(f'head script[src="{first_src}"]').count() == 1
    assert_clean(watch)


def test_deep_link_opens_its_entry_on_load(page: Page, watch: PageWatch, simple_report: Path) -> None:
    """A report URL ending in #[0/0] opens and loads that entry straight away."""
    page.goto(f"{simple_report.as_uri()}#{CID}")
    details = entry_of(page)
    expect(items_of(details)).to_have_count(SIMPLE_FILES)
    assert is_open(details)
    assert_clean(watch)


@pytest.mark.parametrize("mode", ["lazy", "eager"])
def test_hostile_log_stays_text(page: Page, watch: PageWatch, tmp_path: Path, mode: str) -> None:
    """Markup in names is shown as text, unsafe URLs are not links, nothing lands outside OUT."""
    case = tmp_path / "a" / "b" / "c" / "case"
    case.mkdir(parents=True)
    log = write(case / "hostile.log", hostile_log())
    out = case / "out"
    before = tree(tmp_path)
    index = build_report(log, out, *(["--eager"] if mode == "eager" else []))
    new = tree(tmp_path) - before
    inside_out = {p for p in new if p == "a/b/c/case/out" or p.startswith("a/b/c/case/out/")}
    assert "a/b/c/case/out" in new
    assert new - inside_out == set()
    resolved_out = out.resolve()
    for path in out.rglob("*"):
        assert not path.is_symlink(), path
        assert resolved_out in path.resolve().parents, path

    page.goto(index.as_uri())
    trie = page.locator("#tlp-stack_trie .tlp-stack-trie")
    expect(trie.locator(".tlp-frame")).to_contain_text(HOSTILE_FRAME_FILE)
    expect(trie.locator(".tlp-fn")).to_have_text(HOSTILE_FRAME_FN)

    details = entry_of(page)
    details.locator("summary").click()
    items = items_of(details)
    expect(items).to_have_count(4 + len(UNSAFE_URLS) + 3)
    # The artifact's file name is sanitized, but what remains is plain text, not an element.
    expect(items.filter(has_text=HOSTILE_ARTIFACT[1:-1])).to_have_count(1)
    assert page.locator("img, svg, iframe, object, embed").count() == 0
    # No log text became a script: none inline, and those with a src are the report's own files.
    assert page.locator("script:not([src])").count() == 0
    sources = page.eval_on_selector_all("script[src]", "ss => ss.map(s => s.getAttribute('src'))")
    assert all(re.fullmatch(r"[\w./-]+\.js", src) and (out / src).is_file() for src in sources), sources

    for i, url in enumerate(UNSAFE_URLS):
        item = items.filter(has_text=f"{HOSTILE_LINK_NAME} {i}")
        expect(item).to_have_count(1)
        unsafe = item.locator(".tlp-unsafe-link")
        expect(unsafe).to_have_text(f"{HOSTILE_LINK_NAME} {i}")
        expect(unsafe).to_have_attribute("title", url)
        assert item.locator("a").count() == 0, url
        unsafe.click()
    safe = items.filter(has_text="safe link").locator("a")
    expect(safe).to_have_attribute("href", "https://example.invalid/ok")
    expect(safe).to_have_attribute("rel", "noopener noreferrer")

    schemes = page.eval_on_selector_all("a[href]", "links => links.map(a => new URL(a.href).protocol)")
    assert set(schemes) <= {"file:", "http:", "https:"}
    assert page.locator('[href^="javascript" i], [src^="javascript" i], [href^="data:" i]').count() == 0
    page.wait_for_timeout(200)  # give any injected handler (onerror, onload) a chance to fire
    assert_clean(watch)


def test_eager_report_works_without_javascript(browser: Browser, tmp_path: Path) -> None:
    """With --eager and JavaScript off, opening an entry shows its files from the page itself."""
    index = build_report(corpus_copy(LEGACY_TESTS / "simple.log", tmp_path), tmp_path / "out", "--eager")
    assert not (index.parent / "data").exists()
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        watch = PageWatch().attach(page)
        page.goto(index.as_uri())
        assert page.locator('script[src$="modules.js"]').count() == 0
        details = entry_of(page)
        items = items_of(details)
        expect(items.first).to_be_hidden()
        details.locator("summary").click()
        expect(items).to_have_count(SIMPLE_FILES)
        first = items.filter(has_text=FIRST_FILE)
        expect(first).to_be_visible()
        expect(first.locator("a")).to_have_attribute("href", f"-_0_0_0/{FIRST_FILE}")
        assert watch.requests_for(".js") == []
        assert_clean(watch)
    finally:
        context.close()
