"""raw (eager): the log as data — `raw.jsonl`, `raw.log` and `payloads/`.

`raw.jsonl` is the legacy machine format: the string table first, then one sorted-key object per
envelope (with timestamp, thread, pathname, lineno and `payload_filename`). `payloads/` keeps
the payloads no other file holds; `raw.log` is the log itself (a hard link where possible).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from ..jsonfmt import serde_dumps
from ..module_api import IndexEntry, ModuleContext, ModuleOutput, file_chunks
from ..store.streams import JSONL_STREAMS

TYPED_STREAMS = tuple(f"{name}.jsonl" for name in JSONL_STREAMS if name != "index")


def raw_jsonl_chunks(ctx: ModuleContext) -> Iterator[bytes]:
    table = ctx.read_json("string_table.json")
    yield orjson.dumps(table, option=orjson.OPT_APPEND_NEWLINE)
    for record in ctx.read_jsonl("index.jsonl"):
        if record["raw"] is not None:
            yield serde_dumps(record["raw"]) + b"\n"


def write_payloads(ctx: ModuleContext) -> int:
    """payloads/<has_payload>.txt for every entry whose payload no report file holds."""
    count = 0
    for stream in TYPED_STREAMS:
        for record in ctx.read_jsonl(stream):
            payload_file = record.get("payload_file")
            if payload_file:
                ctx.write_text(payload_file, record.get("payload", ""))
                count += 1
    return count


def write_raw_log(ctx: ModuleContext) -> None:
    """raw.log holds exactly the bytes that were parsed: a hard link to the log when it has not
    grown since (torch only appends to its logs), else a copy of the parsed prefix."""
    source = ctx.manifest["source"]
    log = Path(source["path"])
    if log.stat().st_size == source["size"]:
        ctx.link_file("raw.log", log)
    else:
        ctx.write_chunks("raw.log", file_chunks(log, limit=source["size"]))


def render(ctx: ModuleContext) -> ModuleOutput:
    ctx.write_chunks("raw.jsonl", raw_jsonl_chunks(ctx))
    write_raw_log(ctx)
    payloads = write_payloads(ctx)
    html = ctx.render("raw.html", payloads=payloads, source=ctx.manifest["source"])
    return ModuleOutput(index_entries=[IndexEntry(section="downloads", title="Downloads", order=100, html=html)])
