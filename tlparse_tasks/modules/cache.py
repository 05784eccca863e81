"""cache (hybrid): FX graph and AOT autograd cache hits, misses and bypasses.

Writes the cache artifact files at their legacy paths (the ✅/❌/❓ markers in the compile
directory come from those paths) and puts a summary on the index, with the per-artifact list
loading on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file
from .artifact_files import write_payload_output
from .common import display_of, output_of, records

STATUSES = ("hit", "miss", "bypass")


@dataclass
class CacheRow:
    """One compile id's cache outcomes."""

    display: str
    hit: int = 0
    miss: int = 0
    bypass: int = 0


def status_of(name: str) -> str | None:
    for status in STATUSES:
        if f"cache_{status}" in name:
            return status
    return None


def render(ctx: ModuleContext) -> ModuleOutput:
    rows: dict[str, CacheRow] = {}
    items: list[dict[str, Any]] = []
    for record in records(ctx, "cache.jsonl"):
        write_payload_output(ctx, record)
        name = record["metadata"]["name"]
        status = status_of(name)
        display = display_of(record["compile_id"])
        row = rows.setdefault(display, CacheRow(display))
        if status is not None:
            setattr(row, status, getattr(row, status) + 1)
        output = output_of(record)
        if output is not None:
            items.append(listed_file(output["url"], f"{display} {name}", output["number"], output["suffix"]))
    summary = ctx.manifest["cache_summary"]
    output = ModuleOutput()
    lazy = bool(items) and not ctx.eager
    if lazy:
        ctx.write_shard("artifacts", items)
    html = ctx.render("cache.html", summary=summary, rows=list(rows.values()),
                      items=[] if lazy else items, total=len(items))
    output.index_entries.append(IndexEntry(section="cache", title="Cache", kind="hybrid" if lazy else "html",
                                           html=html, shard="artifacts" if lazy else "",
                                           renderer="artifacts" if lazy else ""))
    return output
