"""cache (hybrid): FX graph and AOT autograd cache hits, misses and bypasses.

Writes the cache artifact files at their legacy paths (the ✅/❌/❓ markers in the compile
directory come from those paths) and puts a summary on the index, with the per-artifact list
loading on demand. Then, for each miss, the key components that differ from the closest
earlier entry of its graph (`cache_diff.py`): the first `INDEX_MISSES` on the index, all of them
on `cache_misses.html` when there are more.

After the log grew, only the records after the parse's resume point are read: a payload file
depends on its record alone, and what the records add up to (`CacheTally`: rows, listed files,
the miss finder's groups) is kept at the point as the module's state (record_state). So are the
values the second pass read for the misses before the point (the state's `late` part): the
second pass then reads only the lines of the misses after it. The finder's entries hold
hundreds of components each, written as arrays of numbers in hex (`MissFinder.to_json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file
from ..record_state import RecordState
from ..rules.compile_id import display_of
from ..rules.status import cache_status_of_name
from ..store.reader import at_lines
from . import cache_diff
from .artifact_files import write_payload_output
from .common import output_of

STREAM = "cache.jsonl"
MISSES_PAGE = "cache_misses.html"
INDEX_MISSES = 10
SHOWN_COMPONENTS = 30  # differing components shown per miss; the artifacts have the rest


@dataclass(frozen=True)
class MissSummary:
    """Counts for the sentence above the misses."""

    misses: int  # misses that logged key components
    compared: int  # … that had an earlier entry of their graph
    first: int  # … that had none
    bare: int  # misses without key components

INDEX_ROWS = 50  # compile ids in the index's cache table; all of them on ROWS_PAGE
ROWS_PAGE = "cache_compile_ids.html"

@dataclass
class CacheRow:
    """One compile id's cache outcomes."""

    display: str
    hit: int = 0
    miss: int = 0
    bypass: int = 0


class CacheTally:
    """What the records add up to, record by record: the rows, the listed files and the misses.
    Its JSON is the module state kept at the parse's resume point (record_state): a payload file
    depends on its record alone, so a grown log reads only the records after the point."""

    def __init__(self, saved: Any = None) -> None:
        self.rows: dict[str, CacheRow] = {}
        self.items: list[dict[str, Any]] = []
        self.finder = cache_diff.MissFinder()
        self.misses_at_point = 0
        if saved is not None:
            self.rows = {row[0]: CacheRow(*row) for row in saved["rows"]}
            self.items = saved["items"]
            self.finder = cache_diff.MissFinder.from_json(saved["finder"])

    def to_json(self) -> dict[str, Any]:
        return {"rows": [[r.display, r.hit, r.miss, r.bypass] for r in self.rows.values()],
                "items": self.items, "finder": self.finder.to_json()}

    def at_point(self) -> dict[str, Any]:
        """The state at the parse's resume point; the misses found so far are those before it."""
        self.misses_at_point = len(self.finder.misses)
        return self.to_json()

    def feed(self, record: dict[str, Any]) -> None:
        self.finder.feed(record)
        name = record["metadata"]["name"]
        status = cache_status_of_name(name)
        display = display_of(record["compile_id"])
        row = self.rows.setdefault(display, CacheRow(display))
        if status is not None:
            setattr(row, status, getattr(row, status) + 1)
        planned = output_of(record)
        if planned is not None:
            self.items.append(listed_file(planned["url"], f"{display} {name}", planned["number"], planned["suffix"]))


def render(ctx: ModuleContext) -> ModuleOutput:
    state = RecordState(ctx, (STREAM,))
    tally = CacheTally(state.extra)
    for record in state.records(STREAM, at_point=tally.at_point):
        write_payload_output(ctx, record)
        tally.feed(record)
    rows, items, finder = tally.rows, tally.items, tally.finder
    values = values_of(ctx, finder, known_values(state.late))
    state.save(late=[[line, name, values.get((line, name))]  # null: no such component
                     for line, name in sorted(_needed(finder.misses[:tally.misses_at_point]))])
    summary = ctx.manifest["cache_summary"]
    lazy = bool(items) and not ctx.eager
    if lazy:
        ctx.write_shard("artifacts", items)
    table = list(rows.values())
    rows_page = None
    if len(table) > INDEX_ROWS:  # thousands of compile ids: the index keeps the first rows only
        rows_page = ROWS_PAGE
        ctx.write_text(ROWS_PAGE, ctx.render(ROWS_PAGE, rows=table, root=""))
    html = ctx.render("cache.html", summary=summary, rows=table[:INDEX_ROWS], rows_page=rows_page,
                      row_total=len(table), items=[] if lazy else items, total=len(items))
    return ModuleOutput(index_entries=[IndexEntry(
        section="cache", title="Cache", kind="hybrid" if lazy else "html", html=html,
        shard="artifacts" if lazy else "", renderer="artifacts" if lazy else ""),
        misses_entry(ctx, finder, values)])


def known_values(late: Any) -> dict[tuple[int, str], str | None]:
    """The values a saved state holds (`late`: [line, name, value] each; null: the entry has no
    such component)."""
    try:
        return {(int(line), str(name)): None if value is None else str(value) for line, name, value in late or ()}
    except (TypeError, ValueError):
        return {}


def _needed(misses: list[cache_diff.Miss]) -> set[tuple[int, str]]:
    return {(line, name) for line, names in cache_diff.needed_values(misses, SHOWN_COMPONENTS).items()
            for name in names}


def values_of(ctx: ModuleContext, finder: cache_diff.MissFinder,
              known: dict[tuple[int, str], str | None]) -> dict[tuple[int, str], str]:
    """The second pass: the values of the differing components the page shows, as far as it
    shows them (`cache_diff.kept_value`), read from the lines not `known` already."""
    values = {}
    missing: dict[int, set[str]] = {}
    for line, names in cache_diff.needed_values(finder.misses, SHOWN_COMPONENTS).items():
        for name in names:
            if (line, name) not in known:
                missing.setdefault(line, set()).add(name)
            elif (value := known[(line, name)]) is not None:
                values[(line, name)] = value
    if missing:
        read = cache_diff.read_values(ctx.read_jsonl(STREAM, at_lines(missing)), missing, finder.parsed)
        values.update((key, cache_diff.kept_value(value)) for key, value in read.items())
    return values


def misses_entry(ctx: ModuleContext, finder: cache_diff.MissFinder, values: dict[tuple[int, str], str]) -> IndexEntry:
    """Why each miss missed, from the values of the differing components (`values_of`)."""
    views = cache_diff.miss_views(finder.misses, values, SHOWN_COMPONENTS)
    summary = MissSummary(len(finder.misses), len(views), len(finder.misses) - len(views), finder.bare)
    page = None
    if len(views) > INDEX_MISSES:
        page = MISSES_PAGE
        ctx.write_text(page, ctx.render(MISSES_PAGE, views=views, summary=summary, root=""))
    html = ctx.render("cache_diff.html", views=views[:INDEX_MISSES], summary=summary, page=page)
    return IndexEntry(section="cache", title="Cache", html=html)
