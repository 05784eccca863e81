"""The landing page in Chromium over file://: its diagnostics read as intended and its links
reach the rank reports and the compile ids that differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.multi_rank_support import build_ranks, make_rank_folder

pytestmark = pytest.mark.browser


def test_landing_diagnostics_and_links(tmp_path: Path, page: Any) -> None:
    logs = make_rank_folder(tmp_path / "logs")
    out = tmp_path / "out"
    build_ranks(logs, out)
    page.goto((out / "index.html").as_uri())
    box = page.locator(".warning-box")
    assert "Diverging Compilation IDs detected across ranks" in box.inner_text()
    assert [g.inner_text() for g in box.locator("ul.tlp-rank-groups").first.locator("li").all()] == [
        "Ranks: 0, 2", "Ranks: 1"]
    assert page.locator("#diagnostic-summary").inner_text().split("\n")[:2] == [
        "compile_ids: divergent", "cache: divergent"]
    # the compile id that rank 1 lacks opens rank 0's entry for it
    box.get_by_role("link", name="[0/0]").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("rank_0/index.html#[0/0]")
    assert page.locator("[id='[0/0]']").count() == 1
    page.go_back()
    page.locator("#rank-reports").get_by_role("link", name="Rank 1").click()
    page.wait_for_load_state()
    assert page.url.endswith("rank_1/index.html")
    assert page.get_by_role("link", name="Collectives Parity report").count() == 1
