"""Reading records: the chunked reader cuts a log exactly as reading it line by line does,
whatever the chunk size, with CRLF endings, empty lines, stray tabs and a missing last newline."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.logs import cid, entry, simple_log
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.parse.records import RecordReader
from tlparse_tasks.parse.state import ParseState


def by_lines(data: bytes) -> list[tuple[int, int, bytes | None, bytes, int]]:
    """The reference: (offset, line, envelope, payload, last non-empty line) read line by line."""
    records: list[list[Any]] = []
    offset = 0
    parts = data.split(b"\n")  # not splitlines(): a lone \r does not end a line
    lines = [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    for number, raw in enumerate(lines, 1):
        text = raw.rstrip(b"\n")
        text = text[:-1] if text.endswith(b"\r") else text
        if text and text[:1] != b"\t":
            records.append([offset, number, text, [], number])
        elif text:
            if not records:
                records.append([offset, number, None, [], number])
            records[-1][3].append(text[1:])
            records[-1][4] = number
        offset += len(raw)
    return [(o, n, t, b"\n".join(p), e) for o, n, t, p, e in records]


def by_chunks(data: bytes, chunk_size: int, end: int | None = None) -> list[tuple[int, int, bytes | None, bytes, int]]:
    """The records RecordReader finds in `data` up to `end` (all of it by default)."""
    end = len(data) if end is None else end
    found = []
    for record in RecordReader(io.BytesIO(data), 0, 0, end, chunk_size):
        end_line = record.end_line
        if record.end_offset == end:  # the last record also counts trailing empty lines
            end_line = max((n for n, _ in record.payload_lines()), default=record.line)
        found.append((record.offset, record.line, record.text, bytes(record.payload()), end_line))
    return found


PIECES = [b"V1 {}\n", b"\tpay\tload\n", b"\t\n", b"\n", b"\r\n", b"\tx\r\n", b"\t", b"I2 {", b"\r", b"\t\tcode\n"]


@pytest.mark.parametrize("seed", range(4))
def test_any_chunk_size_gives_the_records_of_a_line_by_line_read(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        data = b"".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 25)))
        expected = by_lines(data)
        end = rng.randrange(len(data) + 1)
        for chunk_size in (1, 2, 3, 7, 1 << 20):
            assert by_chunks(data, chunk_size) == expected, (data, chunk_size)
            assert by_chunks(data + b"V9 {}\n", chunk_size, len(data)) == expected  # nothing past `end`
            assert by_chunks(data, chunk_size, end) == by_lines(data[:end])


def test_a_record_larger_than_many_chunks(tmp_path: Path) -> None:
    payload = "\n".join(f"line {i}\twith a tab" for i in range(20000))
    data = (simple_log() + entry({"artifact": {"name": "big", "encoding": "string"}, **cid()}, payload)
            + simple_log()).encode()
    records = by_chunks(data, 4096)
    assert records == by_lines(data)
    assert records[5][3] == payload.encode()


def test_crlf_log_parses_like_lf(tmp_path: Path) -> None:
    text = simple_log() + entry({"artifact": {"name": "a", "encoding": "string"}, **cid()}, "one\ntwo")
    crlf = tmp_path / "crlf.log"
    crlf.write_bytes(text.encode().replace(b"\n", b"\r\n"))
    lf = tmp_path / "lf.log"
    lf.write_bytes(text.encode())
    a = parse_log(crlf, tmp_path / "a", stderr=None).manifest
    b = parse_log(lf, tmp_path / "b", stderr=None).manifest
    assert a["stats"] == b["stats"] and a["stats"]["fail_payload_md5"] == 0
    assert (tmp_path / "a/intermediate/artifacts.jsonl").read_bytes() == \
        (tmp_path / "b/intermediate/artifacts.jsonl").read_bytes()


def test_state_survives_its_json_form(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    frames = [{"line": i, "name": f"f{i}", "filename": 0} for i in range(3)]
    log.write_text(simple_log() + entry({"dynamo_start": {"stack": frames}, **cid(1)})
                   + entry({"stack": frames, "artifact": {"name": "fx_graph_cache_hit", "encoding": "string"},
                            **cid(1)}, "p")
                   + entry({"artifact": {"name": "last", "encoding": "string"}}, "the resume point"))
    parse_log(log, tmp_path / "out", stderr=None)
    saved = orjson.loads((tmp_path / "out/intermediate/parse_state.json").read_bytes())["resume"]["state"]
    state = ParseState.from_json(saved)
    assert state.to_json() == saved
    assert state.cache.hit == 1 and state.compile_ids["-_1_0_0"].has == {"compilation_metrics", "cache"}
    assert list(state.stack_trie.all_terminals()) == ["-_0_0_0", "-_1_0_0"]
    assert list(state.unknown_stack_trie.all_terminals()) == ["unknown"]
