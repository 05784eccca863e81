"""compile_directory (eager): every compile id and the files it produced, in first-seen order.

Writes `compile_directory.json` exactly as legacy does (sorted keys, `unknown` for entries
without a readable compile id). On the page each compile id is a collapsible entry whose file
list is a per-compile-id shard, loaded when opened (or inline with --eager).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..jsonfmt import serde_dumps
from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file
from ..rules.compile_id import UNKNOWN_GROUP, group_of_directory

LEGACY_UNKNOWN_KEY = "unknown"


@dataclass
class Artifact:
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


def render(ctx: ModuleContext) -> ModuleOutput:
    groups = collect_groups(ctx)
    output = ModuleOutput()
    ctx.write_bytes("compile_directory.json", legacy_directory_json(groups))
    shards = {}
    if not ctx.eager:
        for group in groups:
            if group.artifacts:
                shards[group.id] = ctx.write_shard(group.shard, group.items)
    html = ctx.render("compile_directory.html", groups=groups, shards=shards, eager=ctx.eager,
                      module_id=ctx.module_id)
    output.index_entries.append(IndexEntry(section="compile_directory", title="Compile directory",
                                           html=html))
    output.index_entries.append(IndexEntry(
        section="downloads", title="Downloads", order=100,
        html=ctx.render("compile_directory_download.html", count=len(groups))))
    return output
