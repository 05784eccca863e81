"""The garbage collector is paused while the command starts up (gc_pause.py), and on again
wherever tasks run: in the main process, in each worker and in the parse started ahead."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import TORCH_213, corpus_copy
from tests.fixture_modules import modules_yaml_with
from tlparse_tasks import gc_pause
from tlparse_tasks.cli import main


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_paused_for_the_body_unless_resumed_in_it() -> None:
    with gc_pause.paused():
        assert not gc.isenabled()
        gc_pause.resume()
        assert gc.isenabled()
        gc_pause.resume()  # once is enough
    assert gc.isenabled()
    with gc_pause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with gc_pause.paused():
            gc_pause.resume()
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


@pytest.mark.usefixtures("collector_on")
@pytest.mark.parametrize("jobs", ["1", "2"], ids=["serial", "workers"])
def test_modules_render_with_the_collector_on_and_the_command_leaves_it_on(tmp_path: Path, jobs: str) -> None:
    config = yaml.safe_load(modules_yaml_with("stack_trie"))
    config["modules"].append({"id": "say_gc", "name": "Say gc", "entry": "tests.fixture_modules:say_gc",
                              "subscriptions": ["manifest.json"], "strategy": "eager"})
    (tmp_path / "modules.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    log = corpus_copy(next((TORCH_213 / "02_training").glob("*.log")), tmp_path)
    out = tmp_path / "out"
    assert main([str(log), "-o", str(out), "--no-browser", "-j", jobs,
                 "--modules-config", str(tmp_path / "modules.yaml")]) == 0
    assert (out / "gc.txt").read_text() == "True"
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_the_parse_started_ahead_collects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parse forked at the start-up (parse_ahead.py) reads a whole log: it resumes the
    collector it inherited paused."""
    import os

    from tlparse_tasks import actions

    seen = tmp_path / "parse_gc.txt"
    real = actions.parse_values

    def parse_values(*args: object) -> object:
        seen.write_text(f"{os.getpid()} {gc.isenabled()}")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(actions, "parse_values", parse_values)
    log = corpus_copy(next((TORCH_213 / "02_training").glob("*.log")), tmp_path)
    assert main([str(log), "-o", str(tmp_path / "out"), "--no-browser", "--parse-only"]) == 0
    pid, enabled = seen.read_text().split()
    assert int(pid) != os.getpid() and enabled == "True"


@pytest.mark.usefixtures("collector_on")
def test_a_dask_run_collects_in_the_main_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--dask` runs the cross-rank tasks in the main process's threads (ranks/dask_exec.py)."""
    from doit.runner import MThreadRunner

    from tlparse_tasks.ranks.dask_exec import DaskRunner

    seen: list[bool] = []
    monkeypatch.setattr(MThreadRunner, "run_tasks", lambda self, dispatcher: seen.append(gc.isenabled()))
    runner = DaskRunner.__new__(DaskRunner)
    with gc_pause.paused():
        runner.run_tasks(None)
    assert seen == [True] and runner.loop_ended
