"""compile_times after a log grew: the compilations and phase events before the parse's resume
point come from the last run's state, so only the new metrics records and the new bytes of
chromium_events.json are read, and the whole report equals a fresh build's, the state included,
a backward compile logged after the point for a compilation before it included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import TORCH_213, corpus_copy
from tests.test_incremental_report import tree
from tests.test_search_incremental import build, fresh_tree, grow, grow_and_count, half_built
from tlparse_tasks.module_api import ModuleContext
from tlparse_tasks.modules import compile_times

STATE = Path(".modules") / "compile_times.state"
TRAINING = TORCH_213 / "02_training" / "dedicated_log_torch_trace_aambwkd9.log"


class Scanned:
    """The phase events compile_times decodes from chromium_events.json in a run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = compile_times.phase_events

        def counting(*args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
            for event in original(*args, **kwargs):
                self.count += 1
                yield event

        monkeypatch.setattr(compile_times, "phase_events", counting)


@pytest.mark.parametrize("where", ["record boundary", "inside a payload", "mid line"])
def test_a_grown_log_scans_only_the_new_events_and_equals_a_fresh_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    first, grown, total = grow_and_count(tmp_path, where, Scanned(monkeypatch), STATE)
    assert total > first > 0 and grown < total - first / 2, (first, grown, total)


def test_the_state_holds_the_events_before_the_point(tmp_path: Path) -> None:
    _, out, _, _ = half_built(tmp_path)
    saved = orjson.loads((out / STATE).read_bytes())
    events = out / "intermediate" / "chromium_events.json"
    size = saved["parts"]["*"]["sizes"][compile_times.EVENTS]
    assert 0 < size < events.stat().st_size
    kept = saved["extra"]["events"]
    assert kept == list(compile_times.phase_events(events, stop=size))
    assert kept and all(compile_times.wanted_name(e["name"]) for e in kept)


class Fed:
    """The metrics records compile_times reads in a run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = compile_times.Compilations.feed

        def counting(gathered: compile_times.Compilations, records: Iterator[dict[str, Any]]) -> None:
            def counted() -> Iterator[dict[str, Any]]:
                for record in records:
                    self.count += 1
                    yield record
            original(gathered, counted())

        monkeypatch.setattr(compile_times.Compilations, "feed", counting)


def test_a_grown_log_reads_only_the_new_metrics_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, grown, total = grow_and_count(tmp_path, "record boundary", Fed(monkeypatch), STATE)
    assert total > first > 0 and grown < total - first / 2, (first, grown, total)


def test_a_backward_compile_after_the_point_joins_its_compilation_before_it(tmp_path: Path) -> None:
    data = corpus_copy(TRAINING, tmp_path).read_bytes()
    at = data.index(b'"bwd_compilation_metrics"')
    cut = data.rindex(b"\n", 0, at) + 1  # the log ends just before the backward's record
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:cut])
    build(log, out)
    kept = orjson.loads((out / STATE).read_bytes())["extra"]["compilations"]
    assert kept and all(c["backward"] is None for c in kept)  # the forward is before the point
    grow(log, data, cut)
    build(log, out)
    assert tree(out) == fresh_tree(tmp_path, log)
    rows = compile_times.rows_of(*compile_times_found(out))
    assert any(row.total is not None and row.aot for row in rows)


def compile_times_found(out: Path) -> tuple[list[compile_times.Compilation], list[dict[str, Any]]]:
    """The compilations and events of a built report, read from its store whole."""
    from tlparse_tasks.store.reader import StoreReader

    store = StoreReader(out, "compile_times", None)
    found = compile_times.compilations(store.read_jsonl(compile_times.METRICS))
    assert any(c.backward is not None for c in found)
    return found, list(compile_times.phase_events(store.path(compile_times.EVENTS)))


def test_another_runs_state_means_scanning_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, out, data, cut = half_built(tmp_path)
    grow(log, data, cut)
    scanned = Scanned(monkeypatch)
    build(log, out, "--eager")
    grown = scanned.count
    assert tree(out) == fresh_tree(tmp_path, log, "--eager")
    assert grown == scanned.count - grown  # as many as the fresh build


class RowsRendered:
    """The table rows compile_times renders in a run (those its memo does not hold)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = ModuleContext.macro

        def counting(ctx: ModuleContext, template: str, name: str) -> Any:
            macro = original(ctx, template, name)
            if name != "times_row":
                return macro

            def counted(*args: Any) -> Any:
                self.count += 1
                return macro(*args)
            return counted

        monkeypatch.setattr(ModuleContext, "macro", counting)


def test_a_grown_log_renders_only_the_rows_of_new_or_changed_compilations(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, grown, total = grow_and_count(tmp_path, "record boundary", RowsRendered(monkeypatch), STATE)
    assert 0 < first < total and 0 < grown < total, (first, grown, total)

