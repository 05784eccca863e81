"""compile_directory (eager): every compile id and the files it produced, in first-seen order.

Writes `compile_directory.json` exactly as legacy does (sorted keys, `unknown` for entries
without a readable compile id). On the page each compile id is a collapsible entry whose file
list loads when it is opened (or is inline with --eager). The file lists of consecutive compile
ids share one script `data/compile_directory/files-<n>.js` of at most FILES_SHARD_BYTES, which
registers each list under its compile id's own shard name: opening one entry loads the script
once, and the entries beside it then open without a load.

A big log has tens of thousands of compile ids: the index then shows the first page of entries
and, for each later page, one collapsed summary whose entries modules.js renders from a page
shard when it is opened (or when a link such as `#[7/0]` asks for one of them, through the page
index shard). Pages hold √n entries (at least PAGE_MIN), so the index grows as √n, not n.
`--eager` keeps every entry in the page, readable without JavaScript.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..jsonfmt import serde_dumps
from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file, shard_script
from ..rules.compile_id import UNKNOWN_GROUP, group_of_directory
from .kit import plural

LEGACY_UNKNOWN_KEY = "unknown"
PAGE_MIN = 100  # up to this many compile ids, the index shows every entry at once
PAGE_INDEX_SHARD = "page-index"
# The file lists of consecutive compile ids go into one script of at most this many bytes (a
# single larger list gets a script of its own). Creating a file costs up to ~0.6 ms of kernel
# time right after a report was deleted (--overwrite), so a script per compile id (467 on a
# 1,000-compile log, ~3 KB each) was most of this module's run time; a script this size still
# loads and parses in a millisecond or two when its first entry is opened.
FILES_SHARD_BYTES = 64 * 1024
FILES_SCRIPT = "files-{}"  # the scripts' names (data/<module>/files-0.js, ...)
# How a page summary names the entries that did not compile cleanly (ok entries are not counted).
FLAGGED_STATUSES = (("unfinished", "unfinished"), ("error", "failed"), ("break", "restarted"), ("empty", "empty"),
                    ("missing", "without metrics"))

T = TypeVar("T")


@dataclass
class Artifact:
    """One file a compile id produced, as its directory entry lists it."""

    url: str
    name: str
    number: int
    suffix: str
    readable_url: str | None
    is_link: bool

    def legacy_json(self) -> dict[str, Any]:
        """One artifact of compile_directory.json; files are named by their basename."""
        name = self.name if self.is_link else self.url.rsplit("/", 1)[-1]
        return {"name": name, "number": self.number, "readable_url": self.readable_url,
                "suffix": self.suffix, "url": self.url}

    def item(self) -> dict[str, Any]:
        """The file-list item the page shows (artifact_list.html, or modules.js from a shard)."""
        return listed_file(self.url, self.name, self.number, self.suffix, self.readable_url, self.is_link)


@dataclass
class CompileGroup:
    """One compile id's directory entry: its status and its files in log order."""

    id: str
    display: str
    status: str
    cache_status: str | None
    artifacts: list[Artifact] = field(default_factory=list)

    @property
    def legacy_key(self) -> str:
        return LEGACY_UNKNOWN_KEY if self.id == UNKNOWN_GROUP else self.display

    @property
    def shard(self) -> str:
        """The name its file list is registered under (in a script shared with its neighbours)."""
        return self.id

    @property
    def items(self) -> list[dict[str, Any]]:
        return [a.item() for a in self.artifacts]


def collect_groups(ctx: ModuleContext) -> list[CompileGroup]:
    """Compile ids in first-seen order, with the outputs the parse planned for them."""
    groups = {c["id"]: CompileGroup(c["id"], c["display_name"], c["status"], c["cache_status"])
              for c in ctx.manifest["compile_ids"]}
    for record in ctx.read_jsonl("index.jsonl"):
        if record["status"] != "ok" or not record["outputs"]:
            continue
        group_id, display = group_of_directory(record["compile_id"])
        group = groups.get(group_id)
        if group is None:  # cannot happen for a consistent store; keep the data anyway
            group = groups[group_id] = CompileGroup(group_id, display, "missing", None)
        for output in record["outputs"]:
            group.artifacts.append(Artifact(output["url"], output["name"], output["number"],
                                            output["suffix"], output["readable_url"],
                                            output["kind"] == "link"))
    return list(groups.values())


def legacy_directory_json(groups: list[CompileGroup]) -> bytes:
    data: dict[str, Any] = {}
    for group in groups:
        entry = data.setdefault(group.legacy_key, {"artifacts": []})
        entry["artifacts"].extend(a.legacy_json() for a in group.artifacts)
    return serde_dumps(data, pretty=True)


# --------------------------------------------------------------------------------------------
# Entries and pages: what compile_directory.html and modules.js's `compile-page` renderer show


def entry_view(group: CompileGroup, module_id: str, src: str | None) -> dict[str, Any]:
    """One directory entry as both renderers take it (a JSON-able dict). With `src` its files
    load when opened from that script, which registers them as `shard`; without, `items` lists
    them in the page."""
    return {"id": group.display, "status": group.status, "count": plural(len(group.artifacts), "file"),
            "cache_status": group.cache_status, "module": module_id if src else None,
            "shard": group.shard if src else None, "src": src, "items": [] if src else group.items}


def page_size(count: int) -> int:
    """Entries per page for `count` compile ids: √count, at least PAGE_MIN."""
    return max(PAGE_MIN, math.isqrt(max(count - 1, 0)) + 1)


def paged(items: list[T], size: int) -> list[list[T]]:
    """`items` in consecutive pages of `size` (the last may be shorter)."""
    if size < 1:
        raise ValueError("a page holds at least one item")
    return [items[start:start + size] for start in range(0, len(items), size)]


@dataclass
class DirectoryPage:
    """A later page of the directory: a collapsed summary whose entries load from a shard."""

    number: int  # 2 for the first page not shown at once
    entries: list[dict[str, Any]]
    src: str = ""

    @property
    def anchor(self) -> str:
        return f"tlp-compile-page-{self.number}"

    @property
    def shard(self) -> str:
        return f"page-{self.number}"

    @property
    def first(self) -> str:
        return str(self.entries[0]["id"])

    @property
    def last(self) -> str:
        return str(self.entries[-1]["id"])

    @property
    def size(self) -> str:
        return plural(len(self.entries), "compile id")

    @property
    def flags(self) -> list[tuple[str, str]]:
        """(status, label) for each status other than ok that the page holds, e.g. ("error", "2 failed")."""
        counts = Counter(str(e["status"]) for e in self.entries)
        return [(status, f"{counts[status]} {label}") for status, label in FLAGGED_STATUSES if counts[status]]


@dataclass
class DirectoryView:
    """What compile_directory.html shows: the entries in the page, then the later pages."""

    entries: list[dict[str, Any]]
    pages: list[DirectoryPage]
    count: int
    index_src: str = ""
    module_id: str = ""

    @property
    def index_shard(self) -> str:
        return PAGE_INDEX_SHARD


def page_index(pages: list[DirectoryPage]) -> list[list[Any]]:
    """For modules.js to find an entry not rendered yet: [page anchor, [compile ids]] per page."""
    return [[page.anchor, [e["id"] for e in page.entries]] for page in pages]


def directory_view(groups: list[CompileGroup], module_id: str, shards: dict[str, str], paginate: bool) -> DirectoryView:
    """Every entry in one list (`paginate` off: --eager), else the first page and later pages."""
    entries = [entry_view(g, module_id, shards.get(g.id)) for g in groups]
    if not paginate:
        return DirectoryView(entries, [], len(groups), module_id=module_id)
    first, *later = paged(entries, page_size(len(entries))) or [[]]
    pages = [DirectoryPage(number, page) for number, page in enumerate(later, start=2)]
    return DirectoryView(first, pages, len(groups), module_id=module_id)


def packed(items: list[T], size: Callable[[T], int], limit: int) -> list[list[T]]:
    """`items` in consecutive packs of at most `limit` in total `size` (an item larger than
    `limit` alone in its pack). Greedy from the first item, so a log that only grew at its end
    changes only the last packs."""
    packs: list[list[T]] = []
    total = 0
    for item in items:
        weight = size(item)
        if not packs or total + weight > limit:
            packs.append([])
            total = 0
        packs[-1].append(item)
        total += weight
    return packs


def write_file_lists(ctx: ModuleContext, groups: list[CompileGroup]) -> dict[str, str]:
    """The file lists in shared scripts of at most FILES_SHARD_BYTES, one `TLP.register` each
    (modules.js caches every list a script registers); {group id: its script's URL}."""
    scripts = [(g.id, shard_script(ctx.module_id, g.shard, g.items)) for g in groups if g.artifacts]
    shards: dict[str, str] = {}
    for number, pack in enumerate(packed(scripts, lambda s: len(s[1]), FILES_SHARD_BYTES)):
        src = ctx.write_bytes(f"data/{ctx.module_id}/{FILES_SCRIPT.format(number)}.js",
                              b"".join(script for _, script in pack))
        shards.update(dict.fromkeys((group_id for group_id, _ in pack), src))
    return shards


def write_pages(ctx: ModuleContext, view: DirectoryView) -> None:
    """The page shards and the page index shard (only when there are later pages)."""
    for page in view.pages:
        page.src = ctx.write_shard(page.shard, page.entries)
    if view.pages:
        view.index_src = ctx.write_shard(PAGE_INDEX_SHARD, page_index(view.pages))


def render(ctx: ModuleContext) -> ModuleOutput:
    groups = collect_groups(ctx)
    output = ModuleOutput()
    ctx.write_bytes("compile_directory.json", legacy_directory_json(groups))
    shards = {} if ctx.eager else write_file_lists(ctx, groups)
    view = directory_view(groups, ctx.module_id, shards, paginate=not ctx.eager)
    write_pages(ctx, view)
    html = ctx.render("compile_directory.html", view=view)
    output.index_entries.append(IndexEntry(section="compile_directory", title="Compile directory",
                                           html=html))
    output.index_entries.append(IndexEntry(
        section="downloads", title="Downloads", order=100,
        html=ctx.render("compile_directory_download.html", count=len(groups))))
    return output
