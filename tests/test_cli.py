"""The legacy command line: flags, messages, exit codes, module selection."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.logs import cid, entry, write
from tests.logs import simple_log as make_simple_log
from tlparse_tasks.cli import main
from tlparse_tasks.run import Outcome

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "tlparse_tasks", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


def test_python_m_renders_a_report_and_prints_stats(tmp_path: Path, simple_log: Path) -> None:
    result = run(str(simple_log), "-o", str(tmp_path / "out"), "--no-browser")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # like legacy: single-log runs say nothing on stdout
    assert result.stderr.strip().splitlines()[-1] == "Stats { ok: 64 }"
    for name in ("index.html", "modules.js", "compile_directory.json", "intermediate/manifest.json"):
        assert (tmp_path / "out" / name).is_file()


def test_default_output_dir_is_tl_out(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", make_simple_log())
    assert run(str(log), "--no-browser", cwd=tmp_path).returncode == 0
    assert (tmp_path / "tl_out" / "index.html").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["missing.log"], "Error: missing.log: no such file"),
    (["."], "Error: . is not a file (pass --latest to parse the newest log in it)"),
    (["fifo"], "Error: fifo is not a file"),  # its hashing, started first, does not wait for a writer
    (["t.log", "--latest"], "Error: Input path t.log is not a directory (required when using --latest)"),
    (["empty", "--latest"], "Error: No files found in directory empty"),
    (["t.log", "--modules", "nope"], "Error: unknown module `nope` (see tlparse --list-modules)"),
    (["--all-ranks-html", "d", "--latest"], "Error: --latest cannot be used with --all-ranks-html"),
    (["t.log", "-j", "-1"], "Error: -j/--jobs must be 0 (automatic) or a number of processes, not -1"),
    (["t.log", "-e", "--modules", "stack_trie"],
     "Error: module `stack_trie` does not run in export mode (see tlparse --list-modules)"),
    (["d", "--all-ranks-html", "--modules", "nope"], "Error: unknown module `nope` (see tlparse --list-modules)"),
])
def test_unusable_input_is_one_line_and_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    write(tmp_path / "t.log", make_simple_log())
    (tmp_path / "empty").mkdir()
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "fifo")
    result = run(*args, "--no-browser", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "tl_out").exists()  # refused before anything was written


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    """Permissions cannot stop root (which CI runs as), so the read itself is made to fail."""
    from tlparse_tasks import commands

    log = write(tmp_path / "t.log", make_simple_log())

    def refuse(path: object, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(commands, "open", refuse, raising=False)
    assert main([str(log), "-o", str(tmp_path / "o"), "--no-browser"]) == 1
    assert capsys.readouterr().err == f"Error: cannot read {log}: Permission denied\n"
    assert not (tmp_path / "o").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("--no-such-flag").returncode == 2


def test_every_legacy_flag_is_accepted(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", make_simple_log())
    result = run(str(log), "-o", str(tmp_path / "o"), "--overwrite", "--strict", "--strict-compile-id",
                 "--no-browser", "--custom-header-html", "<b>hello</b>", "-v", "-p", "-i")
    assert result.returncode == 0, result.stderr
    assert "<b>hello</b>" in (tmp_path / "o" / "index.html").read_text()


def test_existing_foreign_dir_needs_overwrite(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", make_simple_log())
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = run(str(log), "-o", str(out), "--no-browser")
    assert result.returncode == 1
    expected = f"Error: Directory {out} already exists; pass --overwrite to replace it or use -o OUTDIR"
    assert result.stderr.strip() == expected
    assert run(str(log), "-o", str(out), "--no-browser", "--overwrite").returncode == 0
    assert not (out / "keep.txt").exists()


def test_our_own_report_of_the_same_log_is_updated_in_place(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", make_simple_log())
    out = tmp_path / "o"
    assert main([str(log), "-o", str(out), "--no-browser"]) == 0
    assert main([str(log), "-o", str(out), "--no-browser"]) == 0
    assert Outcome.last is not None and Outcome.last.executed == []  # everything up to date
    other = write(tmp_path / "other.log", make_simple_log())
    assert main([str(other), "-o", str(out), "--no-browser"]) == 1  # a different log: legacy rule


def test_latest_picks_the_newest_file(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    old = write(logs / "old.log", entry({"artifact": {"name": "old_one", "encoding": "string"}, **cid()}, "x"))
    new = write(logs / "new.log", entry({"artifact": {"name": "new_one", "encoding": "string"}, **cid()}, "y"))
    os.utime(old, (time.time() - 100, time.time() - 100))
    os.utime(new, (time.time(), time.time()))
    result = run(str(logs), "--latest", "-o", str(tmp_path / "o"), "--no-browser")
    assert result.returncode == 0, result.stderr
    assert "new_one" in (tmp_path / "o" / "compile_directory.json").read_text()


def test_strict_fails_on_parse_problems_but_keeps_the_report(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", make_simple_log() + "this is not a log line\n")
    assert run(str(log), "-o", str(tmp_path / "a"), "--no-browser").returncode == 0
    result = run(str(log), "-o", str(tmp_path / "b"), "--no-browser", "--strict")
    assert result.returncode == 1
    assert "Stats { ok: 4, fail_glog: 1 }" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: Something went wrong")
    assert (tmp_path / "b" / "index.html").exists()


def test_strict_compile_id(tmp_path: Path) -> None:
    ok = write(tmp_path / "ok.log", make_simple_log() + entry({"chromium_event": {}}, "{}"))
    assert run(str(ok), "-o", str(tmp_path / "a"), "--no-browser", "--strict-compile-id").returncode == 0
    bad = write(tmp_path / "bad.log", entry({"artifact": {"name": "a", "encoding": "string"}, "frame_id": "x"}, "p"))
    result = run(str(bad), "-o", str(tmp_path / "b"), "--no-browser", "--strict-compile-id")
    assert result.returncode == 1
    assert result.stderr.strip().endswith("Error: Some log entries did not have compile id")


def test_modules_subset_shows_only_what_ran(tmp_path: Path, simple_log: Path) -> None:
    out = tmp_path / "o"
    assert main([str(simple_log), "-o", str(out), "--no-browser", "--modules", "stack_trie"]) == 0
    assert Outcome.last is not None
    assert set(Outcome.last.executed) == {"parse", "module:stack_trie", "assemble"}
    html = (out / "index.html").read_text()
    assert "Stack trie" in html and "Compile directory" not in html
    assert not (out / "compile_directory.json").exists()
    assert main([str(simple_log), "-o", str(out), "--no-browser", "--skip-modules", "stack_trie"]) == 0
    assert Outcome.last is not None
    executed = set(Outcome.last.executed)
    assert "module:stack_trie" not in executed and {"module:compile_directory", "assemble"} <= executed
    html = (out / "index.html").read_text()
    assert "Compile directory" in html and "Stack trie" not in html


def test_list_modules() -> None:
    result = run("--list-modules")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["id", "strategy"]
    assert any(line.startswith("stack_trie ") for line in lines)
    assert any(line.startswith("compile_directory ") for line in lines)


def test_parallel_jobs(tmp_path: Path, simple_log: Path) -> None:
    assert main([str(simple_log), "-o", str(tmp_path / "o"), "--no-browser", "-j", "2"]) == 0
    assert (tmp_path / "o" / "compile_directory.json").is_file()


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tlparse_tasks.actions import run_parse

    log = write(tmp_path / "t.log", make_simple_log())
    run_parse(str(log), str(tmp_path / "o"), {}, show_progress=True)
    captured = capsys.readouterr()
    assert "parsing t.log" in captured.err and captured.out == ""


def test_browser_is_not_opened_when_stdout_is_not_a_tty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    log = write(tmp_path / "t.log", make_simple_log())
    assert main([str(log), "-o", str(tmp_path / "o")]) == 0
    assert opened == []
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert main([str(log), "-o", str(tmp_path / "p")]) == 0
    assert opened == [(tmp_path / "p" / "index.html").resolve().as_uri()]
    assert main([str(log), "-o", str(tmp_path / "q"), "--no-browser"]) == 0
    assert len(opened) == 1


def messy_rank_logs(tmp_path: Path) -> Path:
    """Two rank logs plus files that are not rank logs."""
    from tests.conftest import LEGACY_TESTS

    logs = tmp_path / "logs"
    logs.mkdir()
    for path in (LEGACY_TESTS / "multi_rank_messy_input").iterdir():
        (logs / path.name).write_bytes(path.read_bytes())
    return logs


def test_all_ranks_html_builds_one_report_per_rank_and_a_landing_page(tmp_path: Path) -> None:
    logs = messy_rank_logs(tmp_path)
    out = tmp_path / "o"
    result = run(str(logs), "--all-ranks-html", "-o", str(out), "--no-browser")
    assert result.returncode == 0, result.stderr
    assert f"Multi-rank report generated under {out}" in result.stdout
    landing = (out / "index.html").read_text()
    for rank in (0, 1):
        assert (out / f"rank_{rank}" / "index.html").is_file()
        assert f'<a href="rank_{rank}/index.html">' in landing
    assert not (out / "rank_2").exists()  # another.log and some_other_file.txt are not ranks
    empty = tmp_path / "none"
    empty.mkdir()
    result = run(str(empty), "--all-ranks-html", "-o", str(tmp_path / "p"), "--no-browser")
    assert result.returncode == 1 and "No rank log files found in directory" in result.stderr


def test_all_ranks_html_applies_the_run_options_to_every_rank(tmp_path: Path) -> None:
    """--modules, -j, -p and --strict mean the same per rank as for one log."""
    logs = messy_rank_logs(tmp_path)
    rank_1 = logs / "dedicated_log_torch_trace_rank_1.log"
    rank_1.write_text(rank_1.read_text() + "this is not a log line\n")
    out = tmp_path / "o"
    result = run(str(logs), "--all-ranks-html", "-o", str(out), "--no-browser", "--modules",
                 "compile_directory,raw", "-j", "2", "--strict")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: rank 1: Something went wrong (--strict: the log had parse problems; see above)")
    stats = [line for line in result.stderr.splitlines() if line.startswith("Stats {")]
    assert len(stats) == 2 and stats[0] == "Stats { ok: 64 }" and stats[1] != stats[0]  # one per rank
    assert (out / "index.html").is_file()  # the report is kept, as for one log
    for rank in (0, 1):
        assert (out / f"rank_{rank}" / "compile_directory.json").is_file()
        assert (out / f"rank_{rank}" / "raw.jsonl").is_file()
        assert "Stack trie" not in (out / f"rank_{rank}" / "index.html").read_text()
    assert not (out / "rank_0" / "chromium_events.json").exists()


def exiting(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`script` run by a fresh Python (stdout a pipe, so block-buffered) that ends with exit_now."""
    return subprocess.run([sys.executable, "-c", "from tlparse_tasks.cli import exit_now\n" + script],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)


def test_the_command_exits_fast_yet_runs_exit_handlers_and_flushes(tmp_path: Path) -> None:
    """exit_now skips Python's teardown of the heap, not what a normal exit does for others:
    exit handlers run, buffered output comes out, the code is main's."""
    done = exiting("import atexit, sys\n"
                   "atexit.register(lambda: open('handler.txt', 'w').write('ran'))\n"
                   "sys.stdout.write('buffered')\n"
                   "exit_now(3)\n", tmp_path)
    assert done.returncode == 3 and done.stdout == "buffered"
    assert (tmp_path / "handler.txt").read_text() == "ran"


def test_a_daemon_thread_does_not_hold_the_exit(tmp_path: Path) -> None:
    """A process pool leaves daemon threads (its queues' feeders): the exit is still the fast one,
    and does not wait for them, as Python's own would not."""
    done = exiting("import atexit, threading, time\n"
                   + TEARDOWN_PROBE
                   + "atexit.register(lambda: open('handler.txt', 'w').write('ran'))\n"
                   "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
                   "exit_now(4)\n", tmp_path)
    assert done.returncode == 4
    assert (tmp_path / "handler.txt").read_text() == "ran"
    assert "teardown" not in done.stderr  # the heap was left to the system


#: An object that says so when Python's teardown of the heap frees it (a normal exit does).
TEARDOWN_PROBE = ("import os\n"
                  "class Probe:\n"
                  "    def __del__(self, write=os.write):\n"
                  "        write(2, b'teardown')\n"
                  "probe = Probe()\n")


def test_the_command_waits_for_a_thread_still_running(tmp_path: Path) -> None:
    """With another thread alive (a Dask client's), the exit is Python's own, which waits for it."""
    done = exiting("import threading, time\n"
                   + TEARDOWN_PROBE
                   + "def late():\n"
                   "    time.sleep(0.3)\n"
                   "    open('thread.txt', 'w').write('done')\n"
                   "threading.Thread(target=late).start()\n"
                   "exit_now(0)\n", tmp_path)
    assert done.returncode == 0
    assert (tmp_path / "thread.txt").read_text() == "done"
    assert "teardown" in done.stderr  # Python's own exit
