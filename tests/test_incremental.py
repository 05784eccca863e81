"""Incremental runs: a grown log resumes the parse; unchanged inputs keep modules up to date."""

from __future__ import annotations

import errno
import hashlib
import multiprocessing
import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.fixture_modules import STACK_TRIE_ONLY_YAML
from tests.fuzz.oracle import without_history
from tests.logs import PREFIX, cid, entry
from tests.logs import simple_log as simple_log_text
from tlparse_tasks.cli import main
from tlparse_tasks.parse import digests, parser, resume
from tlparse_tasks.parse.digests import hash_log
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.parse.state import ParseOptions
from tlparse_tasks.run import Outcome
from tlparse_tasks.store import writers

INTERMEDIATE = ("manifest.json", "string_table.json", "chromium_events.json", "graphs.jsonl",
                "codegen.jsonl", "guards.jsonl", "compilation_metrics.jsonl", "artifacts.jsonl",
                "cache.jsonl", "tensor_metadata.jsonl", "export.jsonl", "index.jsonl", "raw.jsonl", "parse_state.json")


def assert_same_store(a: Path, b: Path) -> None:
    """Byte for byte, but for the history of resume points (which the runs did differ in)."""
    for name in INTERMEDIATE:
        assert without_history(a / "intermediate" / name) == without_history(b / "intermediate" / name), name


def cut_points(data: bytes) -> dict[str, int]:
    """Places to split a log: after a whole record, inside a payload, in the middle of a line."""
    mid = len(data) // 2
    line_start = data.index(b"\nV", mid) + 1
    payload_line = data.index(b"\n\t", mid) + 1
    return {"record boundary": line_start, "inside a payload": payload_line + 1,
            "mid line": line_start + 7}


@pytest.mark.parametrize("where", ["record boundary", "inside a payload", "mid line"])
@pytest.mark.parametrize("source", [LEGACY_TESTS / "simple.log", TORCH_213 / "03_graph_breaks"
                                    / "dedicated_log_torch_trace_qljjxkkz.log"], ids=["simple", "graph_breaks"])
def test_append_gives_the_same_bytes_as_a_full_parse(tmp_path: Path, source: Path, where: str) -> None:
    full_log = corpus_copy(source, tmp_path)
    data = full_log.read_bytes()
    cut = cut_points(data)[where]
    growing = tmp_path / "growing.log"
    growing.write_bytes(data[:cut])
    first = parse_log(growing, tmp_path / "inc", stderr=None)
    assert not first.resumed
    with open(growing, "ab") as handle:
        handle.write(data[cut:])
    point = orjson.loads((tmp_path / "inc" / "intermediate" / "parse_state.json").read_bytes())["resume"]
    second = parse_log(growing, tmp_path / "inc", stderr=None)
    assert second.resumed
    history = orjson.loads((tmp_path / "inc" / "intermediate" / "parse_state.json").read_bytes())["resume"]["history"]
    assert history == [[point["offset"], point["digest"]]]  # the point it grew from: its bytes are still there
    shutil.copyfile(full_log, growing)  # same path, so the manifests name the same source
    parse_log(growing, tmp_path / "full", stderr=None)
    assert_same_store(tmp_path / "inc", tmp_path / "full")


@pytest.mark.parametrize("copy", ["kernel", "by hand"])
def test_raw_jsonl_grows_with_its_string_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copy: str) -> None:
    """An appended `str` changes raw.jsonl's first line; the resumed parse keeps the envelope
    lines it had and gives the bytes of a full parse, whether the kernel copies or we do."""
    if copy == "by hand":
        def refuse(*_args: object) -> int:
            raise OSError(errno.EXDEV, "cross-device")
        monkeypatch.setattr(writers, "_kernel_copy", refuse)
    first = simple_log_text() + entry({"artifact": {"name": "a", "encoding": "string"}, **cid()}, "one")
    more = entry({"str": ["/late/file.py", 1]}) + entry({"my_type": {"n": 1}, **cid()}, "two")
    log = tmp_path / "t.log"
    log.write_text(first)
    parse_log(log, tmp_path / "inc", stderr=None)
    before = (tmp_path / "inc" / "intermediate" / "raw.jsonl").read_bytes().splitlines(keepends=True)
    with open(log, "a") as handle:
        handle.write(more)
    assert parse_log(log, tmp_path / "inc", stderr=None).resumed
    after = (tmp_path / "inc" / "intermediate" / "raw.jsonl").read_bytes().splitlines(keepends=True)
    assert after[0] == b'{"string_table":["/home/user/model.py","/late/file.py"]}\n' != before[0]
    assert after[1:len(before)] == before[1:] and len(after) == len(before) + 1
    parse_log(log, tmp_path / "full", stderr=None)
    assert_same_store(tmp_path / "inc", tmp_path / "full")


def test_a_rewritten_log_starts_over(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text(entry({"artifact": {"name": "a", "encoding": "string"}, **cid()}, "one"))
    parse_log(log, tmp_path / "out", stderr=None)
    log.write_text(entry({"artifact": {"name": "b", "encoding": "string"}, **cid()}, "two")
                   + entry({"artifact": {"name": "c", "encoding": "string"}, **cid()}, "three"))
    result = parse_log(log, tmp_path / "out", stderr=None)
    assert not result.resumed
    assert result.manifest["artifact_counts"] == {"b": 1, "c": 1}


BAD_LINE = PREFIX + "{this is not json\n"


@pytest.fixture
def no_inline_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a tiny log gets its digests from a helper (not hashed at once, as up to 4 MB)."""
    monkeypatch.setattr(digests, "INLINE_HASH_BYTES", 0)


def test_the_helper_guesses_the_length_to_check_from_the_saved_point(tmp_path: Path) -> None:
    """parse_state.json begins with the bytes the last parse read (resume.save_resume), which
    the command's helper reads without a JSON parser: the guess is what the parse checks."""
    data = simple_log_text().encode()
    log = tmp_path / "t.log"
    log.write_bytes(data)
    out = tmp_path / "out"
    parse_log(log, out, stderr=None)
    state = out / "intermediate" / "parse_state.json"
    assert digests.length_to_check(state, len(data)) is None  # not grown: no parse expected
    assert digests.length_to_check(state, len(data) + 10) == len(data) == length_read(log, out)
    assert digests.length_to_check(state, len(data) - 10) == 0  # shorter: a parse from the start
    assert digests.length_to_check(tmp_path / "none.json", 10) == 0
    state.write_bytes(b'{"resume":{"length":5}}')  # not as save_resume writes it
    assert digests.length_to_check(state, 10) == 0


@pytest.mark.usefixtures("no_inline_hash")
@pytest.mark.parametrize("guess", [4, None], ids=["another length", "nothing hashed"])
def test_a_parse_that_needs_other_digests_than_the_helper_guessed_hashes_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guess: int | None) -> None:
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # a process, as in the command
    log = tmp_path / "t.log"
    log.write_bytes(b"abcdef")
    hasher = digests.LogHasher(log, lambda size: guess)
    assert isinstance(hasher._helper, int)
    assert hasher.digests(2) == digests.LogDigests(2, hashlib.sha256(b"ab").hexdigest(),
                                                   hashlib.sha256(b"abcdef").hexdigest())
    if guess is not None:
        assert hasher.digests().prefix_length == 2  # what it hashed last serves any parse from the start
    hasher.close()


def test_a_small_log_is_hashed_at_once(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_bytes(b"abcdef")
    hasher = digests.LogHasher(log, 2)
    assert hasher._helper is None and hasher.ready()
    assert hasher.digests() == digests.LogDigests(2, hashlib.sha256(b"ab").hexdigest(),
                                                 hashlib.sha256(b"abcdef").hexdigest())
    hasher.close()


@pytest.mark.usefixtures("no_inline_hash")
@pytest.mark.parametrize("poll", [parser.POLL_RECORDS, 1], ids=["checked at the end", "checked early"])
def test_a_log_replaced_by_a_longer_one_starts_over_and_reports_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], poll: int) -> None:
    """The prefix is checked while the parse goes on past it: a log replaced by a longer one
    (its first bytes differ, its length does not say so) is parsed from the start, each of its
    problems is printed once, and the store is a fresh parse's, whenever the check fails."""
    monkeypatch.setattr(parser, "POLL_RECORDS", poll)
    if poll == 1:  # the digests are ready when the parse first looks
        monkeypatch.setattr(digests.LogHasher, "ready", lambda self: True)
    else:  # the parse reads on while the log is hashed
        monkeypatch.setattr(digests, "hash_log", slow_hash_log)
    log = tmp_path / "t.log"
    one = entry({"artifact": {"name": "a", "encoding": "string"}, **cid()}, "one")
    log.write_text(entry({"str": ["/a.py", 0]}) + one)
    parse_log(log, tmp_path / "out", stderr=None)
    two = entry({"artifact": {"name": "b", "encoding": "string"}, **cid()}, "two")
    log.write_text(entry({"str": ["/b.py", 0]}) + one + BAD_LINE + two)
    result = parse_log(log, tmp_path / "out", stderr=sys.stderr)
    assert not result.resumed
    assert result.manifest["artifact_counts"] == {"a": 1, "b": 1}
    assert capsys.readouterr().err.splitlines() == [f"{log}:4: invalid envelope JSON: unexpected character, "
                                                    "expected a string key: line 1 column 2 (char 1)"]
    parse_log(log, tmp_path / "fresh", stderr=None)
    assert_same_store(tmp_path / "out", tmp_path / "fresh")


@pytest.mark.usefixtures("no_inline_hash")
def test_a_grown_log_reports_its_new_problems_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """What a resumed parse prints is held until its prefix is known to match, then printed."""
    monkeypatch.setattr(digests, "hash_log", slow_hash_log)
    log = tmp_path / "t.log"
    one = entry({"artifact": {"name": "a", "encoding": "string"}, **cid()}, "one")
    log.write_text(entry({"str": ["/a.py", 0]}) + one)
    parse_log(log, tmp_path / "out", stderr=None)
    with open(log, "a") as handle:
        handle.write(BAD_LINE + entry({"artifact": {"name": "b", "encoding": "string"}, **cid()}, "two"))
    assert parse_log(log, tmp_path / "out", stderr=sys.stderr).resumed
    printed = capsys.readouterr().err.splitlines()
    assert len(printed) == 1 and printed[0].startswith(f"{log}:4: ")


@pytest.mark.parametrize(("prefix", "expected"), [(3, b"abc"), (0, b""), (6, b"abcdef"), (7, None)])
def test_log_hasher_gives_both_digests_from_one_pass(tmp_path: Path, prefix: int, expected: bytes | None) -> None:
    log = tmp_path / "t.log"
    log.write_bytes(b"abcdef")
    hasher = digests.LogHasher(log, prefix)
    with open(log, "ab") as handle:
        handle.write(b"ghi")  # after it opened: neither digest covers it
    found = hasher.digests()
    assert found.whole == hashlib.sha256(b"abcdef").hexdigest() and hasher.size == 6
    assert found.prefix == (hashlib.sha256(expected).hexdigest() if expected is not None else None)
    hasher.close()


@pytest.mark.usefixtures("no_inline_hash")
@pytest.mark.parametrize("helper", ["process", "thread"])
def test_the_digests_reach_a_process_forked_while_they_are_computed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper: str) -> None:
    """The helper (a process, or a thread when others run) sends the digests through a pipe,
    which a parse forked meanwhile reads."""
    log = tmp_path / "t.log"
    log.write_bytes(b"abcdef")
    monkeypatch.setattr(digests, "hash_log", slow_hash_log)
    other = threading.Event()
    if helper == "thread":
        threading.Thread(target=other.wait, daemon=True).start()
    else:  # as in the CLI, whatever threads earlier tests left in this process
        monkeypatch.setattr(threading, "active_count", lambda: 1)
    hasher = digests.LogHasher(log, 2)
    assert isinstance(hasher._helper, threading.Thread) == (helper == "thread")
    assert not hasher.ready()
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()
    child = context.Process(target=lambda: queue.put(hasher.digests()))
    child.start()
    child.join(10)
    other.set()
    assert child.exitcode == 0
    assert queue.get() == digests.LogDigests(2, hashlib.sha256(b"ab").hexdigest(),
                                             hashlib.sha256(b"abcdef").hexdigest())
    hasher.close()


@pytest.mark.usefixtures("no_inline_hash")
def test_a_thread_hashes_when_no_process_can_be_forked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> int:
        raise BlockingIOError("Resource temporarily unavailable")
    log = tmp_path / "t.log"
    log.write_bytes(b"abcdef")
    monkeypatch.setattr(os, "fork", refuse)
    hasher = digests.LogHasher(log, 2)
    assert isinstance(hasher._helper, threading.Thread)
    assert hasher.digests() == digests.LogDigests(2, hashlib.sha256(b"ab").hexdigest(),
                                                 hashlib.sha256(b"abcdef").hexdigest())
    hasher.close()


def hasher_with_a_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashing: Any) -> digests.LogHasher:
    """A LogHasher of `abcdef` (its first 2 bytes checked) whose helper is a process running
    `hashing`, as in the CLI (whatever threads earlier tests left here)."""
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(digests, "INLINE_HASH_BYTES", 0)
    monkeypatch.setattr(digests, "hash_log", hashing)
    log = tmp_path / "t.log"
    log.write_bytes(b"abcdef")
    hasher = digests.LogHasher(log, 2)
    assert isinstance(hasher._helper, int)
    return hasher


def test_a_parse_hashes_by_itself_when_the_helper_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = hasher_with_a_process(tmp_path, monkeypatch, slow_hash_log)
    assert isinstance(hasher._helper, int)
    os.kill(hasher._helper, signal.SIGKILL)
    monkeypatch.setattr(digests, "hash_log", hash_log)
    assert hasher.digests().whole == hashlib.sha256(b"abcdef").hexdigest()
    hasher.close()


def test_closing_stops_a_helper_whose_digests_nobody_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A parse found up to date reads no digests: the run does not wait for them."""
    hasher = hasher_with_a_process(tmp_path, monkeypatch, lambda *args: time.sleep(30))
    started = time.monotonic()
    hasher.close()
    assert time.monotonic() - started < 10


def test_a_log_growing_during_the_parse_is_read_up_to_its_size_when_hashing_began(tmp_path: Path) -> None:
    """The CLI starts hashing before the parse starts (`prefetching`): what the log gains in
    between is left to the next run, which resumes and ends with a fresh parse's store."""
    data = corpus_copy(LEGACY_TESTS / "simple.log", tmp_path).read_bytes()
    cut = cut_points(data)["record boundary"]
    log = tmp_path / "growing.log"
    log.write_bytes(data[:cut])
    out = tmp_path / "out"
    parse_log(log, out, stderr=None)
    with open(log, "ab") as handle:
        handle.write(data[cut:cut + 10])
    with digests.prefetching(log, length_read(log, out)):
        with open(log, "ab") as handle:
            handle.write(data[cut + 10:])
        first = parse_log(log, out, stderr=None)
    assert first.resumed and first.manifest["source"]["size"] == cut + 10
    assert parse_log(log, out, stderr=None).resumed
    fresh = tmp_path / "fresh" / "growing.log"
    fresh.parent.mkdir()
    parse_log(log, tmp_path / "fresh", stderr=None)
    assert_same_store(out, tmp_path / "fresh")


@pytest.mark.usefixtures("no_inline_hash")
@pytest.mark.parametrize("when", ["while it is hashed", "once it is hashed"])
def test_a_log_cut_after_the_hashing_began_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       when: str) -> None:
    """The digests and the size would describe bytes the parse did not read: it stops, and
    the store it had stays as it was."""
    log = tmp_path / "t.log"
    data = simple_log_text().encode()
    log.write_bytes(data)
    out = tmp_path / "out"
    parse_log(log, out, stderr=None)
    before = {p.name: p.read_bytes() for p in (out / "intermediate").iterdir()}
    with open(log, "ab") as handle:
        handle.write(entry({"artifact": {"name": "more", "encoding": "string"}, **cid()}, "x").encode())
    if when == "while it is hashed":
        monkeypatch.setattr(digests, "hash_log", slow_hash_log)
    with digests.prefetching(log, length_read(log, out)):
        if when == "once it is hashed":
            digests.log_hasher(log, 0)[0].digests()
        with open(log, "r+b") as handle:
            handle.truncate(len(data) // 2)
        with pytest.raises(OSError, match=re.escape(f"cannot read {log}: it got shorter while it was read (")):
            parse_log(log, out, stderr=None)
    assert {p.name: p.read_bytes() for p in (out / "intermediate").iterdir()} == before


def length_read(log: Path, out: Path) -> int:
    """The bytes of `log` its last parse into `out` read, by its saved point."""
    found = resume.load_resume(log, out / "intermediate", ParseOptions())
    assert found is not None
    return found.length


def slow_hash_log(fd: int, prefix_length: int, size: int) -> digests.LogDigests:
    time.sleep(0.2)
    return hash_log(fd, prefix_length, size)


def test_unchanged_bytes_keep_file_times(tmp_path: Path, simple_log: Path) -> None:
    """Files are rewritten only when their bytes change, so doit's md5 check can skip work."""
    out = tmp_path / "out"
    parse_log(simple_log, out, stderr=None)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "intermediate").iterdir()}
    with open(simple_log, "a") as handle:  # a chromium event only touches its own file
        handle.write("\n" + entry({"chromium_event": {}}, '{"name": "x", "ph": "i", "ts": 1, "pid": 0, "tid": 0}'))
    result = parse_log(simple_log, out, stderr=None)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "intermediate").iterdir()}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"chromium_events.json", "manifest.json", "parse_state.json"}
    assert set(result.changed_files) == {"chromium_events.json", "manifest.json"}


MODULES_YAML = STACK_TRIE_ONLY_YAML + """\
  - id: tensors
    name: Tensors
    entry: tests.fixture_modules:count_tensors
    subscriptions: [tensor_metadata.jsonl]
    strategy: eager
"""


def run_cli(log: Path, out: Path, config: Path) -> Outcome:
    assert main([str(log), "-o", str(out), "--no-browser", "--modules-config", str(config)]) == 0
    return Outcome.last


def test_only_modules_whose_inputs_changed_rerun(tmp_path: Path, simple_log: Path) -> None:
    config = tmp_path / "modules.yaml"
    config.write_text(MODULES_YAML)
    out = tmp_path / "out"
    first = run_cli(simple_log, out, config)
    assert set(first.executed) == {"parse", "module:stack_trie", "module:tensors", "assemble"}
    again = run_cli(simple_log, out, config)
    assert again.executed == [] and "module:tensors" in again.uptodate
    with open(simple_log, "a") as handle:  # simple.log has no final newline
        handle.write("\n" + entry({"str": ["/new/file.py", 40]}))
    grown = run_cli(simple_log, out, config)
    assert "parse" in grown.executed and "module:stack_trie" in grown.executed
    assert "module:tensors" in grown.uptodate  # tensor_metadata.jsonl kept its bytes
    assert (out / "tensor_count.txt").read_text() == "3"


def test_a_parse_killed_while_a_store_file_had_no_name_starts_again(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A store file is not renamed over the old one: the old name is removed first (atomic.py).
    A run that dies in between leaves the store without the file, and the next parse, finding
    nothing to resume from, parses from the start: its store is a fresh one's."""
    data = simple_log_text().encode()
    cut = cut_points(data)["record boundary"]
    log = tmp_path / "t.log"
    log.write_bytes(data[:cut])
    out = tmp_path / "out"
    parse_log(log, out, stderr=None)
    log.write_bytes(data)
    real = os.replace

    def dying(src: str, dst: str, **kwargs: Any) -> None:
        if dst == "raw.jsonl":
            raise KeyboardInterrupt  # killed: the old raw.jsonl is gone, the new one not in place
        real(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", dying)
    with pytest.raises(KeyboardInterrupt):
        parse_log(log, out, stderr=None)
    monkeypatch.setattr(os, "replace", real)
    assert not (out / "intermediate" / "raw.jsonl").exists()
    again = parse_log(log, out, stderr=None)
    assert not again.resumed
    parse_log(log, tmp_path / "fresh", stderr=None)
    assert_same_store(out, tmp_path / "fresh")
