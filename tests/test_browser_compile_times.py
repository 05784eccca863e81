"""Compile times in a browser over file://: `table#compile-times` puts the slowest compile
first, a click on a header sorts by that column (and again reverses it), the compile id links
to its metrics page, and nothing asks the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import PageWatch, build_report
from tests.conftest import TORCH_213, corpus_copy

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def training_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("times")
    log = corpus_copy(next((TORCH_213 / "02_training").glob("*.log")), root)
    return build_report(log, root / "out")


def column(page: Page, index: int) -> list[str]:
    cells = page.locator("table#compile-times tbody tr").locator(f"td:nth-child({index})")
    return [text.strip() for text in cells.all_inner_texts()]


def seconds(texts: list[str]) -> list[float]:
    return [float(t) for t in texts if t]


def test_slowest_first_and_sorting_by_a_header(page: Page, training_report: Path) -> None:
    watch = PageWatch().attach(page)
    page.goto(training_report.as_uri())
    table = page.locator("table#compile-times")
    expect(table).to_be_visible()
    first = table.locator("tbody tr").first.locator("td").first
    expect(first).to_have_text("[0/0]")
    totals = seconds(column(page, 2))
    assert len(totals) == 6 and totals == sorted(totals, reverse=True)

    total = table.get_by_role("button", name="Total (s)")
    total.click()  # it was longest first: now shortest first
    expect(table.locator("thead th").nth(1)).to_have_attribute("aria-sort", "ascending")
    assert seconds(column(page, 2)) == sorted(totals)
    expect(first.page.locator("table#compile-times tbody tr").first.locator("td").first).to_have_text("[4/0]")

    table.get_by_role("button", name="Code gen (s)").click()  # numbers: longest first, blanks last
    code_gen = column(page, 6)
    assert code_gen[-3:] == ["", "", ""] and seconds(code_gen) == sorted(seconds(code_gen), reverse=True)

    table.get_by_role("button", name="Compile id").click()  # text: by compile id, numerically
    assert column(page, 1) == ["[0/0]", "[1/0_1]", "[2/0_1]", "[3/0]", "[3/1]", "[4/0]"]
    table.get_by_role("button", name="Compile id").click()
    assert column(page, 1) == ["[4/0]", "[3/1]", "[3/0]", "[2/0_1]", "[1/0_1]", "[0/0]"]

    expect(table.locator("tbody tr", has_text="[0/0]").locator("svg.ct-bar rect")).to_have_count(4)
    expect(table.locator("tbody tr", has_text="[4/0]").locator("svg.ct-bar rect")).to_have_count(1)  # dynamo only
    link = table.locator("tbody tr a", has_text="[4/0]")
    href = link.get_attribute("href")
    assert href is not None and href.startswith("-_4_0_0/compilation_metrics_")
    link.click()
    expect(page).to_have_url(training_report.parent.joinpath(href).as_uri())
    expect(page.locator("h1, h2").first).to_be_visible()
    assert watch.non_file_requests() == [] and watch.page_errors == [] and watch.console_errors == []


def test_every_bar_is_drawn_to_one_scale(page: Page, training_report: Path) -> None:
    """The bars share one scale: the slowest compile's bar spans the column, and each phase's
    stretch of a bar is that phase's seconds (as its column shows them) over the slowest total."""
    page.goto(training_report.as_uri())
    rows = page.locator("table#compile-times tbody tr")
    expect(rows.first).to_be_visible()
    scale = max(seconds(column(page, 2)))
    full = rows.first.locator("td.ct-bar-cell").evaluate(
        "cell => { const s = getComputedStyle(cell);"
        " return cell.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }")
    assert full > 0
    for number in range(rows.count()):
        row = rows.nth(number)
        phases = seconds([row.locator("td").nth(index).inner_text().strip() for index in range(2, 6)])
        drawn = [box["width"] for rect in row.locator("svg.ct-bar rect").all()
                 if (box := rect.bounding_box()) is not None]
        assert len(drawn) == len([p for p in phases if p > 0])
        assert [width / full for width in drawn] == pytest.approx([p / scale for p in phases if p > 0], abs=0.01)
    first = [box["width"] for rect in rows.first.locator("svg.ct-bar rect").all() if (box := rect.bounding_box())]
    assert sum(first) == pytest.approx(full, rel=0.01)
