"""The report on a phone, in the dark and with copy buttons (issue 9, smaller fixes), in headless
Chromium over file://:

- at a 375 px viewport no page scrolls sideways: the index and one page of each kind (metrics,
  code, guards, compile times, graph breaks, symbolic shapes, provenance), with every <details>
  open (code blocks and wide tables may scroll inside their own box, the page may not);
- with a dark colour scheme the pages are dark and code keywords stay readable;
- a copy button copies a code page's source and a guard page's guards exactly;
- "Other log entries" links working pages that show what each entry logged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest

from tests.browser_support import PageWatch, build_report
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.logs import cid, entry, write
from tlparse_tasks.modules.compile_artifacts import ENTRIES_PER_PAGE

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

from playwright.sync_api import Browser, Page, ViewportSize, expect

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 375, "height": 740}
LONG_VALUE = "a_symbol_name_without_any_space_" * 12
LONG_PAYLOAD = "x" * 5000


def many_compiles_log() -> str:
    """51 compiles (more than the index's compile-times rows, so compile_times.html is written),
    and entries of unknown types with long values, a small payload and a large one."""
    lines = [entry({"str": ["/home/user/a/very/long/path/to/some/project/directory/model_definition.py", 0]})]
    for frame in range(51):
        stack = [{"line": 10 + frame, "name": f"forward_{frame}", "filename": 0}]
        lines.append(entry({"dynamo_start": {"stack": stack}, **cid(frame)}))
        lines.append(entry({"compilation_metrics": {
            "entire_frame_compile_time_s": 1.0 + frame / 10, "backend_compile_time_s": 0.5,
            "inductor_compile_time_s": 0.3, "code_gen_time_s": 0.1}, **cid(frame)}))
    lines.append(entry({"my_new_event": {"name": LONG_VALUE, "sizes": {"x": [1, 2, 3]},
                                         "user_stack": [{"line": 7, "name": "f", "filename": 0, "loc": "y = f(x)"}]},
                        **cid(3)}, "small payload\nsecond line"))
    lines.append(entry({"my_new_event": {"name": "big"}, **cid(4)}, LONG_PAYLOAD))
    lines.append(entry({"other_event": {"count": 42}, **cid(5)}))
    return "".join(lines)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Report folders: 03_graph_breaks, 02_training, comp_metrics (guard pages), provenance (-i),
    and the synthetic log (compile_times.html, other entries)."""
    root = tmp_path_factory.mktemp("polish")
    sources = {
        "breaks": (corpus_copy(TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log", root), ()),
        "training": (corpus_copy(next((TORCH_213 / "02_training").glob("*.log")), root), ()),
        "guards": (corpus_copy(LEGACY_TESTS / "comp_metrics.log", root), ()),
        "provenance": (corpus_copy(LEGACY_TESTS / "inductor_provenance_jit_log.txt", root), ("-i",)),
        "many": (write(root / "many.log", many_compiles_log()), ()),
    }
    return {name: build_report(log, root / name, *flags).parent for name, (log, flags) in sources.items()}


def one(out: Path, pattern: str) -> Path:
    found = sorted(out.glob(pattern))
    assert found, f"no {pattern} in {out}"
    return found[0]


def page_of_each_kind(reports: dict[str, Path]) -> dict[str, Path]:
    breaks = reports["breaks"]
    return {
        "index (graph breaks, recompiles, compile times)": breaks / "index.html",
        "index (training)": reports["training"] / "index.html",
        "index (other entries)": reports["many"] / "index.html",
        "other log entries": reports["many"] / "other_entries/0_1.html",
        "other log entries (create_symbol)": breaks / "other_entries/0_1.html",
        "metrics": one(reports["training"], "*/compilation_metrics_*.html"),
        "code": one(breaks, "*/inductor_output_code_*.html"),
        "guards": one(reports["guards"], "*/dynamo_guards_*.html"),
        "compile times": reports["many"] / "compile_times.html",
        "failures and graph breaks": breaks / "failures_and_restarts.html",
        "symbolic shapes": breaks / "symbolic_shapes.html",
        "symbolic shapes of a compile": one(breaks, "*/symbolic_shapes.html"),
        "provenance": one(reports["provenance"], "provenance_tracking_-_0_0_0.html"),
    }


def open_everything(page: Page) -> None:
    """Open every <details> (lazy ones load their shards) and wait until none is loading."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    page.wait_for_function("() => !document.querySelector('.tlp-loading')")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    page.wait_for_function("() => !document.querySelector('.tlp-loading')")


def test_no_page_scrolls_sideways_on_a_phone(browser: Browser, reports: dict[str, Path]) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    watch = PageWatch().attach(page)
    widths = {}
    for kind, path in page_of_each_kind(reports).items():
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        open_everything(page)
        widths[kind] = page.evaluate("document.documentElement.scrollWidth")
    context.close()
    assert {kind: w for kind, w in widths.items() if w > PHONE["width"]} == {}
    assert watch.page_errors == [] and watch.non_file_requests() == []


def luminance(rgb: str) -> float:
    """Relative luminance (WCAG) of a computed `rgb(r, g, b)` colour; a transparent one shows
    the white canvas behind it."""
    numbers = re.findall(r"[\d.]+", rgb)
    if len(numbers) == 4 and float(numbers[3]) == 0:
        return 1.0
    channels = [int(c) / 255 for c in numbers[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


COLOURS = """() => {
  const colour = (el, prop) => el ? getComputedStyle(el)[prop] : null;
  const code = document.querySelector('pre.tlp-code');
  const keyword = code && code.querySelector('.k, .kn');
  return {body: colour(document.body, 'backgroundColor'), text: colour(document.body, 'color'),
          code: colour(code, 'backgroundColor'), keyword: colour(keyword, 'color')};
}"""


Scheme = Literal["dark", "light"]


@pytest.mark.parametrize("scheme", ["dark", "light"])
@pytest.mark.parametrize("flags", [(), ("--eager",)], ids=["lazy", "eager"])
def test_the_theme_follows_the_system_and_code_stays_readable(browser: Browser, reports: dict[str, Path],
                                                              tmp_path: Path, scheme: Scheme,
                                                              flags: tuple[str, ...]) -> None:
    out = reports["breaks"]
    if flags:
        out = build_report(corpus_copy(TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log",
                                       tmp_path), tmp_path / "out", *flags).parent
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    page.goto((out / "index.html").as_uri())
    index = page.evaluate(COLOURS)
    page.goto(one(out, "*/inductor_output_code_*.html").as_uri())
    expect(page.locator("pre.tlp-code .k, pre.tlp-code .kn").first).to_be_attached()  # highlighted
    code = page.evaluate(COLOURS)
    context.close()
    dark = scheme == "dark"
    for colours in (index, code):
        assert (luminance(colours["body"]) < 0.05) is dark, colours
        assert contrast(colours["text"], colours["body"]) >= 7, colours
    assert (luminance(code["code"]) < 0.05) is dark, code
    assert contrast(code["keyword"], code["code"]) >= 3, code


def clipboard_page(browser: Browser) -> tuple[Any, Page]:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    return context, context.new_page()


def test_copy_button_copies_the_code_exactly(browser: Browser, reports: dict[str, Path]) -> None:
    context, page = clipboard_page(browser)
    watch = PageWatch().attach(page)
    path = one(reports["breaks"], "*/inductor_output_code_*.html")
    page.goto(path.as_uri())
    expect(page.locator("pre.tlp-code .k, pre.tlp-code .kn").first).to_be_attached()
    page.get_by_role("button", name="Copy code").click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    context.close()
    assert copied == page_source(reports["breaks"], path)
    assert "def call(args):" in copied or "def call(self, args):" in copied
    assert not re.match(r"\s*1\s", copied)  # line numbers are not copied
    assert watch.page_errors == []


def page_source(out: Path, page: Path) -> str:
    """The payload of the inductor_output_code record whose page is `page`."""
    url = page.relative_to(out).as_posix()
    for line in (out / "intermediate/codegen.jsonl").read_text().splitlines():
        record = orjson.loads(line)
        if any(o.get("url") == url for o in record.get("outputs", ())):
            return str(record["payload"])
    raise AssertionError(f"no record writes {url}")


def test_copy_button_copies_the_guards_shown(browser: Browser, reports: dict[str, Path]) -> None:
    context, page = clipboard_page(browser)
    page.goto(one(reports["guards"], "*/dynamo_guards_*.html").as_uri())
    codes = page.locator("#tlp-guards .tlp-guard-code").all_text_contents()
    assert len(codes) > 1
    button = page.get_by_role("button", name="Copy guards")
    button.click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "\n".join(codes)
    page.fill("#tlp-guard-filter", codes[1])  # the filter leaves fewer rows: only those are copied
    button.click()
    shown = [c for c in codes if codes[1].lower() in c.lower()]
    expect(page.locator("#tlp-guards tbody tr:not([hidden])")).to_have_count(len(shown))
    page.wait_for_function("text => navigator.clipboard.readText().then(t => t === text)", arg="\n".join(shown))
    context.close()


def test_without_the_clipboard_api_the_text_is_selected(browser: Browser, reports: dict[str, Path]) -> None:
    """Over file:// the clipboard may be refused: the fallback copies or selects, and says so."""
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script("""Object.defineProperty(navigator, 'clipboard', {value: {writeText: () =>
        Promise.reject(new Error('denied'))}}); document.execCommand = () => false;""")
    page.goto(one(reports["breaks"], "*/inductor_output_code_*.html").as_uri())
    page.get_by_role("button", name="Copy code").click()
    expect(page.get_by_role("status")).to_contain_text("Select and copy")
    selected = page.evaluate("window.getSelection().toString()")
    source = page.locator("pre.tlp-code").text_content()
    context.close()
    assert selected and selected.strip() == (source or "").strip()


def test_other_log_entries_show_their_data(page: Page, reports: dict[str, Path]) -> None:
    watch = PageWatch().attach(page)
    page.goto((reports["breaks"] / "index.html").as_uri())
    section = page.locator("#tlp-generic_entries")
    expect(section.locator(".tlp-unsafe-link")).to_have_count(0)
    expect(section.locator("li")).to_have_text("create_symbol (2 entries): show")
    section.get_by_role("link", name="show").click()
    entries = page.locator("article.tlp-entry")
    expect(entries).to_have_count(2)
    first = entries.first
    expect(first.locator(".tlp-entry-head")).to_have_text("create_symbol [3/1] (log line 20896)")
    fields = dict(zip(first.locator("dt").all_text_contents(), first.locator("dd").all_text_contents(), strict=True))
    assert fields["symbol"] == "zf37" and fields["vr"] == "[-oo, oo]" and fields["source"] == "L['___stack1']"
    assert "gen.py:26 in torch_dynamo_resume_in_f_at_26" in fields["user_stack (1 frame)"]
    assert "n = int(b.max().item() * 10) % 3" in fields["user_stack (1 frame)"]
    page.get_by_role("link", name="Report index").click()
    expect(page.locator("#tlp-generic_entries")).to_be_visible()
    assert watch.page_errors == [] and watch.non_file_requests() == []


@pytest.mark.parametrize("flags", [(), ("--eager",)], ids=["lazy", "eager"])
def test_other_log_entries_with_payloads(page: Page, tmp_path: Path, flags: tuple[str, ...]) -> None:
    out = build_report(write(tmp_path / "many.log", many_compiles_log()), tmp_path / "out", *flags).parent
    page.goto((out / "index.html").as_uri())
    section = page.locator("#tlp-generic_entries")
    expect(section.locator("li")).to_have_text(["my_new_event (2 entries): show", "other_event (1 entry): show"])
    section.locator("li", has_text="my_new_event").get_by_role("link").click()
    small, big = page.locator("article.tlp-entry").all()
    expect(small.locator("dd pre", has_text="small payload")).to_have_text("small payload\nsecond line")
    expect(small.locator("dd", has_text="a_symbol_name")).to_have_text(LONG_VALUE)
    expect(small.locator("dd", has_text='"x"')).to_have_text('{"x":[1,2,3]}')
    expect(big.locator("dd").last).to_have_text("5,000 characters, in the payload file")
    big.get_by_role("link", name="payload file").click()
    expect(page.locator("body")).to_have_text(LONG_PAYLOAD)
    page.go_back()
    page.go_back()
    section.locator("li", has_text="other_event").get_by_role("link").click()
    expect(page.locator("article.tlp-entry dt")).to_have_text("count")
    expect(page.locator("article.tlp-entry dd")).to_have_text("42")


def test_long_lists_of_entries_are_paged(page: Page, tmp_path: Path) -> None:
    count = ENTRIES_PER_PAGE * 2 + 1
    log = "".join(entry({"my_event": {"i": i}, **cid()}) for i in range(count))
    out = build_report(write(tmp_path / "t.log", log), tmp_path / "out").parent
    page.goto((out / "index.html").as_uri())
    links = page.locator("#tlp-generic_entries li a")
    expect(links).to_have_text([f"1–{ENTRIES_PER_PAGE}", f"{ENTRIES_PER_PAGE + 1}–{ENTRIES_PER_PAGE * 2}",
                                f"{count}–{count}"])
    links.nth(1).click()
    expect(page.locator("h1")).to_have_text(f"my_event entries {ENTRIES_PER_PAGE + 1}–{ENTRIES_PER_PAGE * 2}")
    expect(page.locator("article.tlp-entry")).to_have_count(ENTRIES_PER_PAGE)
    expect(page.locator("article.tlp-entry dd").first).to_have_text(str(ENTRIES_PER_PAGE))
    page.get_by_role("link", name="next entries →").first.click()
    expect(page.locator("article.tlp-entry dd")).to_have_text(str(count - 1))
    expect(page.get_by_role("link", name="next entries →")).to_have_count(0)
    page.get_by_role("link", name="← previous entries").first.click()
    expect(page.locator("h1")).to_contain_text(f"{ENTRIES_PER_PAGE + 1}–")
