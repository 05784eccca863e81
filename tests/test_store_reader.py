"""StoreReader.read_jsonl with `naming`: only the lines naming a wanted type are parsed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tlparse_tasks.store.reader import StoreReader, SubscriptionError, at_lines, naming

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
    lines = [r["line"] for r in reader.read_jsonl("guards.jsonl", naming(b'"guard_added_fast"'))]
    assert lines == [1, 3]  # in a payload the quotes are escaped; a longer name is another word


def test_at_lines_keeps_the_records_of_those_log_lines(reader: StoreReader) -> None:
    assert [r["line"] for r in reader.read_jsonl("guards.jsonl", at_lines({2, 4, 40}))] == [2, 4]


def test_without_naming_every_record_is_read(reader: StoreReader) -> None:
    assert [r["line"] for r in reader.read_jsonl("guards.jsonl")] == [1, 2, 3, 4]


def test_an_unsubscribed_file_is_refused_with_or_without_naming(reader: StoreReader) -> None:
    with pytest.raises(SubscriptionError):
        next(reader.read_jsonl("cache.jsonl", naming(b'"x"')))


def test_a_long_line_reads_as_orjson_reads_it(tmp_path: Path) -> None:
    """Lines from BIG_LINE bytes on go through the standard library (bounded memory): the
    values must be orjson's, floats, escapes and non-ASCII text included."""
    from tlparse_tasks.store.reader import BIG_LINE

    record = {"type": "dynamo_cpp_guards_str", "line": 7, "f": [0.1, 1e-7, 2.5e300, -0.0], "n": 2**63 - 1,
              "payload": ("TREE_GUARD \"x\"\n\t\\ é 𝛑 \u2028 " * 20000)[:BIG_LINE * 2]}
    line = orjson.dumps(record)
    assert len(line) > BIG_LINE
    store = tmp_path / "intermediate"
    store.mkdir()
    (store / "guards.jsonl").write_bytes(line + b"\n" + orjson.dumps({"line": 8}) + b"\n")
    read = list(StoreReader(tmp_path, "m", None).read_jsonl("guards.jsonl"))
    assert read == [orjson.loads(line), {"line": 8}]
    assert repr(read[0]["f"]) == repr(orjson.loads(line)["f"])  # -0.0 stays -0.0


def test_reading_a_long_line_takes_a_small_multiple_of_its_size(tmp_path: Path) -> None:
    import tracemalloc

    line = orjson.dumps({"line": 1, "payload": "guard(x) and not y\n" * 80_000})
    store = tmp_path / "intermediate"
    store.mkdir()
    (store / "guards.jsonl").write_bytes(line + b"\n")
    records = StoreReader(tmp_path, "m", None).read_jsonl("guards.jsonl")
    tracemalloc.start()
    try:
        next(records)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(line), peak / len(line)
