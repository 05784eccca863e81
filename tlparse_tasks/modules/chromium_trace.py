"""chromium_trace (eager): `chromium_events.json`, the Trace Event Format array legacy writes.

The file is copied byte for byte from the intermediate store; the index links it and explains
how to open it in Perfetto (which cannot be deep-linked from a file:// page).
"""

from __future__ import annotations

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, file_chunks

EVENTS = "chromium_events.json"


def render(ctx: ModuleContext) -> ModuleOutput:
    source = ctx.store.path(EVENTS)
    ctx.write_chunks(EVENTS, file_chunks(source))
    count = ctx.manifest["files"][EVENTS]["count"]
    output = ModuleOutput()
    html = ctx.render("chromium_trace.html", count=count, file=EVENTS, size=source.stat().st_size)
    output.index_entries.append(IndexEntry(section="chromium_trace", title="Chromium trace", html=html))
    return output
