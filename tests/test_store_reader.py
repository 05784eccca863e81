"""StoreReader.read_jsonl with `naming`: only the lines naming a wanted type are parsed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tlparse_tasks.store.reader import StoreReader, SubscriptionError

RECORDS = [
    {"type": "guard_added_fast", "line": 1, "metadata": {"expr": "s0 > 1"}},
    {"type": "dynamo_cpp_guards_str", "line": 2, "payload": 'TREE_GUARD "guard_added_fast" inside code'},
    {"type": "compilation_metrics", "line": 3, "extra": {"guard_added_fast": {"expr": "s1"}}},
    {"type": "other", "line": 4, "metadata": {"name": "guard_added_fast_not"}},
]


@pytest.fixture
def reader(tmp_path: Path) -> StoreReader:
    store = tmp_path / "intermediate"
    store.mkdir()
    (store / "guards.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in RECORDS) + b"\n")
    return StoreReader(tmp_path, "m", ("guards.jsonl",))


def test_naming_keeps_the_records_holding_the_name_as_a_key_or_a_value(reader: StoreReader) -> None:
    lines = [r["line"] for r in reader.read_jsonl("guards.jsonl", (b'"guard_added_fast"',))]
    assert lines == [1, 3]  # in a payload the quotes are escaped; a longer name is another word


def test_without_naming_every_record_is_read(reader: StoreReader) -> None:
    assert [r["line"] for r in reader.read_jsonl("guards.jsonl")] == [1, 2, 3, 4]


def test_an_unsubscribed_file_is_refused_with_or_without_naming(reader: StoreReader) -> None:
    with pytest.raises(SubscriptionError):
        next(reader.read_jsonl("cache.jsonl", (b'"x"',)))
