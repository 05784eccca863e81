"""stack_trie (eager): where in user code each compile happened, as a shared-prefix tree.

Each compile id is a link coloured by its outcome (ok / break / empty / error / missing) that
jumps to its entry in the compile directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..rules.compile_id import UNKNOWN_DISPLAY, UNKNOWN_GROUP, CompileId

EVAL_WITH_KEY = re.compile(r"<eval_with_key>\.([0-9]+)")
STATUS_LEGEND = (
    ("ok", "compiled"),
    ("break", "compiled, with a restart (e.g. a graph break)"),
    ("empty", "compiled an empty graph"),
    ("error", "failed"),
    ("missing", "no compilation metrics"),
)


@dataclass
class TerminalLink:
    display: str
    status: str | None


@dataclass
class TrieNode:
    """One frame as the template shows it; `branching` when siblings follow."""

    location: str
    name: str
    loc: str | None
    source_href: str | None
    links: list[TerminalLink]
    branching: bool
    children: list[TrieNode] = field(default_factory=list)


def terminal_display(terminal: str) -> str:
    if terminal == UNKNOWN_GROUP:
        return UNKNOWN_DISPLAY
    cid = CompileId.from_directory(terminal)
    return cid.display if cid else UNKNOWN_DISPLAY


def build_nodes(trie: dict[str, Any], statuses: dict[str, str] | None) -> list[TrieNode]:
    """The manifest trie as template-ready nodes."""
    children = trie["children"]
    nodes = []
    for child in children:
        frame = child["frame"]
        filename = frame.get("filename") or "(unknown)"
        match = EVAL_WITH_KEY.search(filename)
        href = f"dump_file/eval_with_key_{match.group(1)}.html#L{frame.get('line')}" if match else None
        links = [TerminalLink(terminal_display(t), statuses.get(t) if statuses is not None else None)
                 for t in child["terminals"]]
        nodes.append(TrieNode(f"{filename}:{frame.get('line')}", str(frame.get("name")),
                              frame.get("loc"), href, links, len(children) > 1,
                              build_nodes(child, statuses)))
    return nodes


def render(ctx: ModuleContext) -> ModuleOutput:
    manifest = ctx.manifest
    output = ModuleOutput()
    nodes = build_nodes(manifest["stack_trie"], manifest["stack_statuses"])
    html = ctx.render("stack_trie.html", nodes=nodes, legend=STATUS_LEGEND, with_status=True)
    output.index_entries.append(IndexEntry(section="stack_trie", title="Stack trie", html=html))
    unknown = build_nodes(manifest["unknown_stack_trie"], None)
    if unknown:
        html = ctx.render("stack_trie.html", nodes=unknown, legend=(), with_status=False)
        output.index_entries.append(IndexEntry(section="unknown_stacks", title="Unknown stacks", html=html))
    return output
