"""stack_trie (eager): where in user code each compile happened, as a shared-prefix tree.

Each compile id is a link coloured by its outcome (ok / break / empty / error / missing) that
jumps to its entry in the compile directory.

The trie is walked without recursion and handed to the template as a flat list of rows, each
saying how many nested lists close after it: a stack thousands of frames deep renders with no
recursion in Python or Jinja. As in legacy, a frame with siblings opens a nested (collapsible)
list; a frame without siblings follows its parent at the same depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..rules.compile_id import display_of
from .kit import Frame, frame_of

STATUS_LEGEND = (
    ("ok", "compiled"),
    ("break", "compiled, with a restart (e.g. a graph break)"),
    ("empty", "compiled an empty graph"),
    ("error", "failed"),
    ("missing", "no compilation metrics"),
    ("unfinished", "started, never finished (the log ends mid-compile)"),
)


@dataclass
class TerminalLink:
    """A compile id whose stack ends at a frame."""

    display: str
    status: str | None


@dataclass
class TrieRow:
    """One frame of the trie in document order.

    `branching`: the frame has siblings, so it opens a collapsible nested list holding its
    subtree; `closes`: how many such lists end after this row.
    """

    frame: Frame
    links: list[TerminalLink]
    branching: bool
    closes: int = 0


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


def trie_rows(root: dict[str, Any], statuses: dict[str, str] | None) -> list[TrieRow]:
    """The trie in pre-order, iteratively (an explicit work list instead of recursion)."""
    rows: list[TrieRow] = []
    work: list[tuple[TrieNode, bool] | None] = []

    def push_children(node: TrieNode) -> None:
        branching = len(node.children) > 1
        work.extend((read_node(child), branching) for child in reversed(node.children))

    push_children(read_node(root))
    while work:
        item = work.pop()
        if item is _CLOSE:
            rows[-1].closes += 1
            continue
        node, branching = item
        rows.append(TrieRow(node.frame, terminal_links(node.terminals, statuses), branching))
        if branching:
            work.append(_CLOSE)  # popped after the whole subtree pushed next
        push_children(node)
    return rows


def terminal_links(terminals: list[str], statuses: dict[str, str] | None) -> list[TerminalLink]:
    return [TerminalLink(display_of(t), statuses.get(t) if statuses is not None else None) for t in terminals]


def render(ctx: ModuleContext) -> ModuleOutput:
    manifest = ctx.manifest
    output = ModuleOutput()
    rows = trie_rows(manifest["stack_trie"], manifest["stack_statuses"])
    html = ctx.render("stack_trie.html", rows=rows, legend=STATUS_LEGEND, with_status=True)
    output.index_entries.append(IndexEntry(section="stack_trie", title="Stack trie", html=html))
    unknown = trie_rows(manifest["unknown_stack_trie"], None)
    if unknown:
        html = ctx.render("stack_trie.html", rows=unknown, legend=(), with_status=False)
        output.index_entries.append(IndexEntry(section="unknown_stacks", title="Unknown stacks", html=html))
    return output
