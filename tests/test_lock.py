"""One run per OUT: concurrent runs wait for each other (or fail at once with --no-wait), the
lock is never taken through a symlink, and a run journal left by an unfinished run makes the
next run redo everything."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TORCH_213, corpus_copy
from tlparse_tasks.lock import LOCK_NAME, LockError, acquire, begin_run, end_run, incomplete_marker, release
from tlparse_tasks.recycle import POOL_NAME, recycling
from tlparse_tasks.run import prepare_out

REPO = Path(__file__).resolve().parents[1]
TRAINING = next((TORCH_213 / "02_training").glob("*.log"))
RUN_STATE = {".tlparse-doit.db", "intermediate/parse_state.json"}
WAITING = "Waiting for another tlparse run to finish with"


def tlparse(log: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tlparse_tasks", str(log), "-o", str(out), "--no-browser", *extra]


def run(args: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=cwd, env=env)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).as_posix() not in RUN_STATE}


def test_concurrent_runs_on_one_out_give_the_report_of_a_fresh_run(tmp_path: Path) -> None:
    log = corpus_copy(TRAINING, tmp_path)
    out = tmp_path / "out"
    procs = [subprocess.Popen(tlparse(log, out, "-j", "2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    third = run(tlparse(log, out, "-v"))
    assert third.returncode == 0, third.stderr
    assert "ran: nothing" in third.stderr
    fresh = run(tlparse(log, tmp_path / "fresh"))
    assert fresh.returncode == 0, fresh.stderr
    assert tree(out) == tree(tmp_path / "fresh")


def test_a_second_run_waits_for_the_lock_or_fails_at_once_with_no_wait(tmp_path: Path) -> None:
    log = corpus_copy(TRAINING, tmp_path)
    out = tmp_path / "out"
    held = acquire(out)  # another run holds OUT
    try:
        busy = run(tlparse(log, out, "--no-wait"))
        assert busy.returncode == 1
        assert busy.stderr.strip() == (f"Error: another tlparse run is using {out}; try again when it has "
                                       "finished (or drop --no-wait to wait for it)")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # it wrote nothing
        waiting = subprocess.Popen(tlparse(log, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert waiting.poll() is None  # still waiting
        assert not (out / "index.html").exists()
    finally:
        release(held)
    _, err = waiting.communicate(timeout=180)
    assert waiting.returncode == 0, err
    assert err.count(WAITING) == 1 and err.splitlines()[0].startswith(WAITING)
    assert (out / "index.html").is_file()


def test_doit_takes_the_same_lock(tmp_path: Path) -> None:
    log = corpus_copy(TRAINING, tmp_path)
    out = tmp_path / "out"
    held = acquire(out)
    try:
        busy = run([sys.executable, "-m", "doit", f"log={log}", f"out={out}", "nowait=1"])
    finally:
        release(held)
    assert busy.returncode != 0
    assert busy.stderr.strip() == (f"ERROR: another tlparse run is using {out}; try again when it has "
                                   "finished (or drop --no-wait to wait for it)")
    listed = run([sys.executable, "-m", "doit", "list", f"out={out}", "nowait=1"])  # reading needs no lock
    assert listed.returncode == 0, listed.stderr


def test_the_lock_is_never_taken_through_a_symlink(tmp_path: Path) -> None:
    log = corpus_copy(TRAINING, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep")
    (out / LOCK_NAME).symlink_to(elsewhere)
    result = run(tlparse(log, out))
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: {out / LOCK_NAME} is a symbolic link; refusing to use it as the lock"
    assert elsewhere.read_text() == "keep"
    with pytest.raises(LockError, match="symbolic link"):
        acquire(out)


def test_a_foreign_out_is_refused_before_the_lock_writes_into_it(tmp_path: Path) -> None:
    log = corpus_copy(TRAINING, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run(tlparse(log, out))
    assert result.returncode == 1 and "already exists" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_overwrite_keeps_the_lock_file_a_waiting_run_holds_open(tmp_path: Path) -> None:
    out = tmp_path / "out"
    fd = acquire(out)
    try:
        (out / "old").mkdir()
        (out / "old" / "page.html").write_text("x")
        (tmp_path / "precious.txt").write_text("keep")
        (out / "link").symlink_to(tmp_path)
        inode = (out / LOCK_NAME).stat().st_ino
        prepare_out(out, tmp_path / "t.log", overwrite=True)
        assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_NAME, POOL_NAME])  # to be reused
        with recycling(out):
            pass
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
        assert (out / LOCK_NAME).stat().st_ino == inode
        assert (tmp_path / "precious.txt").read_text() == "keep"  # the link went, not what it points to
    finally:
        release(fd)


def test_a_journal_left_open_forgets_the_db_and_sweeps_temp_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "pages").mkdir(parents=True)
    db = out / ".tlparse-doit.db"
    assert begin_run(db) is False  # nothing to recover: the first run
    end_run(db)
    assert not incomplete_marker(db).exists()
    assert begin_run(db) is False
    db.write_bytes(b"old records")
    (out / "pages" / ".page.html.x1y2.tmp").write_text("half")
    (out / "pages" / "page.html").write_text("whole")
    # the run dies here: the marker stays
    assert begin_run(db) is True
    assert not db.exists() and not (out / "pages" / ".page.html.x1y2.tmp").exists()
    assert (out / "pages" / "page.html").read_text() == "whole"
    assert incomplete_marker(db).exists()  # until this run ends normally


def test_a_first_run_that_died_before_its_manifest_is_finished_without_overwrite(tmp_path: Path) -> None:
    """What a first run killed during the parse leaves: the lock, its journal naming the log,
    some store files, no manifest. The same log's next run finishes it; another log's refuses."""
    log = corpus_copy(TRAINING, tmp_path)
    out = tmp_path / "out"
    release(acquire(out))
    begin_run(out / ".tlparse-doit.db", log)
    (out / "intermediate").mkdir()
    (out / "intermediate" / "graphs.jsonl").write_text('{"half": ')
    (out / "intermediate" / ".graphs.jsonl.abc123.tmp").write_text("half")
    other = tmp_path / "other.log"
    other.write_bytes(log.read_bytes())
    refused = run(tlparse(other, out))
    assert refused.returncode == 1 and "already exists" in refused.stderr
    finished = run(tlparse(log, out))
    assert finished.returncode == 0, finished.stderr
    assert run(tlparse(log, tmp_path / "fresh")).returncode == 0
    assert tree(out) == tree(tmp_path / "fresh")
