"""The doit file check: our own store files by identity, others by md5, each hashed once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tlparse_tasks import checker
from tlparse_tasks.atomic import write_bytes
from tlparse_tasks.checker import IDENTITY, StoreAwareChecker


def state_of(path: Path) -> list[object]:
    return list(StoreAwareChecker().get_state(str(path), None))


def modified(path: Path, state: list[object]) -> bool:
    return StoreAwareChecker().check_modified(str(path), os.stat(path), state)


def test_a_store_file_is_known_by_identity_and_an_unchanged_rewrite_is_no_change(tmp_path: Path) -> None:
    store = tmp_path / "intermediate" / "graphs.jsonl"
    write_bytes(store, b'{"a": 1}\n', root=tmp_path)
    state = state_of(store)
    assert str(state[2]).startswith(IDENTITY)
    write_bytes(store, b'{"a": 1}\n', root=tmp_path)  # change-only: same bytes, same file
    assert not modified(store, state)
    write_bytes(store, b'{"a": 2}\n', root=tmp_path)  # same size, new bytes: a new file
    assert modified(store, state)


def test_other_files_keep_md5_and_a_touch_alone_is_no_change(tmp_path: Path) -> None:
    template = tmp_path / "templates" / "page.html"
    template.parent.mkdir()
    template.write_text("<p>{{ x }}</p>")
    state = state_of(template)
    assert len(str(state[2])) == 32 and not str(state[2]).startswith(IDENTITY)
    os.utime(template, ns=(1, 1))
    assert not modified(template, state)
    template.write_text("<b>{{ x }}</b>")
    assert modified(template, state)


def test_a_file_listed_by_many_tasks_is_hashed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "module.py"
    source.write_text("x = 1\n")
    calls: list[str] = []
    real = checker.get_file_md5
    monkeypatch.setattr(checker, "get_file_md5", lambda p: calls.append(p) or real(p))
    states = [state_of(source) for _ in range(5)]
    assert calls == [str(source)] and all(s == states[0] for s in states)


def test_an_unchanged_state_is_not_recorded_again(tmp_path: Path) -> None:
    store = tmp_path / ".modules" / "search.json"
    write_bytes(store, b"{}", root=tmp_path)
    state = state_of(store)
    assert StoreAwareChecker().get_state(str(store), state) is None
