"""Large logged values on metrics pages (inductor/dynamo configs) load on demand, once per run,
and show the same text as the `--eager` page has inline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import PageWatch, build_report
from tests.conftest import TORCH_213, corpus_copy

pytestmark = pytest.mark.browser

GRAPH_BREAKS = TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log"


def first_metrics_page(out: Path) -> Path:
    return sorted(out.glob("*/compilation_metrics_*.html"))[0]


def inline_value(page: Any, path: Path, key: str) -> str:
    page.goto(path.as_uri())
    row = page.locator("details.cm-other tr", has=page.locator(f"th code:text-is('{key}')"))
    return str(row.locator("td").text_content())


def test_a_large_value_loads_when_opened_and_matches_the_eager_page(page: Any, tmp_path: Path) -> None:
    log = corpus_copy(GRAPH_BREAKS, tmp_path)
    lazy_out, eager_out = tmp_path / "lazy", tmp_path / "eager"
    build_report(log, lazy_out)
    build_report(log, eager_out, "--eager")
    lazy_page = first_metrics_page(lazy_out)
    html = lazy_page.read_text()
    assert "data-tlp-render=\"text\"" in html and "inductor_config" in html
    shards = sorted((lazy_out / "data" / "compilation_metrics").glob("value-*.js"))
    references = sum(p.read_text().count('data-tlp-render="text"')
                     for p in lazy_out.glob("*/compilation_metrics_*.html"))
    assert shards and len(shards) < references / 2  # a value shared by pages is stored once

    watch = PageWatch().attach(page)
    page.goto(lazy_page.as_uri())
    page.locator("details.cm-other > summary").click()
    row = page.locator("details.cm-other tr", has=page.locator("th code:text-is('inductor_config')"))
    lazy = row.locator("details.cm-lazy-value")
    lazy.locator("summary").click()
    value = lazy.locator(".tlp-body code.cm-value")
    value.wait_for()
    shown = str(value.text_content())
    assert len(shown) > 2048
    assert shown == inline_value(page, first_metrics_page(eager_out), "inductor_config")
    assert not watch.non_file_requests()
