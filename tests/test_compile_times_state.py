"""compile_times after a log grew: the phase events before the parse's resume point come from
the last run's state, so only the new bytes of chromium_events.json are scanned, and the whole
report equals a fresh build's, the state included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_incremental_report import tree
from tests.test_search_incremental import build, fresh_tree, grow, grow_and_count, half_built
from tlparse_tasks.modules import compile_times

STATE = Path(".modules") / "compile_times.state"


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
    assert saved["extra"] == list(compile_times.phase_events(events, stop=size))
    assert saved["extra"] and all(compile_times.wanted_name(e["name"]) for e in saved["extra"])


def test_another_runs_state_means_scanning_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, out, data, cut = half_built(tmp_path)
    grow(log, data, cut)
    scanned = Scanned(monkeypatch)
    build(log, out, "--eager")
    grown = scanned.count
    assert tree(out) == fresh_tree(tmp_path, log, "--eager")
    assert grown == scanned.count - grown  # as many as the fresh build
