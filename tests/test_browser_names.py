"""Names that clean up alike, or hold `#`, `%`, `?` or spaces, in Chromium over file://: each
link of the compile directory opens the page of its own entry (lazy list from a shard, and the
--eager list in the page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import PageWatch, build_report
from tests.logs import write
from tests.test_names import COLLIDING, KINDS, marker, names_log, planned

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("flags", [(), ("--eager",)], ids=["lazy", "eager"])
def test_each_link_opens_the_page_of_its_own_name(page: Any, tmp_path: Path, flags: tuple[str, ...]) -> None:
    index = build_report(write(tmp_path / "t.log", names_log()), tmp_path / "out", *flags)
    paths = planned(tmp_path / "out")
    watch = PageWatch().attach(page)
    opened = 0
    for kind in KINDS:
        for number, name in enumerate(COLLIDING):
            page.goto(index.as_uri())
            entry = page.locator("details#\\[0\\/0\\]")
            if not entry.evaluate("d => d.open"):
                entry.locator(":scope > summary").click()
            link = entry.locator("ul.tlp-artifacts a").get_by_text(paths[kind, name], exact=True)
            link.click()
            page.wait_for_load_state()
            assert page.url != index.as_uri(), (kind, name)
            body = page.locator("body").inner_text()
            assert marker(kind, number) in body, (kind, name, page.url)
            assert all(marker(kind, other) not in body for other in range(len(COLLIDING)) if other != number)
            opened += 1
    assert opened == len(KINDS) * len(COLLIDING)
    assert watch.page_errors == [] and watch.non_file_requests() == []
