"""Report pages in headless Chromium: highlighted code, and stack frames that jump to source lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import PageWatch, build_report
from tests.conftest import LEGACY_TESTS, corpus_copy
from tests.logs import cid, entry, write

pytestmark = pytest.mark.browser


def test_inductor_output_code_page_is_highlighted(page: Any, tmp_path: Path) -> None:
    index = build_report(corpus_copy(LEGACY_TESTS / "simple.log", tmp_path), tmp_path / "out")
    watch = PageWatch().attach(page)
    page.goto(index.as_uri())
    page.locator("details#\\[0\\/0\\] > summary").click()
    link = page.locator(".tlp-compile-directory a", has_text="inductor_output_code_")
    link.click()
    page.wait_for_url("**/inductor_output_code_*_5.html")
    keyword = page.locator("pre.highlight span.k").first  # a Python keyword token
    assert keyword.inner_text() in ("as", "from", "import", "def", "class", "return")
    colour = keyword.evaluate("e => getComputedStyle(e).color")
    plain = page.locator("pre.highlight span.n").first.evaluate("e => getComputedStyle(e).color")
    assert colour != plain  # keywords are coloured: the Pygments stylesheet applied
    assert page.locator(".tlp-line").count() > 100
    assert "import torch" in page.locator("pre.highlight").inner_text()
    assert not watch.non_file_requests() and not watch.page_errors


def test_a_stack_frame_opens_its_dump_file_line(page: Any, tmp_path: Path) -> None:
    source = "\n".join(f"line_{n} = {n}" for n in range(1, 80))
    log = write(tmp_path / "t.log", "".join([
        entry({"str": ["<eval_with_key>.3", 0]}),
        entry({"dynamo_start": {"stack": [{"line": 42, "name": "forward", "filename": 0}]}, **cid()}),
        entry({"dump_file": {"name": "<eval_with_key>.3"}, **cid()}, source),
    ]))
    index = build_report(log, tmp_path / "out")
    page.goto(index.as_uri())
    page.locator(".tlp-stack-trie a", has_text="<eval_with_key>.3:42").click()
    page.wait_for_url("**/dump_file/eval_with_key_3.html#L42")
    target = page.locator(":target")
    assert target.get_attribute("id") == "L42"
    assert target.inner_text().strip() == "line_42 = 42"
    assert target.evaluate("e => getComputedStyle(e).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")
    assert target.evaluate("e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }")


def test_a_compilation_metrics_page_shows_its_stack(page: Any, tmp_path: Path) -> None:
    index = build_report(corpus_copy(LEGACY_TESTS / "comp_metrics.log", tmp_path), tmp_path / "out")
    watch = PageWatch().attach(page)
    page.goto(index.as_uri())
    page.locator("details#\\[0\\/0_1\\] > summary").click()
    page.locator(".tlp-compile-directory a", has_text="compilation_metrics_2.html").click()
    page.wait_for_url("**/-_0_0_1/compilation_metrics_2.html")
    assert "Compilation Info for [0/0_1]" in page.locator("h1").inner_text()
    stack = page.locator("h2:text-is('Stack') + details")
    summary = stack.locator("summary")
    assert "eval_frame.py:410 in _fn (18 frames)" in summary.inner_text()  # the innermost frame
    frames = stack.locator("ol.tlp-frames > li")
    frame = frames.filter(has_text="test_misc.py:9559 in test_graph_break_compilation_metrics")
    assert not frame.is_visible()  # closed until the reader opens it
    summary.click()
    assert frame.is_visible()
    assert frames.count() == 18
    assert "eval_frame.py:410 in _fn" in frames.last.inner_text()
    page.locator("a", has_text="Report index").click()
    page.wait_for_url("**/index.html")
    assert not watch.non_file_requests() and not watch.page_errors


def test_pages_in_subdirectories_get_the_one_stylesheet(page: Any, tmp_path: Path) -> None:
    """Pages carry no <style> of their own: a metrics page one directory down and the
    failures page at the root are styled by style.css, reached through their root."""
    index = build_report(corpus_copy(LEGACY_TESTS / "comp_metrics.log", tmp_path), tmp_path / "out")
    watch = PageWatch().attach(page)
    page.goto((index.parent / "-_0_0_1" / "compilation_metrics_2.html").as_uri())
    assert page.locator("style").count() == 0
    badge = page.locator("h1 .cm-status")
    assert badge.inner_text() == "restarted"
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 248, 197)"  # status-break
    summary = page.locator("details.tlp-stack > summary").first
    assert summary.evaluate("e => getComputedStyle(e).cursor") == "pointer"
    page.goto((index.parent / "failures_and_restarts.html").as_uri())
    assert page.locator("style").count() == 0
    assert page.locator("table.fr-table").evaluate("e => getComputedStyle(e).width") == page.locator(
        "body").evaluate("e => getComputedStyle(e).width")  # .fr-table { width: 100% }
    assert any(url.endswith("/out/style.css") for url in watch.requests)
    assert not watch.non_file_requests() and not watch.page_errors
