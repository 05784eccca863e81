"""Work finer than a module: a unit (one compile id, one page) is skipped when its data is unchanged."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tlparse_tasks.module_api import ModuleContext, ModuleOutput, record_path, unit_digest
from tlparse_tasks.store.reader import SubscriptionError


def render_pages(ctx: ModuleContext, pages: dict[str, str]) -> list[str]:
    """A toy module: one file per key; returns the keys it actually rendered."""
    rendered = []
    for key, text in pages.items():
        if ctx.unit(key, {"text": text}):
            ctx.write_text(f"{key}/page.txt", text)
            rendered.append(key)
    return rendered


def run(out: Path, pages: dict[str, str], fingerprint: str = "f1") -> tuple[list[str], dict]:
    ctx = ModuleContext("toy", out, {}, {}, [], (), (), strategy="lazy", fingerprint=fingerprint)
    rendered = render_pages(ctx, pages)
    record = ctx.record(ModuleOutput(), {"id": "toy"}, "test")
    path = record_path(out, "toy")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(record))
    return rendered, record


def test_unchanged_units_are_skipped_and_keep_their_files(tmp_path: Path) -> None:
    first, _ = run(tmp_path, {"a": "1", "b": "2"})
    assert first == ["a", "b"]
    again, record = run(tmp_path, {"a": "1", "b": "2", "c": "3"})
    assert again == ["c"]
    assert record["files"] == ["a/page.txt", "b/page.txt", "c/page.txt"]  # carried over, not lost
    assert record["units"]["a"]["files"] == ["a/page.txt"]


def test_changed_data_missing_files_and_new_code_rerender(tmp_path: Path) -> None:
    run(tmp_path, {"a": "1", "b": "2"})
    changed, _ = run(tmp_path, {"a": "1", "b": "two"})
    assert changed == ["b"]
    (tmp_path / "a" / "page.txt").unlink()
    repaired, _ = run(tmp_path, {"a": "1", "b": "two"})
    assert repaired == ["a"]
    assert (tmp_path / "a" / "page.txt").read_text() == "1"
    recoded, _ = run(tmp_path, {"a": "1", "b": "two"}, fingerprint="f2")
    assert recoded == ["a", "b"]


def test_a_broken_record_means_render_everything(tmp_path: Path) -> None:
    run(tmp_path, {"a": "1"})
    record_path(tmp_path, "toy").write_bytes(b"{not json")
    assert run(tmp_path, {"a": "1"})[0] == ["a"]


def test_a_key_met_twice_in_a_run_renders_again(tmp_path: Path) -> None:
    """Two records may make the same file (a dump_file logged twice under one name): the later
    one wins. Next run the earlier one renders over it, so the later one must render again
    although the last run recorded its very data for that key (found by scripts/fuzz)."""
    ctx = ModuleContext("toy", tmp_path, {}, {}, [], (), (), strategy="lazy", fingerprint="f1")

    def both() -> list[str]:
        rendered = []
        for text in ("earlier", "later"):
            if ctx.unit("same", {"text": text}):
                ctx.write_text("same/page.txt", text)
                rendered.append(text)
        return rendered

    assert both() == ["earlier", "later"]
    record = ctx.record(ModuleOutput(), {"id": "toy"}, "test")
    record_path(tmp_path, "toy").parent.mkdir(parents=True, exist_ok=True)
    record_path(tmp_path, "toy").write_bytes(orjson.dumps(record))
    ctx = ModuleContext("toy", tmp_path, {}, {}, [], (), (), strategy="lazy", fingerprint="f1")
    assert both() == ["earlier", "later"]
    assert (tmp_path / "same" / "page.txt").read_text() == "later"
    assert not ctx.unit_is_current("same", {"text": "later"})


def test_unit_digest_depends_on_data_and_fingerprint() -> None:
    assert unit_digest("f", {"x": 1}) == unit_digest("f", {"x": 1})
    assert unit_digest("f", {"x": 1}) != unit_digest("f", {"x": 2})
    assert unit_digest("f", {"x": 1}) != unit_digest("g", {"x": 1})


def test_lazy_follows_strategy_and_eager(tmp_path: Path) -> None:
    def ctx(strategy: str, eager: bool) -> ModuleContext:
        return ModuleContext("m", tmp_path, {}, {"eager": eager}, [], strategy=strategy)

    assert ctx("lazy", False).lazy and ctx("hybrid", False).lazy
    assert not ctx("eager", False).lazy
    assert not ctx("lazy", True).lazy


def test_a_module_reads_only_what_it_subscribes_to(tmp_path: Path) -> None:
    (tmp_path / "intermediate").mkdir()
    (tmp_path / "intermediate" / "manifest.json").write_bytes(b"{}")
    (tmp_path / "intermediate" / "graphs.jsonl").write_bytes(b"{}\n")
    ctx = ModuleContext("m", tmp_path, {}, {}, [], (), ("manifest.json",))
    assert ctx.manifest == {}
    with pytest.raises(SubscriptionError, match=r"graphs\.jsonl"):
        list(ctx.read_jsonl("graphs.jsonl"))


def css_run(out: Path) -> dict:
    """A module run that writes only the Pygments CSS, as compile_artifacts does first."""
    from tlparse_tasks.modules.code_html import CSS_FILE, write_pygments_css

    ctx = ModuleContext("toy", out, {}, {}, [], (), (), strategy="lazy", fingerprint="f1")
    write_pygments_css(ctx, CSS_FILE)
    record = ctx.record(ModuleOutput(), {"id": "toy"}, "test")
    path = record_path(out, "toy")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(record))
    return record


def test_the_pygments_css_is_made_once_and_again_only_when_gone(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tlparse_tasks.modules import code_html

    record = css_run(tmp_path)
    css = (tmp_path / "pygments.css").read_text()
    assert ".highlight .k " in css and "prefers-color-scheme: dark" in css
    assert record["files"] == ["pygments.css"]

    def refuse() -> str:
        raise AssertionError("the CSS was made again although the last run's file is current")

    monkeypatch.setattr(code_html, "pygments_css", refuse)
    assert css_run(tmp_path)["files"] == ["pygments.css"]  # carried over: Pygments' styles not loaded
    (tmp_path / "pygments.css").unlink()
    monkeypatch.undo()
    css_run(tmp_path)
    assert (tmp_path / "pygments.css").read_text() == css
