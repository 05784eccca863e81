"""The parse started before doit (parse_ahead.py): when it is sure to run, the CLI forks it at
once; the parse task takes its outcome, a failure included, and parses itself when the process
ended without one."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.logs import cid, entry, write
from tests.logs import simple_log as make_simple_log
from tlparse_tasks import actions, parse_ahead, run
from tlparse_tasks.cli import main
from tlparse_tasks.fserrors import FsError
from tlparse_tasks.run import Outcome
from tlparse_tasks.runconfig import RunConfig, norm


def cli(log: Path, out: Path, *extra: str) -> int:
    return main([str(log), "-o", str(out), "--no-browser", *extra])


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write(tmp_path / "t.log", make_simple_log())


def grow(log: Path) -> None:
    with open(log, "a") as handle:
        handle.write(entry({"artifact": {"name": "more", "encoding": "string"}, **cid()}, "x"))


def test_the_parse_is_due_when_the_log_is_not_what_the_store_was_parsed_from(log: Path) -> None:
    here = {"source": {"path": os.path.realpath(log), "size": log.stat().st_size}}
    assert parse_ahead.parse_is_due(str(log), None)  # no store yet
    assert parse_ahead.parse_is_due(str(log), {"source": {**here["source"], "path": "/elsewhere.log"}})
    assert parse_ahead.parse_is_due(str(log), {"source": {**here["source"], "size": 1}})
    assert parse_ahead.parse_is_due(str(log), {"version": "2.1"})  # a manifest without its source
    assert not parse_ahead.parse_is_due(str(log), here)  # same size: doit's check decides (digest)


class Recorder:
    """Where and how often the parse ran (in this process, or a forked one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, behave: Any = None) -> None:
        self.file = tmp_path / "parsed_in.txt"
        self.main_pid = os.getpid()
        real = actions.parse_values

        def parse_values(*args: Any) -> dict[str, Any]:
            with open(self.file, "a") as handle:
                handle.write(f"{os.getpid()}\n")
            if behave is not None and os.getpid() != self.main_pid:
                behave()
            return real(*args)

        monkeypatch.setattr(actions, "parse_values", parse_values)

    @property
    def pids(self) -> list[int]:
        return [int(pid) for pid in self.file.read_text().split()] if self.file.exists() else []


def test_a_grown_log_is_parsed_ahead_of_doit_once(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    recorder = Recorder(monkeypatch, tmp_path)
    assert cli(log, out) == 0
    assert len(recorder.pids) == 1 and recorder.pids[0] != os.getpid()  # a new OUT: ahead too
    grow(log)
    assert cli(log, out) == 0
    assert len(recorder.pids) == 2 and recorder.pids[1] != os.getpid()
    assert Outcome.last is not None and "parse" in Outcome.last.executed  # doit ran the task: its outcome
    assert Outcome.last.manifest["artifact_counts"].get("more") == 1
    assert cli(log, out) == 0  # nothing changed: nothing parsed
    assert len(recorder.pids) == 2


def test_what_the_run_will_read_is_measured_before_the_parse_ahead_moves_the_store_on(
        tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tasks' expected costs count the bytes after the last parse's resume point
    (RunConfig.bytes_to_read): measured once the parse started ahead had saved its own point,
    they would be those of its last record only."""
    out = tmp_path / "out"
    assert cli(log, out) == 0
    before = log.stat().st_size
    grow(log)
    grow(log)
    seen: list[int | None] = []
    real = run._build_report

    def once_the_parse_has_ended(cfg: RunConfig, db: Path) -> Outcome:
        assert parse_ahead.outcome(norm(cfg.log), norm(cfg.out)) is not None  # waits for it
        seen.append(cfg.bytes_to_read)
        return real(cfg, db)

    monkeypatch.setattr(run, "_build_report", once_the_parse_has_ended)
    assert cli(log, out) == 0
    assert len(seen) == 1 and seen[0] is not None and seen[0] >= log.stat().st_size - before


def test_a_touched_log_of_the_same_size_is_left_to_doit(tmp_path: Path, log: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Same size, another mtime: only the digest can tell, and doit's check computes it."""
    out = tmp_path / "out"
    assert cli(log, out) == 0
    recorder = Recorder(monkeypatch, tmp_path)
    os.utime(log, (1, 1))
    assert cli(log, out) == 0
    assert recorder.pids == []  # up to date by its digest: no parse at all


def test_a_parse_failing_ahead_fails_the_run_in_one_line(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    def refuse() -> None:
        raise FsError("cannot read", 5, "Input/output error", log)

    Recorder(monkeypatch, tmp_path, behave=refuse)
    assert cli(log, tmp_path / "out") == 1
    err = capfd.readouterr().err
    assert f"cannot read {log}: Input/output error" in err and "Traceback" not in err


def test_a_parse_crashing_ahead_fails_the_run_with_its_traceback(tmp_path: Path, log: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    def crash() -> None:
        raise RuntimeError("a bug in the parse")

    Recorder(monkeypatch, tmp_path, behave=crash)
    assert cli(log, tmp_path / "out") == 1
    assert "a bug in the parse" in capfd.readouterr().err


def test_a_caller_s_own_stderr_object_keeps_the_parse_in_process(tmp_path: Path, log: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """What the parse prints must reach a stream that is no file (a caller's StringIO), which
    a forked process could not write into: the parse then runs in the task."""
    recorder = Recorder(monkeypatch, tmp_path)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    write(log, make_simple_log() + "V1206 15:18:01.123456 140000 torch/x.py:1] {not json\n")
    assert cli(log, tmp_path / "out", "-j", "1") == 0
    assert recorder.pids == [os.getpid()]
    assert f"{log}:" in stream.getvalue() and "invalid envelope JSON" in stream.getvalue()


def test_a_parse_killed_ahead_is_done_by_the_task(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No outcome came (the process was killed): the task parses, and the report is whole."""
    recorder = Recorder(monkeypatch, tmp_path, behave=lambda: os._exit(9))
    out = tmp_path / "out"
    assert cli(log, out, "-j", "1") == 0
    assert len(recorder.pids) == 2 and recorder.pids[1] == os.getpid()  # killed ahead, then done in-process
    assert (out / "index.html").is_file() and (out / "intermediate" / "manifest.json").is_file()
