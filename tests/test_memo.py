"""memo.py: a module's results kept between runs by a digest of their inputs."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from tlparse_tasks.memo import Memo, is_text, memo_path
from tlparse_tasks.module_api import ModuleContext


def context(out: Path, fingerprint: str = "code-1", run: dict[str, Any] | None = None) -> ModuleContext:
    out.mkdir(exist_ok=True)
    return ModuleContext("mod", out, {}, run if run is not None else {"eager": False}, [], fingerprint=fingerprint)


def ok(value: Any) -> bool:
    return True


def never() -> Any:
    raise AssertionError("a kept result was made again")


def test_a_result_is_made_once_and_kept_for_the_next_run(tmp_path: Path) -> None:
    memo = Memo(context(tmp_path / "out"), "rows")
    assert memo.get({"row": 1}, lambda: "<tr>1</tr>", ok) == "<tr>1</tr>"
    assert memo.get({"row": 1}, never, ok) == "<tr>1</tr>"  # asked twice in one run
    assert memo.get(["x", 2.5], lambda: {"guards": [["K", "x == 1", "", False]]}, ok) == {
        "guards": [["K", "x == 1", "", False]]}
    assert memo.made == 2
    memo.save()
    again = Memo(context(tmp_path / "out"), "rows")
    assert again.get(["x", 2.5], never, ok) == {"guards": [["K", "x == 1", "", False]]}
    assert again.get({"row": 1}, never, ok) == "<tr>1</tr>" and again.made == 0
    assert again.get({"row": 2}, lambda: "<tr>2</tr>", ok) == "<tr>2</tr>" and again.made == 1


def test_the_file_holds_this_runs_results_only_as_a_fresh_run_writes_them(tmp_path: Path) -> None:
    old = Memo(context(tmp_path / "grown"), "rows")
    for number in (1, 2, 3):
        old.get(number, lambda number=number: f"r{number}", ok)
    old.save()
    grown = Memo(context(tmp_path / "grown"), "rows")
    for number in (3, 4, 1):  # 2 is gone: not kept any more
        grown.get(number, lambda number=number: f"r{number}", ok)
    grown.save()
    fresh = Memo(context(tmp_path / "fresh"), "rows")
    for number in (3, 4, 1):
        fresh.get(number, lambda number=number: f"r{number}", ok)
    fresh.save()
    path = memo_path("mod", "rows")
    assert (tmp_path / "grown" / path).read_bytes() == (tmp_path / "fresh" / path).read_bytes()
    assert path in grown.ctx.written


@pytest.mark.parametrize("change", ["fingerprint", "run", "helper", "name"])
def test_other_code_options_or_helpers_keep_nothing(tmp_path: Path, change: str) -> None:
    helper_file = tmp_path / "helper.py"
    helper_file.write_text("RULE = 1\n")
    helper = types.ModuleType("helper")
    helper.__file__ = str(helper_file)
    first = Memo(context(tmp_path / "out"), "rows", helpers=(helper,))
    first.get("in", lambda: "made by the old code", ok)
    first.save()
    if change == "helper":
        helper_file.write_text("RULE = 2\n")
    ctx = context(tmp_path / "out", fingerprint="code-2" if change == "fingerprint" else "code-1",
                  run={"eager": True} if change == "run" else None)
    later = Memo(ctx, "other" if change == "name" else "rows", helpers=(helper,))
    assert later.get("in", lambda: "made anew", ok) == "made anew" and later.made == 1


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b'{"salt": 3}', b'{"results": []}'])
def test_a_damaged_memo_is_ignored(tmp_path: Path, content: bytes) -> None:
    memo = Memo(context(tmp_path / "out"), "rows")
    memo.get("in", lambda: "value", ok)
    memo.save()
    path = tmp_path / "out" / memo_path("mod", "rows")
    if content == b'{"results": []}':  # the right salt, but no results object
        content = b'{"salt": "' + memo.salt.encode() + b'", "results": []}'
    path.write_bytes(content)
    later = Memo(context(tmp_path / "out"), "rows")
    assert later.get("in", lambda: "made anew", ok) == "made anew"


def test_a_link_in_place_of_the_memo_is_not_followed(tmp_path: Path) -> None:
    memo = Memo(context(tmp_path / "out"), "rows")
    memo.get("in", lambda: "<b>kept</b>", ok)
    memo.save()
    path = tmp_path / "out" / memo_path("mod", "rows")
    planted = tmp_path / "elsewhere.memo"
    planted.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(planted)
    later = Memo(context(tmp_path / "out"), "rows")
    assert later.get("in", lambda: "made anew", ok) == "made anew"


def test_markup_a_page_holds_is_kept_as_its_place_in_the_page(tmp_path: Path) -> None:
    ctx = context(tmp_path / "out")
    memo = Memo(ctx, "rows")
    rows = [memo.get(n, lambda n=n: f"<tr>{n} é</tr>\n", ok) for n in range(3)]
    memo.get("elsewhere", lambda: "<p>not on the page</p>", ok)
    page = "<table>\n" + "".join(rows) + "</table>\n"
    ctx.write_text("page.html", page)
    memo.save(within=("page.html", page))
    saved = (tmp_path / "out" / memo_path("mod", "rows")).read_text()
    assert "<tr>" not in saved and "not on the page" in saved and '"page.html"' in saved

    again = Memo(context(tmp_path / "out"), "rows")
    assert [again.get(n, never, ok) for n in range(3)] == rows
    assert again.get("elsewhere", never, ok) == "<p>not on the page</p>"

    (tmp_path / "out" / "page.html").write_text(page.replace("<tr>1", "<tr>9"))  # not the page it points into
    changed = Memo(context(tmp_path / "out"), "rows")
    assert changed.get(0, lambda: "made anew", ok) == "made anew"
    assert changed.get("elsewhere", never, ok) == "<p>not on the page</p>"


def test_a_memo_pointing_into_a_missing_page_makes_its_rows_again(tmp_path: Path) -> None:
    ctx = context(tmp_path / "out")
    memo = Memo(ctx, "rows")
    row = memo.get(1, lambda: "<tr>1</tr>", ok)
    ctx.write_text("page.html", row)
    memo.save(within=("page.html", row))
    (tmp_path / "out" / "page.html").unlink()
    assert Memo(context(tmp_path / "out"), "rows").get(1, lambda: "made anew", ok) == "made anew"


def test_a_kept_result_the_caller_refuses_is_made_again(tmp_path: Path) -> None:
    memo = Memo(context(tmp_path / "out"), "rows")
    memo.get("row", lambda: {"not": "markup"}, ok)
    memo.get("other", lambda: "<tr></tr>", ok)
    memo.save()
    again = Memo(context(tmp_path / "out"), "rows")
    assert again.get("row", lambda: "<tr>made anew</tr>", is_text) == "<tr>made anew</tr>"
    assert again.get("other", never, is_text) == "<tr></tr>" and again.made == 1

