"""The file list has two renderers: the Jinja macro (artifact_list.html) for static pages and
modules.js's `artifacts` renderer for lazily loaded lists. Both must show a reader the same
thing: the same elements, text, link targets and classes. Each test renders the same items
through both, in headless Chromium, and compares the resulting DOM."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import CHROMIUM, HOSTILE_ARTIFACT, PageWatch, build_report, dom_of_js, hostile_log
from tests.conftest import LEGACY_TESTS, corpus_copy
from tests.logs import write
from tlparse_tasks.module_api import listed_file
from tlparse_tasks.render import jinja_env
from tlparse_tasks.resources import template_dirs

if not CHROMIUM.exists():
    pytest.skip(f"headless Chromium not found at {CHROMIUM}", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser

ITEMS = [
    listed_file("-_0_0_0/dynamo_output_graph_0.txt", "-_0_0_0/dynamo_output_graph_0.txt", 0),
    listed_file(None, "a file with no page", 1),
    listed_file("", "an empty url", None),
    listed_file("-_0_0_0/inductor_output_code_x_2.html", "inductor_output_code_x_2.html", 2,
                readable_url="-_0_0_0/inductor_output_code_x_2.txt"),
    listed_file("-_0_0_0/fx_graph_cache_miss_3.json", "fx_graph_cache_miss_3.json", 3, "❌"),
    listed_file("https://example.invalid/docs?a=1&b=2", "a link elsewhere", 4, external=True),
    listed_file("javascript:alert(1)", "<script>alert(2)</script>", 5, external=True),
    listed_file(" JaVaScRiPt:alert(3)", "unsafe, with spaces", 6, external=True),
    listed_file("-_0_0_0/x.txt", "unsafe readable url", 7, readable_url="data:text/html,<b>x</b>"),
    listed_file(f"-_0_0_0/{HOSTILE_ARTIFACT}_8.txt", HOSTILE_ARTIFACT, 8, "✅"),
    listed_file("-_0_0_0/a#b%20c%2F..%.txt", "name # with % and %20 and #frag", 9),
    listed_file("dump_file/eval_with_key_3.html#L42", 'quote " and \' and &amp;', None, "❓"),
]

DOM_OF = dom_of_js()


def jinja_list(items: list[dict[str, Any]]) -> str:
    env = jinja_env(tuple(str(d) for d in template_dirs()))
    template = env.from_string('{% from "artifact_list.html" import artifact_list %}{{ artifact_list(items) }}')
    return template.render(items=items)


def static_page(directory: Path, items: list[dict[str, Any]]) -> Path:
    """A page holding the Jinja-rendered list (no script at all)."""
    path = directory / "jinja.html"
    path.write_text(f'<!DOCTYPE html><meta charset="utf-8"><div id="target">{jinja_list(items)}</div>',
                    encoding="utf-8")
    return path


def script_page(directory: Path, target: str = "div") -> Path:
    """A page that loads the shipped modules.js and nothing else, and a `#target` element."""
    static = next(Path(d) / "static" / "modules.js" for d in template_dirs()
                  if (Path(d) / "static" / "modules.js").is_file())
    shutil.copyfile(static, directory / "modules.js")
    path = directory / "script.html"
    path.write_text('<!DOCTYPE html><meta charset="utf-8"><script src="modules.js"></script>'
                    f'<{target} id="target"></{target}>', encoding="utf-8")
    return path


def dom(locator: Locator) -> Any:
    return locator.evaluate(DOM_OF)


def both_renderings(page: Page, tmp_path: Path, items: list[dict[str, Any]]) -> tuple[Any, Any, str, str]:
    """(Jinja DOM, JS DOM, Jinja text, JS text) of the same items."""
    page.goto(static_page(tmp_path, items).as_uri())
    jinja_dom, jinja_text = dom(page.locator("#target")), page.locator("#target").inner_text()
    page.goto(script_page(tmp_path).as_uri())
    page.evaluate("items => TLP.renderers.artifacts(items, document.getElementById('target'))", items)
    return jinja_dom, dom(page.locator("#target")), jinja_text, page.locator("#target").inner_text()


def test_the_macro_and_the_renderer_build_the_same_list(page: Page, tmp_path: Path) -> None:
    watch = PageWatch().attach(page)
    jinja_dom, js_dom, jinja_text, js_text = both_renderings(page, tmp_path, ITEMS)
    assert js_dom == jinja_dom
    assert js_text == jinja_text
    assert watch.page_errors == [] and watch.dialogs == [] and watch.non_file_requests() == []


@pytest.mark.parametrize("index", range(len(ITEMS)))
def test_each_item_alone_is_the_same(page: Page, tmp_path: Path, index: int) -> None:
    """One item at a time, so a difference names the case that differs."""
    jinja_dom, js_dom, _, _ = both_renderings(page, tmp_path, [ITEMS[index]])
    assert js_dom == jinja_dom


def test_what_the_twins_show(page: Page, tmp_path: Path) -> None:
    """The agreed rendering itself, seen through the script twin: text stays text, only safe
    URLs are links, an item without a URL is plain text (not an unsafe link)."""
    page.goto(script_page(tmp_path).as_uri())
    page.evaluate("items => TLP.renderers.artifacts(items, document.getElementById('target'))", ITEMS)
    items = page.locator("#target > ul.tlp-artifacts > li")
    expect(items).to_have_count(len(ITEMS))
    expect(items.nth(0)).to_have_text("-_0_0_0/dynamo_output_graph_0.txt (0)")
    expect(items.nth(1)).to_have_text("a file with no page (1)")
    assert items.nth(1).locator("a, span.tlp-unsafe-link").count() == 0
    expect(items.nth(2)).to_have_text("an empty url")
    expect(items.nth(3).locator("a").nth(1)).to_have_attribute("href", "-_0_0_0/inductor_output_code_x_2.txt")
    expect(items.nth(3)).to_have_text("inductor_output_code_x_2.html (readable_html) (2)")
    expect(items.nth(4).locator(".tlp-suffix")).to_have_text("❌")
    expect(items.nth(5).locator("a")).to_have_attribute("rel", "noopener noreferrer")
    for n in (6, 7):
        expect(items.nth(n).locator("a")).to_have_count(0)
        expect(items.nth(n).locator(".tlp-unsafe-link")).to_have_count(1)
    expect(items.nth(6).locator(".tlp-unsafe-link")).to_have_text("<script>alert(2)</script>")
    expect(items.nth(8).locator(".tlp-unsafe-link")).to_have_text("readable_html")
    expect(items.nth(9).locator("a")).to_have_text(HOSTILE_ARTIFACT)
    # listed_file encodes a report path once; both twins keep the href as they are given it
    expect(items.nth(10).locator("a")).to_have_attribute("href", "-_0_0_0/a%23b%2520c%252F..%25.txt")
    assert page.locator("img, script:not([src])").count() == 0


def open_entries(page: Page) -> None:
    """Open every compile-directory entry and lazy block, and wait until each has loaded."""
    containers = page.locator("details[data-tlp-src]")
    for n in range(containers.count()):
        details = containers.nth(n)
        if not details.evaluate("d => d.open"):
            details.locator(":scope > summary").click()
        expect(details).to_have_attribute("data-tlp-state", "loaded")


def file_lists(page: Page) -> dict[str, Any]:
    """Every file list of the index, by the block or compile id that holds it."""
    lists = page.locator("ul.tlp-artifacts")
    result = {}
    for n in range(lists.count()):
        ul = lists.nth(n)
        owner = ul.evaluate("u => (u.closest('details.tlp-compile') || {}).id || "
                            "u.closest('[data-tlp-owner]').dataset.tlpOwner")
        result[owner] = dom(ul)
    return result


@pytest.mark.parametrize("log_name", ["simple.log", "comp_metrics.log", "hostile"])
def test_a_lazy_report_shows_the_lists_of_the_eager_one(page: Page, tmp_path: Path, log_name: str) -> None:
    """The same log built lazily (lists from shards, by modules.js) and with --eager (lists in
    the page, by the macro): once every entry is opened, every file list is the same."""
    if log_name == "hostile":
        log = write(tmp_path / "hostile.log", hostile_log())
    else:
        log = corpus_copy(LEGACY_TESTS / log_name, tmp_path)
    lazy = build_report(log, tmp_path / "lazy")
    eager = build_report(log, tmp_path / "eager", "--eager")
    page.goto(eager.as_uri())
    expected = file_lists(page)
    page.goto(lazy.as_uri())
    open_entries(page)
    assert len(expected) > 1
    assert file_lists(page) == expected
