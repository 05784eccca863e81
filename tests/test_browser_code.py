"""The biggest code page of the corpus in headless Chromium, as a reader meets it.

The default build writes it as plain text and `highlight.js` colours it in the browser; `--eager`
colours it with Pygments at build time. Either way one source line is one line on screen,
copying gives the source, `#L<n>` anchors land on their line, and without JavaScript the code is
still there to read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import PageWatch, build_report
from tests.conftest import TORCH_213, corpus_copy

pytestmark = pytest.mark.browser

LARGE_LOG = TORCH_213 / "11_large" / "dedicated_log_torch_trace_ubbygp7s.log.xz"
LAST_LINE_HIGHLIGHTED = """() => {
    const lines = document.querySelectorAll('pre.tlp-code .tlp-line');
    return lines.length > 0 && lines[lines.length - 1].querySelector('span[class]') !== null;
}"""
DONE = "document.querySelector('pre.tlp-code').dataset.highlight === 'done'"
SELECT_CODE = """() => {
    const range = document.createRange();
    range.selectNodeContents(document.querySelector('pre.tlp-code'));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    return selection.toString();
}"""
LINE_GEOMETRY = """() => {
    const pre = document.querySelector('pre.tlp-code');
    const lines = pre.querySelectorAll('.tlp-line');
    const tops = Array.from(lines, (line) => line.getBoundingClientRect().top);
    const steps = tops.slice(1).map((top, i) => top - tops[i]);
    const style = getComputedStyle(pre);
    const content = pre.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    return {lineHeight: parseFloat(style.lineHeight), steps: steps, content: content, count: lines.length};
}"""
IN_VIEW = "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
LINE_HTML = "() => Array.from(document.querySelectorAll('pre.tlp-code .tlp-line'), (line) => line.innerHTML)"


@dataclass
class CodePage:
    """The biggest inductor output code page of 11_large, built lazily and eagerly."""

    lazy: Path
    eager: Path
    payload: str


def biggest_output_code(out: Path) -> tuple[str, str]:
    """(url, payload) of the largest inductor_output_code record in the intermediate store."""
    best: tuple[str, str] = ("", "")
    with open(out / "intermediate" / "codegen.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            payload = record.get("payload") or ""
            if record["type"] == "inductor_output_code" and len(payload) > len(best[1]):
                best = (record["outputs"][0]["url"], payload)
    return best


@pytest.fixture(scope="module")
def code_page(tmp_path_factory: pytest.TempPathFactory) -> CodePage:
    tmp = tmp_path_factory.mktemp("large")
    log = corpus_copy(LARGE_LOG, tmp)
    lazy = build_report(log, tmp / "lazy", "--modules", "compile_artifacts").parent
    eager = build_report(log, tmp / "eager", "--eager", "--modules", "compile_artifacts").parent
    url, payload = biggest_output_code(lazy)
    assert url.endswith(".html") and payload.count("\n") > 1000, url
    return CodePage(lazy / url, eager / url, payload)


@pytest.fixture
def no_js_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_the_biggest_code_page_is_highlighted_to_its_last_line(page: Any, code_page: CodePage) -> None:
    watch = PageWatch().attach(page)
    start = time.perf_counter()
    page.goto(code_page.lazy.as_uri(), wait_until="commit")
    page.wait_for_function(LAST_LINE_HIGHLIGHTED, polling=10, timeout=30_000)
    elapsed = time.perf_counter() - start
    lines = code_page.payload.count("\n")
    print(f"\nlast of {lines} lines highlighted {elapsed * 1000:.0f} ms after opening {code_page.lazy.name}")
    page.wait_for_function(DONE, timeout=30_000)
    keyword = page.locator("pre.tlp-code span.k").first
    name = page.locator("pre.tlp-code span.n").first
    assert keyword.evaluate("e => getComputedStyle(e).color") != name.evaluate("e => getComputedStyle(e).color")
    for token in ("kn", "nf", "s1", "mi", "o", "p"):  # Pygments' classes, coloured by pygments.css
        assert page.locator(f"pre.tlp-code span.{token}").count() > 0, token
    assert not watch.non_file_requests() and not watch.page_errors and not watch.console_errors


def test_one_source_line_is_one_line_on_screen(page: Any, code_page: CodePage) -> None:
    page.goto(code_page.lazy.as_uri())
    page.wait_for_function(DONE, timeout=30_000)
    geometry = page.evaluate(LINE_GEOMETRY)
    line_height = geometry["lineHeight"]
    assert geometry["count"] == code_page.payload.count("\n")
    assert all(abs(step - line_height) < 0.5 for step in geometry["steps"]), "a line is not one line high"
    assert abs(geometry["content"] - geometry["count"] * line_height) < line_height


def test_copying_the_code_gives_the_payload(page: Any, code_page: CodePage) -> None:
    page.goto(code_page.lazy.as_uri())
    page.wait_for_function(DONE, timeout=30_000)
    copied = page.evaluate(SELECT_CODE)
    # Browsers leave a selection's final line break out; everything before it is the source.
    assert copied == code_page.payload.removesuffix("\n")  # no line numbers, no doubled newlines


def test_without_javascript_the_code_is_plain_readable_text(no_js_page: Any, code_page: CodePage) -> None:
    no_js_page.goto(code_page.lazy.as_uri())
    code = no_js_page.locator("pre.tlp-code")
    assert code.text_content() == code_page.payload
    assert code.get_attribute("data-highlight") == "pending"  # nothing ran
    assert no_js_page.locator("pre.tlp-code .tlp-line span").count() == 0
    first = code_page.payload.split("\n", 1)[0]
    assert no_js_page.locator("#L1").inner_text() == first
    assert no_js_page.locator("#L1").is_visible()


def test_a_line_anchor_shows_and_marks_its_line(page: Any, code_page: CodePage) -> None:
    number = code_page.payload.count("\n") * 2 // 3
    page.goto(code_page.lazy.as_uri() + f"#L{number}")
    target = page.locator(":target")
    assert target.get_attribute("id") == f"L{number}"
    assert target.inner_text() == code_page.payload.split("\n")[number - 1]
    assert target.evaluate(IN_VIEW)
    page.wait_for_function(DONE, timeout=30_000)
    target = page.locator(":target")  # still the target once the code around it is coloured
    assert target.get_attribute("id") == f"L{number}"
    assert target.evaluate("e => getComputedStyle(e).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")


def test_eager_pages_carry_pygments_classes_and_look_like_lazy_ones(page: Any, no_js_page: Any,
                                                                    code_page: CodePage) -> None:
    no_js_page.goto(code_page.eager.as_uri())
    assert no_js_page.locator("script").count() == 0
    assert no_js_page.locator("pre.tlp-code span.k").count() > 0  # coloured without JavaScript
    eager_lines = no_js_page.evaluate(LINE_HTML)
    page.goto(code_page.lazy.as_uri())
    page.wait_for_function(DONE, timeout=30_000)
    lazy_lines = page.evaluate(LINE_HTML)
    assert len(lazy_lines) == len(eager_lines)
    differing = [i + 1 for i, (a, b) in enumerate(zip(lazy_lines, eager_lines, strict=True)) if a != b]
    assert not differing, f"lines {differing[:10]} differ between the lazy and the eager page"
