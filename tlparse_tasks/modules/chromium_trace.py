"""chromium_trace (eager): `chromium_events.json`, the Trace Event Format array legacy writes.

The file is the intermediate store's own, hard-linked so its bytes are stored once; the index
links it and explains
how to open it in Perfetto (which cannot be deep-linked from a file:// page).
"""

from __future__ import annotations

from ..module_api import IndexEntry, ModuleContext, ModuleOutput

EVENTS = "chromium_events.json"


def render(ctx: ModuleContext) -> ModuleOutput:
    source = ctx.store.path(EVENTS)
    ctx.link_file(EVENTS, source)
    count = ctx.manifest["files"][EVENTS]["count"]
    output = ModuleOutput()
    html = ctx.render("chromium_trace.html", count=count, file=EVENTS, size=source.stat().st_size)
    output.index_entries.append(IndexEntry(section="chromium_trace", title="Chromium trace", html=html))
    return output
