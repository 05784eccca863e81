"""Big logs keep a small index: the compile directory is paged (the first page in index.html, later
pages rendered by modules.js from shards when opened or linked), a stack-trie frame shows its
first links and a button for the rest. Unit tests of the paging and windowing functions; browser
tests that every compile id stays reachable (by its #[f/c] link, by opening pages, by the go-to
box) and that the lazy renderers show what the Jinja templates show. No timing is asserted here:
scripts/index-timing measures it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.big_log import compile_id_of, display_id, expected_display_ids, write_synthetic_log
from tests.browser_support import CHROMIUM, HOSTILE_FRAME_FILE, PageWatch, build_report, dom_of_js
from tests.test_twins import script_page
from tlparse_tasks.modules.compile_directory import (
    PAGE_MIN,
    CompileGroup,
    DirectoryPage,
    directory_view,
    page_index,
    page_size,
    paged,
)
from tlparse_tasks.modules.kit import frame_of
from tlparse_tasks.modules.stack_trie import (
    CHILDREN_SHOWN,
    LINKS_SHOWN,
    DeferredRow,
    TerminalLink,
    TrieRow,
    trie_rows,
    window_links,
    write_deferred,
)
from tlparse_tasks.render import jinja_env
from tlparse_tasks.resources import template_dirs

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

BIG = 2_000  # compile ids of the browser tests' log: 20 pages, yet a quick build
RECOMPILES = 2


# --------------------------------------------------------------------------------------------
# Paging the compile directory


@pytest.mark.parametrize("count", [0, 1, PAGE_MIN, PAGE_MIN + 1, 9_999, 10_001, 20_000, 1_000_000])
def test_a_page_holds_at_least_the_square_root_of_the_entries(count: int) -> None:
    size = page_size(count)
    assert size >= PAGE_MIN
    assert size >= math.sqrt(count)
    assert size <= max(PAGE_MIN, math.isqrt(count) + 1)  # not more than needed: pages stay small


def test_pages_keep_every_item_once_in_order() -> None:
    items = list(range(23))
    pages = paged(items, 5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for page in pages for i in page] == items
    assert paged([], 5) == []
    with pytest.raises(ValueError):
        paged(items, 0)


def groups(count: int) -> list[CompileGroup]:
    return [CompileGroup(f"-_{f}_{c}_0", display_id(f, c), "ok" if i % 4 else "error", None)
            for i, (f, c) in enumerate(compile_id_of(i, RECOMPILES) for i in range(count))]


def test_a_small_directory_is_one_list() -> None:
    view = directory_view(groups(PAGE_MIN), "compile_directory", {}, paginate=True)
    assert [e["id"] for e in view.entries] == expected_display_ids(PAGE_MIN, RECOMPILES)
    assert view.pages == []


def test_a_big_directory_shows_its_first_page_and_summaries_of_the_others() -> None:
    count = 1_234
    shards = {g.id: f"data/compile_directory/{g.id}.js" for g in groups(count)}
    view = directory_view(groups(count), "compile_directory", shards, paginate=True)
    ids = expected_display_ids(count, RECOMPILES)
    assert len(view.entries) == PAGE_MIN
    assert [p.number for p in view.pages] == list(range(2, 2 + math.ceil((count - PAGE_MIN) / PAGE_MIN)))
    assert [e["id"] for e in view.entries] + [e["id"] for p in view.pages for e in p.entries] == ids
    page = view.pages[0]
    assert (page.first, page.last, page.size) == (ids[PAGE_MIN], ids[2 * PAGE_MIN - 1], f"{PAGE_MIN} compile ids")
    assert page.flags == [("error", f"{PAGE_MIN // 4} failed")]
    entry = page.entries[0]
    assert entry["src"] == shards[f"-_{PAGE_MIN // 2}_0_0"] and entry["items"] == []
    # The page index names, for each later page, the element to fill and the ids it will hold.
    index = page_index(view.pages)
    assert [anchor for anchor, _ in index] == [p.anchor for p in view.pages]
    assert [i for _, page_ids in index for i in page_ids] == ids[PAGE_MIN:]


def test_eager_keeps_every_entry_in_the_page() -> None:
    view = directory_view(groups(1_234), "compile_directory", {}, paginate=False)
    assert len(view.entries) == 1_234 and view.pages == []
    assert all(e["src"] is None for e in view.entries)


def test_a_page_summary_counts_what_did_not_compile_cleanly() -> None:
    statuses = ["ok", "error", "break", "error", "empty", "missing", "ok"]
    page = DirectoryPage(3, [{"id": f"[{i}/0]", "status": s} for i, s in enumerate(statuses)])
    assert page.flags == [("error", "2 failed"), ("break", "1 restarted"), ("empty", "1 empty"),
                          ("missing", "1 without metrics")]
    assert (page.anchor, page.shard, page.first, page.last) == ("tlp-compile-page-3", "page-3", "[0/0]", "[6/0]")


# --------------------------------------------------------------------------------------------
# Windowing the stack trie's links


def row(links: int, start: int = 0) -> TrieRow:
    return TrieRow(frame_of("/x.py", 1, "f", None, simplify=False),
                   [TerminalLink(display_id(i, 0), "ok") for i in range(start, start + links)], False)


def test_a_frame_with_many_links_keeps_the_first_and_shards_the_rest() -> None:
    rows = [row(3), row(LINKS_SHOWN + 7, 100), row(LINKS_SHOWN), row(LINKS_SHOWN + 1, 200)]
    written: dict[str, Any] = {}

    def write(shard: str, data: Any) -> str:
        written[shard] = data
        return f"data/stack_trie/{shard}.js"

    window_links(rows, LINKS_SHOWN, "stack_trie", "links-", write)
    assert [len(r.links) for r in rows] == [3, LINKS_SHOWN, LINKS_SHOWN, LINKS_SHOWN]
    assert rows[0].more is None and rows[2].more is None
    more = rows[1].more
    assert more is not None and (more.count, more.shard, more.src) == (7, "links-1", "data/stack_trie/links-1.js")
    assert [link.display for link in rows[1].links] == [display_id(i, 0) for i in range(100, 100 + LINKS_SHOWN)]
    assert written["links-1"] == [{"id": display_id(i, 0), "status": "ok"}
                                  for i in range(100 + LINKS_SHOWN, 107 + LINKS_SHOWN)]
    assert sorted(written) == ["links-1", "links-3"]


def trie_node(name: str, children: Sequence[dict[str, Any]] = (), terminals: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"frame": {"filename": f"/src/{name}.py", "line": 1, "name": name, "loc": None},
            "terminals": list(terminals), "children": list(children)}


def fan(name: str, count: int, start: int = 0) -> dict[str, Any]:
    """A frame calling `count` leaves, each where one compile id's stack ends."""
    return trie_node(name, [trie_node(f"{name}_{i}", terminals=(f"-_{start + i}_0_0",)) for i in range(count)])


def test_a_frame_with_many_callees_lists_the_first_and_defers_the_rest() -> None:
    extra = 7
    root = {"terminals": [], "children": [fan("main", CHILDREN_SHOWN + extra), trie_node("other")]}
    rows = trie_rows(root, None, CHILDREN_SHOWN)
    assert [r.kind for r in rows] == ["frame"] * (1 + CHILDREN_SHOWN) + ["more", "frame"]
    deferred = rows[-2]
    assert isinstance(deferred, DeferredRow)
    names = [n["frame"]["name"] for n in deferred.nodes]
    assert names == [f"main_{i}" for i in range(CHILDREN_SHOWN, CHILDREN_SHOWN + extra)]
    assert deferred.button.label == f"{extra} more frames"
    assert deferred.closes == 1  # it ends main's nested list, as main's last callee does in full
    full = trie_rows(root, None)
    assert len(full) == CHILDREN_SHOWN + extra + 2 and full[-2].closes == 2  # its own list and main's


def test_deferred_frames_nest_and_every_compile_id_stays_linked_once() -> None:
    """A deferred frame that itself calls many frames gets a shard with a button of its own;
    each shard is written before the shard whose button loads it; every compile id is linked
    from exactly one place (the index rows or one shard)."""
    big_child = fan("inner", CHILDREN_SHOWN + 3, start=1000)
    callees = [trie_node(f"outer_{i}", terminals=(f"-_{i}_0_0",)) for i in range(CHILDREN_SHOWN + 4)]
    callees[CHILDREN_SHOWN + 1] = big_child
    root = {"terminals": [], "children": [trie_node("main", callees)]}
    rows = trie_rows(root, {}, CHILDREN_SHOWN)
    written: dict[str, Any] = {}

    def write(shard: str, data: Any) -> str:
        for row in data:  # a button may only name a shard that exists already
            if isinstance(row, dict) and row.get("more_frames"):
                assert row["more_frames"]["shard"] in written
        written[shard] = data
        return f"data/stack_trie/{shard}.js"

    write_deferred(rows, {}, "stack_trie", "frames-", write)
    deferred = rows[-1]
    assert isinstance(deferred, DeferredRow) and deferred.button.src == "data/stack_trie/frames-0.js"
    assert sorted(written) == ["frames-0", "frames-1"]
    nested = [r for r in written["frames-0"] if r.get("more_frames")]
    assert [r["more_frames"]["src"] for r in nested] == ["data/stack_trie/frames-1.js"]
    linked = [link.display for r in rows if isinstance(r, TrieRow) for link in r.links]
    linked += [link["id"] for data in written.values() for r in data for link in r.get("links", ())]
    expected = [f"[{i}/0]" for i in range(CHILDREN_SHOWN + 4) if i != CHILDREN_SHOWN + 1]
    expected += [f"[{1000 + i}/0]" for i in range(CHILDREN_SHOWN + 3)]
    assert sorted(linked) == sorted(expected)


# --------------------------------------------------------------------------------------------
# The index stays small


@pytest.mark.slow
def test_the_index_grows_by_a_few_bytes_per_compile_id(tmp_path: Path) -> None:
    """From 500 to 2,000 compile ids (called from the same few lines), index.html grows by under
    40 bytes per added id (it was over 500 when every entry was in the page). The cache module's
    per-id table is left out: it is not paged yet."""
    sizes = {}
    for count in (500, BIG):
        log = write_synthetic_log(tmp_path / f"log_{count}.log", count, recompiles=RECOMPILES, call_sites=3)
        sizes[count] = build_report(log, tmp_path / f"out_{count}", "--skip-modules", "cache").stat().st_size
    per_id = (sizes[BIG] - sizes[500]) / (BIG - 500)
    assert per_id < 40, sizes


# --------------------------------------------------------------------------------------------
# In the browser


def expect(locator: Locator) -> Any:
    """Playwright's expect, imported by the browser tests only (the `page` fixture skips them
    when Chromium or playwright is missing), so the unit tests above run without them."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def big_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lazy report of a 2,000-compile-id log (built once for this file's browser tests)."""
    if not CHROMIUM.exists():
        pytest.skip(f"headless Chromium not found at {CHROMIUM}")
    work = tmp_path_factory.mktemp("big")
    log = write_synthetic_log(work / "big.log", BIG, recompiles=RECOMPILES, call_sites=3)
    return build_report(log, work / "out")


def entry_of(page: Page, compile_id: str) -> Locator:
    return page.locator(f'#tlp-compile_directory details.tlp-compile[id="{compile_id}"]')


def assert_shown_with_files(page: Page, compile_id: str) -> None:
    """The entry is in the page, open, with its three files listed."""
    details = entry_of(page, compile_id)
    expect(details).to_have_attribute("open", "")
    expect(details.locator("ul.tlp-artifacts > li")).to_have_count(3)
    expect(details.locator(".tlp-cid")).to_have_text(compile_id)


def assert_clean(watch: PageWatch) -> None:
    assert watch.non_file_requests() == []
    assert watch.console_errors == []
    assert watch.page_errors == []
    assert watch.dialogs == []


@pytest.mark.browser
def test_the_index_shows_one_page_and_summaries_of_the_rest(page: Page, big_report: Path) -> None:
    watch = PageWatch().attach(page)
    page.goto(big_report.as_uri())
    ids = expected_display_ids(BIG, RECOMPILES)
    size = page_size(BIG)
    entries = page.locator("#tlp-compile_directory details.tlp-compile")
    assert entries.evaluate_all("ds => ds.map(d => d.id)") == ids[:size]
    pages = page.locator("#tlp-compile_directory details.tlp-compile-page")
    expect(pages).to_have_count(math.ceil(BIG / size) - 1)
    expect(pages.first.locator("summary")).to_contain_text(f"{ids[size]} to {ids[2 * size - 1]}")
    expect(pages.first.locator("summary")).to_contain_text(f"{size} compile ids")
    assert page.locator('script[src*="/page-"]').count() == 0  # nothing loaded before it is asked for
    assert_clean(watch)


@pytest.mark.browser
def test_every_compile_id_is_reachable_by_opening_the_pages(page: Page, big_report: Path) -> None:
    watch = PageWatch().attach(page)
    page.goto(big_report.as_uri())
    pages = page.locator("#tlp-compile_directory details.tlp-compile-page")
    for n in range(pages.count()):
        pages.nth(n).locator(":scope > summary").click()
        expect(pages.nth(n)).to_have_attribute("data-tlp-state", "loaded")
    entries = page.locator("#tlp-compile_directory details.tlp-compile")
    assert entries.evaluate_all("ds => ds.map(d => d.id)") == expected_display_ids(BIG, RECOMPILES)
    last = entry_of(page, expected_display_ids(BIG, RECOMPILES)[-1])
    last.locator("summary").click()
    expect(last.locator("ul.tlp-artifacts > li")).to_have_count(3)
    assert_clean(watch)


def directory_requests(watch: PageWatch) -> list[str]:
    """The compile directory's scripts the page asked for, by name (files-3.js, page-2.js, ...)."""
    return [url.rpartition("/")[2] for url in watch.requests if "/data/compile_directory/" in url]


def open_entry(page: Page, compile_id: str) -> None:
    details = entry_of(page, compile_id)
    details.locator(":scope > summary").click()
    expect(details.locator("ul.tlp-artifacts > li")).to_have_count(3)
    expect(details).to_have_attribute("data-tlp-state", "loaded")


@pytest.mark.browser
def test_entries_load_their_files_script_once_on_every_page(page: Page, big_report: Path) -> None:
    """The file lists of consecutive entries share one script: the first entry opened loads it,
    its neighbours (on the first page or a later one) then open without a request."""
    watch = PageWatch().attach(page)
    page.goto(big_report.as_uri())
    ids = expected_display_ids(BIG, RECOMPILES)
    size = page_size(BIG)
    for compile_id in ids[:3]:
        open_entry(page, compile_id)
    assert directory_requests(watch) == ["files-0.js"]
    later = page.locator("#tlp-compile_directory details.tlp-compile-page").nth(2)
    later.locator(":scope > summary").click()
    expect(later).to_have_attribute("data-tlp-state", "loaded")
    first_of_page = 3 * size
    src = entry_of(page, ids[first_of_page]).get_attribute("data-tlp-src")
    assert src and src.startswith("data/compile_directory/files-") and src != "data/compile_directory/files-0.js"
    for compile_id in ids[first_of_page:first_of_page + 3]:
        open_entry(page, compile_id)
    assert directory_requests(watch) == ["files-0.js", "page-4.js", src.rpartition("/")[2]]
    assert_clean(watch)


@pytest.mark.browser
def test_a_deep_link_to_a_later_page_loads_three_small_scripts(page: Page, big_report: Path) -> None:
    """#[f/c] of an entry on a later page: the page index, that page and its files' script, once each."""
    watch = PageWatch().attach(page)
    ids = expected_display_ids(BIG, RECOMPILES)
    target = ids[BIG // 2 + 1]
    page.goto(f"{big_report.as_uri()}#{target}")
    assert_shown_with_files(page, target)
    src = entry_of(page, target).get_attribute("data-tlp-src")
    assert src is not None
    page_number = (BIG // 2 + 1) // page_size(BIG) + 1
    assert directory_requests(watch) == ["page-index.js", f"page-{page_number}.js", src.rpartition("/")[2]]
    neighbours = page.locator("#tlp-compile_directory details.tlp-compile").evaluate_all(
        "(ds, [src, id]) => ds.filter(d => d.dataset.tlpSrc === src && d.id !== id).map(d => d.id)", [src, target])
    assert neighbours  # ~80 entries share a script here
    open_entry(page, neighbours[-1])
    assert len(directory_requests(watch)) == 3
    assert_clean(watch)


# In-page: follow the hash link of each id in turn; return the ids not shown open within 5 s.
FOLLOW_LINKS = """async ids => {
  const missed = [];
  for (const id of ids) {
    location.hash = "#" + id;
    const started = performance.now();
    let shown = false;
    while (performance.now() - started < 5000) {
      const d = document.getElementById(id);
      if (d && d.open && d.closest("#tlp-compile_directory")) { shown = true; break; }
      await new Promise(resolve => setTimeout(resolve, 0));
    }
    if (!shown) missed.push(id);
  }
  return missed;
}"""


def linked_sample(ids: list[str]) -> list[str]:
    """The ids whose hash links the test follows: the first and last of every page, and one in
    37 in between (each link costs a layout of the page; opening the pages reaches every id)."""
    pages = paged(ids, page_size(len(ids)))
    edges = [i for page in pages for i in (page[0], page[-1])]
    return list(dict.fromkeys(edges + ids[::37]))


@pytest.mark.browser
def test_compile_ids_on_every_page_are_reachable_by_their_hash_link(page: Page, big_report: Path) -> None:
    """#[f/c] opens its entry, rendering its page first when needed; opened on load too."""
    watch = PageWatch().attach(page)
    ids = expected_display_ids(BIG, RECOMPILES)
    page.goto(big_report.as_uri())
    sample = linked_sample(ids)
    assert len(sample) > 2 * len(paged(ids, page_size(BIG)))
    assert page.evaluate(FOLLOW_LINKS, sample) == []
    for compile_id in (ids[page_size(BIG)], ids[BIG // 2], ids[-1]):  # first of a page, middle, last
        page.goto(f"{big_report.as_uri()}#{compile_id}")
        assert_shown_with_files(page, compile_id)
    assert_clean(watch)


@pytest.mark.browser
def test_a_stack_trie_link_opens_an_entry_on_a_later_page(page: Page, big_report: Path) -> None:
    watch = PageWatch().attach(page)
    page.goto(big_report.as_uri())
    later = set(expected_display_ids(BIG, RECOMPILES)[page_size(BIG):])
    links = page.locator("#tlp-stack_trie a.tlp-cid")
    targets = [h[1:] for h in links.evaluate_all("as => as.map(a => a.getAttribute('href'))") if h[1:] in later]
    assert targets
    page.locator(f'#tlp-stack_trie a.tlp-cid[href="#{targets[0]}"]').click()
    assert_shown_with_files(page, targets[0])
    assert_clean(watch)


@pytest.mark.browser
def test_the_go_to_box_finds_an_entry_or_says_it_is_not_there(page: Page, big_report: Path) -> None:
    watch = PageWatch().attach(page)
    page.goto(big_report.as_uri())
    box = page.locator("form.tlp-goto input")
    last = expected_display_ids(BIG, RECOMPILES)[-1]
    box.fill(last.strip("[]"))
    box.press("Enter")
    assert_shown_with_files(page, last)
    assert page.evaluate("decodeURIComponent(location.hash)") == f"#{last}"
    box.fill("[12345/9]")
    page.locator("form.tlp-goto button").click()
    expect(page.locator(".tlp-goto-status")).to_have_text("No compile id [12345/9] in this report.")
    assert_clean(watch)


def click_every_more_button(page: Page) -> None:
    """Click each trie button, and those the frames it brings hold, until none is left."""
    loading = page.locator("#tlp-stack_trie button.tlp-more[disabled]")
    waiting = page.locator("#tlp-stack_trie button.tlp-more:not([disabled])")
    while True:
        expect(loading).to_have_count(0)  # what is loading may bring buttons of its own
        if not waiting.count():
            break
        waiting.first.click()
    expect(page.locator("#tlp-stack_trie button.tlp-more")).to_have_count(0)


@pytest.mark.browser
def test_more_links_of_a_trie_frame_load_on_demand(page: Page, big_report: Path) -> None:
    """Each frame shows its first links; its button adds the rest, and every compile id ends up
    linked exactly once from the trie."""
    watch = PageWatch().attach(page)
    page.goto(big_report.as_uri())
    trie = page.locator("#tlp-stack_trie")
    buttons = trie.locator("button.tlp-more")
    assert buttons.count() > 0
    expect(buttons.first).to_contain_text("more compile ids")
    details = buttons.first.locator("xpath=ancestor::details[1]")
    buttons.first.click()
    assert details.evaluate("d => d.open")  # the button did not fold its frame
    click_every_more_button(page)
    hrefs = trie.locator("a.tlp-cid").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert sorted(hrefs) == sorted(f"#{i}" for i in expected_display_ids(BIG, RECOMPILES))
    assert_clean(watch)


# --------------------------------------------------------------------------------------------
# Twins: the lazy renderers show what the templates show

# Whitespace between list items and entries is markup layout, dropped; between links it is kept.
DOM_OF = dom_of_js(("UL", "OL", "LI", "DETAILS"))

TWIN_ENTRIES: list[dict[str, Any]] = [
    {"id": "[0/0]", "status": "ok", "count": "3 files", "cache_status": "hit", "module": "compile_directory",
     "shard": "-_0_0_0", "src": "data/compile_directory/files-0.js", "items": []},
    {"id": "[0/1]", "status": "error", "count": "1 file", "cache_status": None, "module": None, "shard": None,
     "src": None, "items": [{"url": "-_0_1_0/a <b>.txt", "name": "<b>not bold</b>", "number": 4, "suffix": "❌",
                             "readable_url": None, "external": False}]},
    {"id": "[!0/1/0]", "status": "missing", "count": "0 files", "cache_status": "miss", "module": None,
     "shard": None, "src": None, "items": []},
    {"id": "(unknown)", "status": "break", "count": "2 files", "cache_status": "bypass",
     "module": "compile_directory", "shard": "unknown", "src": "data/compile_directory/files-1.js", "items": []},
]


@pytest.mark.browser
def test_a_page_rendered_by_modules_js_is_the_template_s_list(page: Page, tmp_path: Path) -> None:
    from tlparse_tasks.modules.compile_directory import DirectoryView

    env = jinja_env(tuple(str(d) for d in template_dirs()))
    html = env.get_template("compile_directory.html").render(view=DirectoryView(TWIN_ENTRIES, [], 4))
    jinja = tmp_path / "jinja.html"
    jinja.write_text(f'<!DOCTYPE html><meta charset="utf-8">{html}', encoding="utf-8")
    page.goto(jinja.as_uri())
    expected = page.locator("ul.tlp-compile-directory").evaluate(DOM_OF)
    page.goto(script_page(tmp_path, "ul").as_uri())
    page.evaluate("es => TLP.renderers['compile-page'](es, document.getElementById('target'))", TWIN_ENTRIES)
    rendered = page.locator("#target").evaluate(DOM_OF)
    assert rendered[2] == expected[2]  # the same entries (the lists' own attributes differ)
    assert page.locator("b, script:not([src])").count() == 0


@pytest.mark.browser
def test_a_lazy_report_shows_what_the_eager_one_shows(page: Page, tmp_path: Path) -> None:
    """Opened page by page and frame by frame, the lazy index shows the same directory entries
    and the same stack trie as the --eager one (where everything is in the page)."""
    # 75 frames called from 60 lines (more than CHILDREN_SHOWN), 6 compile ids each (more than LINKS_SHOWN)
    log = write_synthetic_log(tmp_path / "twins.log", 450, recompiles=6, call_sites=60)
    lazy = build_report(log, tmp_path / "lazy")
    eager = build_report(log, tmp_path / "eager", "--eager")
    page.goto(eager.as_uri())
    trie = page.locator("#tlp-stack_trie .tlp-stack-trie").evaluate(DOM_OF)
    trie_text = page.locator("#tlp-stack_trie .tlp-stack-trie").inner_text()
    summaries = page.locator("#tlp-compile_directory details.tlp-compile > summary").evaluate_all(
        "ss => ss.map(s => s.outerHTML)")
    page.goto(lazy.as_uri())
    renderers = page.locator("#tlp-stack_trie button.tlp-more").evaluate_all("bs => bs.map(b => b.dataset.tlpRender)")
    assert {"trie-links", "trie-rows"} <= set(renderers)
    click_every_more_button(page)
    pages = page.locator("details.tlp-compile-page")
    assert pages.count() > 0
    for n in range(pages.count()):
        pages.nth(n).locator(":scope > summary").click()
        expect(pages.nth(n)).to_have_attribute("data-tlp-state", "loaded")
    assert page.locator("#tlp-stack_trie .tlp-stack-trie").evaluate(DOM_OF) == trie
    assert page.locator("#tlp-stack_trie .tlp-stack-trie").inner_text() == trie_text
    lazy_summaries = page.locator("#tlp-compile_directory details.tlp-compile > summary").evaluate_all(
        "ss => ss.map(s => s.outerHTML)")
    assert lazy_summaries == summaries


@pytest.mark.browser
def test_frames_and_links_rendered_later_stay_text(page: Page, tmp_path: Path) -> None:
    """A file name that is markup, in frames and links that modules.js renders from shards, is
    shown as text: no element, no script, no dialog."""
    frame_ids = 70  # called from 60 lines: more callees than CHILDREN_SHOWN, 6 compile ids each
    log = write_synthetic_log(tmp_path / "hostile.log", frame_ids * 6, recompiles=6, call_sites=60,
                              user_file=HOSTILE_FRAME_FILE)
    index = build_report(log, tmp_path / "out")
    watch = PageWatch().attach(page)
    page.goto(index.as_uri())
    click_every_more_button(page)
    frames = page.locator("#tlp-stack_trie .tlp-frame", has_text=HOSTILE_FRAME_FILE)
    assert frames.count() == frame_ids  # each frame id's innermost frame, shown at once or later
    assert page.locator("img, svg, iframe, object, embed").count() == 0
    page.wait_for_timeout(200)  # give any injected handler a chance to fire
    assert_clean(watch)


@pytest.mark.browser
def test_legacy_diff_reads_the_windowed_index_as_chromium_shows_it(page: Page, tmp_path: Path) -> None:
    """legacy-diff's default mode reads the index with every page and button opened
    (devtools/lazy_view.py); it must see the same words and links as the browser, deferred
    frames and links included."""
    from tests.test_legacy_diff import assert_reader_matches_browser

    log = write_synthetic_log(tmp_path / "windowed.log", 420, recompiles=6, call_sites=60)
    index = build_report(log, tmp_path / "out")
    html = index.read_text(encoding="utf-8")
    assert 'data-tlp-render="trie-rows"' in html and 'data-tlp-render="trie-links"' in html
    assert 'data-tlp-render="compile-page"' in html
    assert assert_reader_matches_browser(page, index, index.parent) > 0
