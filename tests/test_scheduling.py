"""With workers, the costliest ready tasks start first (modules.yaml `cost`), through doit's own
dispatcher: this guards the hook in workers.py against a doit upgrade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TORCH_213, corpus_copy
from tlparse_tasks import workers
from tlparse_tasks.cli import main
from tlparse_tasks.config import load_config
from tlparse_tasks.resources import default_modules_yaml
from tlparse_tasks.run import Outcome


def test_the_costliest_modules_are_handed_out_first_once_the_parse_is_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parse runs in a process of its own (forked ahead of doit, parse_ahead.py, whose
    outcome the first worker takes; else tasks.EARLY, which doit counts as a third worker):
    when it ends, the costliest modules go to the workers' queue, costliest first, and the two
    workers start on the first two while the next waits for one of them."""
    handed: list[str] = []
    put = workers.WatchedQueue.put

    def noting(queue: workers.WatchedQueue, item: Any) -> None:
        if getattr(item, "name", None):
            handed.append(item.name)
        put(queue, item)

    monkeypatch.setattr(workers.WatchedQueue, "put", noting)
    log = corpus_copy(next((TORCH_213 / "02_training").glob("*.log")), tmp_path)
    assert main([str(log), "-o", str(tmp_path / "out"), "-j", "2", "--no-browser"]) == 0
    modules = sorted(load_config(default_modules_yaml()).for_mode("default"), key=lambda m: -m.cost)
    costliest = [f"module:{m.id}" for m in modules[:3]]
    modules_handed = [name for name in handed if name != "parse"]
    assert modules_handed[:3] == costliest, handed
    assert Outcome.last is not None
    started = Outcome.last.executed
    assert started[0] == "parse" and set(started[1:4]) == set(costliest), started
    assert started[-1] == "assemble"


def test_a_job_waits_in_the_queue_ahead_of_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the parse started ahead (no early process), a QueueSlot keeps one job more in the
    queue than the two workers can take: when the first module's result comes back, three
    modules have been handed out, so the worker that sent it had its next task waiting."""
    handed: list[str] = []
    handed_at_first_result: list[int] = []
    put, get = workers.WatchedQueue.put, workers.WatchedQueue.get

    def noting_put(queue: workers.WatchedQueue, item: Any) -> None:
        if getattr(item, "name", "").startswith("module:"):
            handed.append(item.name)
        put(queue, item)

    def noting_get(queue: workers.WatchedQueue) -> Any:
        item = get(queue)
        if isinstance(item, dict) and str(item.get("name", "")).startswith("module:") and "reporter" not in item:
            handed_at_first_result.append(len(handed))
        return item

    monkeypatch.setattr(workers.WatchedQueue, "put", noting_put)
    monkeypatch.setattr(workers.WatchedQueue, "get", noting_get)
    log = corpus_copy(next((TORCH_213 / "02_training").glob("*.log")), tmp_path)
    assert main([str(log), "-o", str(tmp_path / "out"), "-j", "2", "--no-browser"]) == 0
    assert handed_at_first_result and handed_at_first_result[0] >= 3, (handed, handed_at_first_result)
    assert len(handed) == len(set(handed))  # each module handed out once
