"""cache (hybrid): FX graph and AOT autograd cache hits, misses and bypasses.

Writes the cache artifact files at their legacy paths (the ✅/❌/❓ markers in the compile
directory come from those paths) and puts a summary on the index, with the per-artifact list
loading on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file
from ..rules.compile_id import display_of
from ..rules.status import cache_status_of_name
from .artifact_files import write_payload_output
from .common import output_of, records


@dataclass
class CacheRow:
    """One compile id's cache outcomes."""

    display: str
    hit: int = 0
    miss: int = 0
    bypass: int = 0


def render(ctx: ModuleContext) -> ModuleOutput:
    rows: dict[str, CacheRow] = {}
    items: list[dict[str, Any]] = []
    for record in records(ctx, "cache.jsonl"):
        write_payload_output(ctx, record)
        name = record["metadata"]["name"]
        status = cache_status_of_name(name)
        display = display_of(record["compile_id"])
        row = rows.setdefault(display, CacheRow(display))
        if status is not None:
            setattr(row, status, getattr(row, status) + 1)
        planned = output_of(record)
        if planned is not None:
            items.append(listed_file(planned["url"], f"{display} {name}", planned["number"], planned["suffix"]))
    summary = ctx.manifest["cache_summary"]
    lazy = bool(items) and not ctx.eager
    if lazy:
        ctx.write_shard("artifacts", items)
    html = ctx.render("cache.html", summary=summary, rows=list(rows.values()),
                      items=[] if lazy else items, total=len(items))
    return ModuleOutput(index_entries=[IndexEntry(
        section="cache", title="Cache", kind="hybrid" if lazy else "html", html=html,
        shard="artifacts" if lazy else "", renderer="artifacts" if lazy else "")])
