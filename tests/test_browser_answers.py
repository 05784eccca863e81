"""The index answers "where did it break, why did it recompile" on its first screen, in a
browser over file:// with no network: each distinct graph break of 03_graph_breaks with its
gen.py line and count, the recompile reasons with real line breaks, and long lists that load
when opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import PageWatch, build_report
from tests.conftest import TORCH_213, corpus_copy
from tests.logs import write
from tests.test_module_graph_breaks import EXPECTED, breaks_log
from tests.test_module_recompiles import HOSTILE, recompiles_log
from tlparse_tasks.modules.graph_breaks import SHOWN_OCCURRENCES
from tlparse_tasks.modules.recompiles import SHOWN_PER_FRAME

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def graph_breaks_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("answers")
    log = corpus_copy(next((TORCH_213 / "03_graph_breaks").glob("*.log")), root)
    return build_report(log, root / "out")


def opened(page: Page, index: Path) -> PageWatch:
    watch = PageWatch().attach(page)
    page.goto(index.as_uri())
    return watch


def test_each_distinct_break_with_its_line_and_count(page: Page, graph_breaks_report: Path) -> None:
    watch = opened(page, graph_breaks_report)
    rows = page.locator("#tlp-graph_breaks table.gb-table tbody tr")
    expect(rows).to_have_count(len(EXPECTED))
    seen = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        location = row.locator(".gb-location").inner_text()
        assert "/03_graph_breaks/gen.py:" in location
        seen[int(location.rpartition(":")[2])] = int(row.locator(".gb-count").inner_text())
    assert seen == EXPECTED
    print_row = rows.filter(has_text="gen.py:21")
    expect(print_row.locator(".gb-headline")).to_have_text("Failed to trace builtin operator")
    expect(print_row.locator(".gb-hints li")).to_have_count(3)
    twice = rows.filter(has_text="gen.py:29")
    expect(twice.locator("a.tlp-cid")).to_have_text(["[3/0]", "[3/1]"])
    twice.get_by_role("link", name="reason").first.click()
    assert page.url.endswith("/-_3_0_0/dynamo_graph_break_reason_60.txt")
    assert watch.non_file_requests() == [] and watch.page_errors == []


def test_breaks_section_is_above_the_stack_trie(page: Page, graph_breaks_report: Path) -> None:
    opened(page, graph_breaks_report)
    ids = page.locator("main > section").evaluate_all("sections => sections.map(s => s.id)")
    assert ids.index("tlp-graph_breaks") < ids.index("tlp-recompiles") < ids.index("tlp-stack_trie")


def test_recompile_reason_reads_with_line_breaks(page: Page, graph_breaks_report: Path) -> None:
    watch = opened(page, graph_breaks_report)
    section = page.locator("#tlp-recompiles")
    expect(section.locator(".rc-frame-title")).to_contain_text("torch_dynamo_resume_in_f_at_26")
    reason = section.locator("pre.rc-reason").inner_text()
    assert reason.startswith("___stack1 == 3.839895248413086")
    assert "\nUser stack trace:\n" in reason and "\\n" not in reason
    expect(section.locator(".rc-guards li")).to_contain_text("EQUALS_MATCH L['___stack1'] == 3.839895248413086")
    assert watch.non_file_requests() == [] and watch.page_errors == []


def test_restart_rows_show_the_break_location(page: Page, graph_breaks_report: Path) -> None:
    page.goto((graph_breaks_report.parent / "failures_and_restarts.html").as_uri())
    restart = page.locator("tr.fr-restart").first
    expect(restart.locator("td").nth(3)).to_contain_text(
        "the graph break at /home/user/corpus/03_graph_breaks/gen.py:21")


@pytest.mark.parametrize("eager", [False, True])
def test_long_lists_open_on_demand_or_are_inline(page: Page, tmp_path: Path, eager: bool) -> None:
    recompiles = SHOWN_PER_FRAME + 2
    log = write(tmp_path / "long.log", recompiles_log(recompiles) + breaks_log(SHOWN_OCCURRENCES + 3))
    index = build_report(log, tmp_path / "out", *(["--eager"] if eager else []))
    watch = opened(page, index)
    frame = page.locator("#tlp-recompiles .rc-frame").first
    breaks = page.locator("#tlp-graph_breaks tbody tr").first
    if eager:
        expect(frame.locator(".rc-recompile")).to_have_count(recompiles)
        expect(breaks.locator("a.tlp-cid")).to_have_count(SHOWN_OCCURRENCES + 3)
    else:
        expect(frame.locator(".rc-recompile")).to_have_count(SHOWN_PER_FRAME)
        frame.locator("details.rc-more > summary").click()
        hidden = frame.locator("details.rc-more .tlp-body")
        expect(hidden).to_contain_text(f"[0/{recompiles}]")
        expect(hidden).to_contain_text(HOSTILE)  # as text, never markup
        breaks.locator("details.gb-more > summary").click()
        expect(breaks.locator("details.gb-more .tlp-body li")).to_have_count(3)
    assert watch.dialogs == [] and watch.page_errors == [] and watch.non_file_requests() == []
