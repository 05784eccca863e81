"""The raw module: raw.jsonl stored once (a hard link to the store's), payloads/ complete and
written again only where a grown log changed them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LEGACY_TESTS, corpus_copy
from tests.logs import PREFIX, cid, entry, write
from tlparse_tasks.cli import main
from tlparse_tasks.modules import raw as raw_module


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def claiming(envelope: dict[str, object], claimed: str, payload: str) -> str:
    """An entry whose has_payload names `claimed`'s md5 while it carries `payload`."""
    line = PREFIX + json.dumps({**envelope, "has_payload": md5(claimed)}) + "\n"
    return line + "".join(f"\t{part}\n" for part in payload.split("\n"))


UNKNOWN = {"my_new_type": {}, **cid()}  # an unknown type: its payload only payloads/ holds
BASE64 = {"artifact": {"name": "fx_graph_cache_hit", "encoding": "base64"}, **cid()}  # cache stream


def build(log: Path, out: Path) -> None:
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1", "--modules", "raw"]) == 0


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The store files the raw module scans for payloads/ entries, in order."""
    read: list[str] = []
    scan = raw_module._payload_lines

    def counting(path: Path) -> Iterator[dict[str, Any]]:
        read.append(path.name)
        return scan(path)

    monkeypatch.setattr(raw_module, "_payload_lines", counting)
    return read


def payloads(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((out / "payloads").iterdir())}


def test_raw_jsonl_is_the_store_file_hard_linked(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(corpus_copy(LEGACY_TESTS / "simple.log", tmp_path), out)
    report, store = out / "raw.jsonl", out / "intermediate" / "raw.jsonl"
    assert os.path.samefile(report, store)
    lines = report.read_bytes().splitlines(keepends=True)
    assert lines[0] == (out / "intermediate" / "string_table.json").read_bytes()
    assert len(lines) == 15  # legacy: the string table and 14 envelopes
    manifest = json.loads((out / "intermediate" / "manifest.json").read_text())
    assert manifest["files"]["raw.jsonl"]["count"] == len(lines)


def test_a_payload_file_holds_the_last_entry_of_its_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Legacy writes payloads/<has_payload>.txt for each entry in log order: the last one wins,
    whichever stream its entry went to."""
    log = write(tmp_path / "t.log", entry(UNKNOWN, "one") + entry(BASE64, "two")
                + claiming(UNKNOWN, "one", "changed"))
    out = tmp_path / "out"
    build(log, out)
    assert payloads(out) == {f"{md5('one')}.txt": "changed", f"{md5('two')}.txt": "two"}
    assert "2 payloads" in (out / "index.html").read_text()
    assert "fail_payload_md5: 1" in capsys.readouterr().err


def test_a_grown_log_writes_only_new_and_changed_payloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = write(tmp_path / "t.log", entry(UNKNOWN, "one") + entry(BASE64, "two"))
    out = tmp_path / "out"
    build(log, out)
    one, two = out / "payloads" / f"{md5('one')}.txt", out / "payloads" / f"{md5('two')}.txt"
    before = {path: path.stat().st_mtime_ns for path in (one, two)}

    read = count_reads(monkeypatch)
    with open(log, "a") as handle:
        handle.write(entry({"str": ["/new/file.py", 0]}) + claiming(BASE64, "two", "two, again")
                     + entry(UNKNOWN, "three"))
    build(log, out)
    assert payloads(out) == {f"{md5('one')}.txt": "one", f"{md5('two')}.txt": "two, again",
                             f"{md5('three')}.txt": "three"}
    assert one.stat().st_mtime_ns == before[one]  # unchanged: not written again
    assert sorted(read) == ["artifacts.jsonl", "cache.jsonl", "index.jsonl"]  # only streams holding new ones


    fresh = tmp_path / "fresh"
    build(log, fresh)
    assert payloads(fresh) == payloads(out)
    assert (fresh / "raw.jsonl").read_bytes() == (out / "raw.jsonl").read_bytes()
    assert os.path.samefile(out / "raw.jsonl", out / "intermediate" / "raw.jsonl")
    assert json.loads((out / "raw.jsonl").read_bytes().splitlines()[0]) == {"string_table": ["/new/file.py"]}


def test_a_rerun_with_no_new_payload_reads_no_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Appending entries without payloads/ files leaves the module reading index.jsonl only."""
    log = write(tmp_path / "t.log", entry(UNKNOWN, "one"))
    out = tmp_path / "out"
    build(log, out)
    read = count_reads(monkeypatch)
    with open(log, "a") as handle:
        handle.write(entry({"artifact": {"name": "a", "encoding": "string"}, **cid()}, "in its own file"))
    build(log, out)
    assert read == ["index.jsonl"]
    assert len(out.joinpath("raw.jsonl").read_text().splitlines()) == 3
