"""raw (eager): the log as data — `raw.jsonl`, `raw.log` and `payloads/` (only `payloads/` with
`-e`, as legacy, so the entries the export report lists link to their payloads).

`raw.jsonl` is the legacy machine format (the string table first, then one sorted-key object per
envelope); the parse writes it once into the store and it is hard-linked here, not copied.
`payloads/` keeps the payloads no other file holds, one unit per file, so a re-run writes only
the files whose payload changed; `raw.log` is the log itself (a hard link where possible).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, file_chunks
from ..store.reader import open_lines
from ..store.streams import RAW_JSONL, streams_of_type

PAYLOADS_DIR = "payloads/"
#: The bytes every store line naming a payloads/ file holds (a JSON string cannot contain them
#: unescaped), so other lines are skipped without being parsed.
_PAYLOAD_FILE_KEY = b'"payload_file":"payloads/'


@dataclass(frozen=True)
class PayloadSource:
    """The entry whose payload a payloads/ file holds: the last one in log order, as legacy
    overwrites the file for each entry with the same `has_payload`."""

    line: int
    md5: str | None
    streams: tuple[str, ...]


def _payload_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a store JSONL file that name a payloads/ file."""
    with open_lines(path) as handle:
        for line in handle:
            if _PAYLOAD_FILE_KEY in line:
                record = orjson.loads(line)
                if str(record.get("payload_file") or "").startswith(PAYLOADS_DIR):
                    yield record


def payload_sources(ctx: ModuleContext) -> dict[str, PayloadSource]:
    """payloads/ file → the entry it holds, from index.jsonl (small; no payloads in it)."""
    sources: dict[str, PayloadSource] = {}
    for record in _payload_lines(ctx.store.path("index.jsonl")):
        sources[record["payload_file"]] = PayloadSource(
            record["line"], record.get("payload_md5"), streams_of_type(record["type"]))
    return sources


def write_payloads(ctx: ModuleContext) -> list[str]:
    """payloads/<has_payload>.txt for every entry whose payload no report file holds; returns
    them sorted (the module's record lists files in an order that does not depend on history).

    Each file is a unit keyed by its path with the payload's md5 as data: after a log grew, only
    new or changed files are written, and the typed streams are read only when one is.
    """
    sources = payload_sources(ctx)
    stale = {name: source for name, source in sorted(sources.items()) if ctx.unit(name, source.md5)}
    by_line = {source.line: name for name, source in stale.items()}
    streams = sorted({stream for source in stale.values() for stream in source.streams})
    for stream in streams:
        for record in _payload_lines(ctx.store.path(f"{stream}.jsonl")):
            name = by_line.get(record["line"])
            if name is not None and record["payload_file"] == name:
                ctx.unit(name, stale.pop(name).md5)  # the unit again, so the write is its own
                ctx.write_text(name, record.get("payload", ""))
    for name in stale:  # not in the streams (a damaged store): no unit, so the next run retries
        ctx.units.pop(name, None)
    return sorted(set(sources) - set(stale))


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
    if ctx.run.get("mode") == "export":  # legacy's export writes payloads/ only (spec §4)
        return ModuleOutput(files=write_payloads(ctx))
    ctx.link_file("raw.jsonl", ctx.store.path(RAW_JSONL))
    write_raw_log(ctx)
    payloads = write_payloads(ctx)
    html = ctx.render("raw.html", payloads=len(payloads), source=ctx.manifest["source"])
    return ModuleOutput(files=["raw.jsonl", "raw.log", *payloads],
                        index_entries=[IndexEntry(section="downloads", title="Downloads", order=100, html=html)])
