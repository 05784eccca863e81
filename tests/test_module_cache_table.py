"""The index's cache table stays short with thousands of compile ids: the first rows on the index,
all of them on cache_compile_ids.html, each linking back to its compile-directory entry."""

from __future__ import annotations

import re
from pathlib import Path

from tests.big_log import expected_display_ids, write_synthetic_log
from tlparse_tasks.cli import main
from tlparse_tasks.modules.cache import INDEX_ROWS, ROWS_PAGE


def cache_rows(html: str) -> list[str]:
    return re.findall(r'<tr><td><a href="[^"]*#[^"]*">(\[[^<]*\])</a></td>', html)


def test_many_compile_ids_page_the_cache_table(tmp_path: Path) -> None:
    count = INDEX_ROWS * 2 + 7
    log = write_synthetic_log(tmp_path / "many.log", count)
    out = tmp_path / "out"
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1", "--modules", "cache"]) == 0
    index = (out / "index.html").read_text()
    page = (out / ROWS_PAGE).read_text()
    assert len(cache_rows(index)) == INDEX_ROWS
    assert f'href="{ROWS_PAGE}"' in index
    assert cache_rows(page) == expected_display_ids(count)
    assert 'href="index.html#%5B0/0%5D"' in page  # back to the compile directory, URL-encoded


def test_few_compile_ids_stay_on_the_index(tmp_path: Path) -> None:
    log = write_synthetic_log(tmp_path / "few.log", 5)
    out = tmp_path / "out"
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1", "--modules", "cache"]) == 0
    assert len(cache_rows((out / "index.html").read_text())) == 5
    assert not (out / ROWS_PAGE).exists()
