"""stack_trie (eager): where in user code each compile happened, as a shared-prefix tree.

Each compile id is a link coloured by its outcome (ok / break / empty / error / missing) that
jumps to its entry in the compile directory.

The trie is walked without recursion and handed to the template as a flat list of rows, each
saying how many nested lists close after it: a stack thousands of frames deep renders with no
recursion in Python or Jinja. As in legacy, a frame with siblings opens a nested (collapsible)
list; a frame without siblings follows its parent at the same depth.

Big logs stay readable without a huge index (unless `--eager`, which shows everything):
- a frame where thousands of compiles happened shows its first LINKS_SHOWN links and a button
  that adds the others from a shard (modules.js `trie-links`);
- a frame called from thousands of places lists its first CHILDREN_SHOWN callees and a button
  that renders the others, as rows of the same shape, from a shard (modules.js `trie-rows`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..rules.compile_id import display_of
from .kit import Frame, frame_of, plural

STATUS_LEGEND = (
    ("ok", "compiled"),
    ("break", "compiled, with a restart (e.g. a graph break)"),
    ("empty", "compiled an empty graph"),
    ("error", "failed"),
    ("missing", "no compilation metrics"),
    ("unfinished", "started, never finished (the log ends mid-compile)"),
)
LINKS_SHOWN = 5  # compile-id links of one frame shown at once; the rest load on demand
CHILDREN_SHOWN = 50  # frames listed under one frame at once; the rest load on demand

# Writes the shard `name` holding `data`; returns its relative path (ModuleContext.write_shard).
ShardWriter = Callable[[str, Any], str]


@dataclass
class TerminalLink:
    """A compile id whose stack ends at a frame."""

    display: str
    status: str | None


@dataclass
class MoreButton:
    """What a row holds back for modules.js: `count` links or frames, in the shard `shard`."""

    count: int
    label: str
    module: str = ""
    shard: str = ""
    src: str = ""


@dataclass
class TrieRow:
    """One frame of the trie in document order.

    `branching`: the frame has siblings, so it opens a collapsible nested list holding its
    subtree; `closes`: how many such lists end after this row; `more`: its links not shown.
    """

    frame: Frame
    links: list[TerminalLink]
    branching: bool
    closes: int = 0
    more: MoreButton | None = None
    kind: Literal["frame"] = "frame"


@dataclass
class DeferredRow:
    """In place of the children of a frame beyond the first few: a button that renders them.

    `nodes`: those children (manifest nodes, each the root of its subtree), rendered into the
    shard; `closes` as for a TrieRow (it is the last item of its list)."""

    nodes: list[dict[str, Any]]
    button: MoreButton
    closes: int = 0
    kind: Literal["more"] = "more"


Row = TrieRow | DeferredRow


@dataclass(frozen=True)
class TrieNode:
    """What this module reads of one manifest trie node."""

    frame: Frame
    terminals: list[str]
    children: list[dict[str, Any]]


def read_node(node: dict[str, Any]) -> TrieNode:
    """The one place that knows the manifest's `stack_trie` layout: nested nodes of `frame`
    (file names already simplified by the parse; the root has none), `terminals` (compile
    directories whose stack ends here) and `children`."""
    frame = node.get("frame") or {}
    return TrieNode(frame_of(frame.get("filename") or "(unknown)", frame.get("line"), frame.get("name"),
                             frame.get("loc"), simplify=False),
                    list(node.get("terminals") or ()), list(node.get("children") or ()))


_CLOSE = None  # a work-list marker: the nested list of the last branching row ends here


def trie_rows(root: dict[str, Any], statuses: dict[str, str] | None, children_shown: int | None = None) -> list[Row]:
    """The trie in pre-order, iteratively (an explicit work list instead of recursion). With
    `children_shown`, a frame's children past that many become one DeferredRow."""
    return rows_of(read_node(root).children, None, statuses, children_shown)


def rows_of(nodes: list[dict[str, Any]], branching: bool | None, statuses: dict[str, str] | None,
            children_shown: int | None) -> list[Row]:
    """The rows of sibling subtrees (`branching`: whether they are shown as branches; None: when
    there are several, as for the children of one frame)."""
    rows: list[Row] = []
    work: list[tuple[TrieNode, bool] | list[dict[str, Any]] | None] = []

    def push(children: list[dict[str, Any]], branches: bool) -> None:
        shown = children if children_shown is None else children[:children_shown]
        if len(shown) < len(children):
            work.append(children[len(shown):])  # after the shown ones: the work list is a stack
        work.extend((read_node(child), branches) for child in reversed(shown))

    push(nodes, len(nodes) > 1 if branching is None else branching)
    while work:
        item = work.pop()
        if item is _CLOSE:
            rows[-1].closes += 1
        elif isinstance(item, list):
            rows.append(DeferredRow(item, MoreButton(len(item), plural(len(item), "more frame"))))
        else:
            node, branches = item
            rows.append(TrieRow(node.frame, terminal_links(node.terminals, statuses), branches))
            if branches:
                work.append(_CLOSE)  # popped after the whole subtree pushed next
            push(node.children, len(node.children) > 1)
    return rows


def terminal_links(terminals: list[str], statuses: dict[str, str] | None) -> list[TerminalLink]:
    return [TerminalLink(display_of(t), statuses.get(t) if statuses is not None else None) for t in terminals]


def link_data(link: TerminalLink) -> dict[str, Any]:
    """A link as modules.js's `trie-links` renderer takes it (the template's links are the twin)."""
    return {"id": link.display, "status": link.status}


def button_data(button: MoreButton | None) -> dict[str, Any] | None:
    if button is None:
        return None
    return {"count": button.count, "label": button.label, "module": button.module, "shard": button.shard,
            "src": button.src}


def row_data(row: Row) -> dict[str, Any]:
    """A row as modules.js's `trie-rows` renderer takes it (the template's rows are the twin)."""
    if isinstance(row, DeferredRow):
        return {"more_frames": button_data(row.button), "closes": row.closes}
    frame = row.frame
    return {"frame": {"location": frame.location, "name": frame.name, "loc": frame.loc, "href": frame.href},
            "links": [link_data(link) for link in row.links], "more": button_data(row.more),
            "branching": row.branching, "closes": row.closes}


def window_links(rows: Sequence[Row], limit: int, module: str, prefix: str, write: ShardWriter) -> None:
    """Keep the first `limit` links of each row; the rest go to a shard named `<prefix><row>`."""
    for number, row in enumerate(rows):
        if isinstance(row, DeferredRow) or len(row.links) <= limit:
            continue
        shown, rest = row.links[:limit], row.links[limit:]
        shard = f"{prefix}{number}"
        src = write(shard, [link_data(link) for link in rest])
        row.links = shown
        row.more = MoreButton(len(rest), plural(len(rest), "more compile id"), module, shard, src)


def write_deferred(rows: list[Row], statuses: dict[str, str] | None, module: str, prefix: str,
                   write: ShardWriter) -> None:
    """Give every DeferredRow (and those inside the frames it holds back) a shard of rows.

    Breadth first, naming shards `<prefix><n>`; then written in reverse, so a shard that holds
    a button is written after the shard that button loads (whose path it names)."""
    expanded: list[tuple[DeferredRow, list[Row]]] = []
    queue = deque(row for row in rows if isinstance(row, DeferredRow))
    while queue:
        deferred = queue.popleft()
        deferred.button.module, deferred.button.shard = module, f"{prefix}{len(expanded)}"
        sub = rows_of(deferred.nodes, True, statuses, CHILDREN_SHOWN)
        window_links(sub, LINKS_SHOWN, module, f"{deferred.button.shard}-links-", write)
        expanded.append((deferred, sub))
        queue.extend(row for row in sub if isinstance(row, DeferredRow))
    for deferred, sub in reversed(expanded):
        deferred.button.src = write(deferred.button.shard, [row_data(row) for row in sub])


def windowed_rows(trie: dict[str, Any], statuses: dict[str, str] | None, ctx: ModuleContext, prefix: str) -> list[Row]:
    """The rows the index shows: all of them with --eager, else windowed (shards written)."""
    if ctx.eager:
        return trie_rows(trie, statuses)
    rows = trie_rows(trie, statuses, CHILDREN_SHOWN)
    window_links(rows, LINKS_SHOWN, ctx.module_id, f"{prefix}links-", ctx.write_shard)
    write_deferred(rows, statuses, ctx.module_id, f"{prefix}frames-", ctx.write_shard)
    return rows


def render(ctx: ModuleContext) -> ModuleOutput:
    manifest = ctx.manifest
    output = ModuleOutput()
    rows = windowed_rows(manifest["stack_trie"], manifest["stack_statuses"], ctx, "")
    html = ctx.render("stack_trie.html", rows=rows, legend=STATUS_LEGEND, with_status=True)
    output.index_entries.append(IndexEntry(section="stack_trie", title="Stack trie", html=html))
    unknown = windowed_rows(manifest["unknown_stack_trie"], None, ctx, "unknown-")
    if unknown:
        html = ctx.render("stack_trie.html", rows=unknown, legend=(), with_status=False)
        output.index_entries.append(IndexEntry(section="unknown_stacks", title="Unknown stacks", html=html))
    return output
