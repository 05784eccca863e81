"""graph_breaks (hybrid): a table of the distinct graph breaks, on the index.

One pass over artifacts.jsonl reads each `dynamo_graph_break_reason` (rules/graph_break.py) and
groups them by user location and reason headlines. Each row shows `file:line`, the headline,
explanation and hints, how often it happened, and links to the compile ids (their entries in
the compile directory) and the reason files. Memory grows with the distinct breaks, not with
the log: a group keeps its first occurrences only (`SHOWN_OCCURRENCES`), and the others are
counted and written to a shard that loads when the reader opens them (inline with --eager).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file
from ..rules.compile_id import display_of
from ..rules.graph_break import GraphBreak, Issue, UserFrame, parse_graph_break
from .common import metadata_of, output_of

ARTIFACT = "dynamo_graph_break_reason"
SHOWN_OCCURRENCES = 8  # per group, inline; the rest in a shard (all with --eager)
SHOWN_GROUPS = 100  # rows inline; the rest in a shard (all with --eager)
KEPT_OCCURRENCES = 10_000  # per group: a cap on what the shard lists (the count stays exact)
ORDER = -5  # on the first screen: after notices (-10), before the stack trie (0)


@dataclass(frozen=True)
class Occurrence:
    """One logged graph break: its compile id and reason file."""

    display: str
    reason_url: str | None
    number: int | None

    @property
    def anchor(self) -> str:
        """The compile id's entry in the compile directory (`#[0/0]`, as the stack trie links)."""
        return f"#{self.display}"

    def as_item(self) -> dict[str, Any]:
        """As a file-list item (the shard's `artifacts` renderer)."""
        return listed_file(self.reason_url, f"{self.display} graph break reason", self.number)


@dataclass
class BreakGroup:
    """One row: every graph break at one user location with the same reason headlines."""

    location: str
    context: str
    issues: list[Issue]
    user_frame: UserFrame | None
    first_line: int
    count: int = 0
    occurrences: list[Occurrence] = field(default_factory=list)
    more_shard: str = ""  # shard holding the occurrences past SHOWN_OCCURRENCES

    @property
    def headline(self) -> str:
        return self.issues[0].headline if self.issues else "(no reason was logged)"

    @property
    def shown(self) -> list[Occurrence]:
        return self.occurrences if not self.more_shard else self.occurrences[:SHOWN_OCCURRENCES]

    @property
    def hidden_count(self) -> int:
        return self.count - len(self.shown)


@dataclass
class GraphBreaksView:
    """What graph_breaks.html shows."""

    total: int
    groups: list[BreakGroup]
    more_groups: int = 0
    more_groups_shard: str = ""
    module_id: str = ""


def group_key(parsed: GraphBreak) -> tuple[str, tuple[str, ...]]:
    """Breaks are the same when they happen at the same place for the same reasons."""
    return parsed.location or "(unknown location)", parsed.headlines


def group_breaks(records: Any) -> tuple[int, list[BreakGroup]]:
    """(how many breaks, the distinct ones: most frequent first, then in log order).

    `records` are artifacts.jsonl records; others than graph break reasons are skipped."""
    groups: dict[tuple[str, tuple[str, ...]], BreakGroup] = {}
    total = 0
    for record in records:
        if metadata_of(record).get("name") != ARTIFACT:
            continue
        parsed = parse_graph_break(str(record.get("payload") or ""))
        key = group_key(parsed)
        group = groups.get(key)
        if group is None:
            group = groups[key] = BreakGroup(key[0], parsed.context, parsed.issues, parsed.user_frame,
                                             int(record.get("line") or 0))
        group.count += 1
        total += 1
        if len(group.occurrences) < KEPT_OCCURRENCES:
            output = output_of(record, "artifact")
            group.occurrences.append(Occurrence(display_of(str(record.get("compile_id"))),
                                                output["url"] if output else None,
                                                output["number"] if output else None))
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.first_line))
    return total, ordered


def group_item(group: BreakGroup) -> dict[str, Any]:
    """A row past SHOWN_GROUPS as a file-list item: where, why, how often; its first reason file."""
    first = group.occurrences[0] if group.occurrences else None
    name = f"{group.location}: {group.headline} (×{group.count})"
    return listed_file(first.reason_url if first else None, name, None)


def build_view(ctx: ModuleContext, total: int, groups: list[BreakGroup]) -> GraphBreaksView:
    """Defer long lists to shards unless the report is eager."""
    view = GraphBreaksView(total, groups, module_id=ctx.module_id)
    if not ctx.lazy:
        return view
    for number, group in enumerate(groups[:SHOWN_GROUPS]):
        if len(group.occurrences) > SHOWN_OCCURRENCES:
            group.more_shard = f"occurrences-{number}"
            ctx.write_shard(group.more_shard, [o.as_item() for o in group.occurrences[SHOWN_OCCURRENCES:]])
    if len(groups) > SHOWN_GROUPS:
        view.groups = groups[:SHOWN_GROUPS]
        view.more_groups = len(groups) - SHOWN_GROUPS
        view.more_groups_shard = "groups"
        ctx.write_shard("groups", [group_item(g) for g in groups[SHOWN_GROUPS:]])
    return view


def render(ctx: ModuleContext) -> ModuleOutput:
    """The graph breaks table on the index."""
    total, groups = group_breaks(ctx.read_jsonl("artifacts.jsonl"))
    view = build_view(ctx, total, groups)
    html = ctx.render("graph_breaks.html", view=view)
    entry = IndexEntry(section="graph_breaks", title="Graph breaks", html=html, order=ORDER)
    return ModuleOutput(index_entries=[entry])
