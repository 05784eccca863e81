"""Stack tries: frames shared between compile ids are shown once, as a tree.

The parse keeps a trie flat (a node list with parent indexes), so no step recurses on the
depth of a logged stack, and saves it as JSON for incremental resume. The manifest stores
the nested form; it is cut at `MAX_TRIE_DEPTH` frames, because JSON nested deeper than that
cannot be written by orjson (nor read back by the modules) — a marker node says how many
frames were left out and keeps the compile ids that end below the cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

SEED_NSPID = "-seed-nspid"
CONVERT_FRAME_SUFFIXES = (
    (("torch/_dynamo/convert_frame.py", "catch_errors"),
     ("torch/_dynamo/convert_frame.py", "_convert_frame"),
     ("torch/_dynamo/convert_frame.py", "_convert_frame_assert")),
    (("torch/_dynamo/convert_frame.py", "__call__"),) * 3,
)
UNKNOWN_FILENAME = "(unknown)"
#: Frames the manifest's nested trie shows; each frame is two JSON levels and orjson stops at 254.
MAX_TRIE_DEPTH = 100
FRAME_FIELDS = ("filename", "uninterned_filename", "line", "name", "loc")

#: A frame as the trie stores it: the values of FRAME_FIELDS.
FrameKey = tuple[Any, Any, Any, Any, Any]


def simplify_filename(filename: str) -> str:
    """Drop build-system prefixes so paths read like repository paths."""
    if "#link-tree/" in filename:
        return filename.split("#link-tree/")[1]
    end = _seed_nspid_end(filename)
    return filename[end:] if end is not None else filename


def _seed_nspid_end(filename: str) -> int | None:
    """Where `[^/]+-seed-nspid[^/]+/` first matches ends, found in linear time.

    The regex backtracks quadratically on a long name without `/`; here every occurrence of
    the marker is checked against the bounds of its own path component, at most twice per
    component.
    """
    position = filename.find(SEED_NSPID)
    while position != -1:
        end = filename.find("/", position)
        if end == -1:  # no later occurrence can be followed by a `/` either
            return None
        start = filename.rfind("/", 0, position) + 1
        if position > start and position + len(SEED_NSPID) < end:
            return end + 1
        position = filename.find(SEED_NSPID, position + 1)
    return None


def frame_filename(frame: dict[str, Any], strings: dict[str, str]) -> str:
    uninterned = frame.get("uninterned_filename")
    if uninterned is not None:
        return uninterned  # type: ignore[no-any-return]
    return strings.get(str(frame["filename"]), UNKNOWN_FILENAME)


def strip_convert_frame_suffix(frames: list[dict[str, Any]], strings: dict[str, str]) -> list[dict[str, Any]]:
    """Remove dynamo's own entry frames, which every dynamo_start stack ends with."""
    for target in CONVERT_FRAME_SUFFIXES:
        if len(frames) >= len(target):
            tail = frames[len(frames) - len(target):]
            if all(simplify_filename(frame_filename(f, strings)) == path and f.get("name") == name
                   for f, (path, name) in zip(tail, target, strict=True)):
                frames = frames[: len(frames) - len(target)]
    return frames


@dataclass
class StackTrie:
    """Stacks as a flat node list; node 0 is the root, every other node one frame.

    A child always comes after its parent, and siblings keep the order they were first seen.
    """

    parents: list[int] = field(default_factory=lambda: [-1])
    frames: list[FrameKey | None] = field(default_factory=lambda: [None])
    terminals: list[list[str]] = field(default_factory=lambda: [[]])
    _children: dict[tuple[int, FrameKey], int] = field(default_factory=dict, repr=False)

    def insert(self, frames: list[dict[str, Any]], terminal: str) -> None:
        """Add one stack ending at `terminal` (a compile directory name)."""
        node = 0
        for frame in frames:
            key: FrameKey = (frame.get("filename"), frame.get("uninterned_filename"), frame.get("line"),
                             frame.get("name"), frame.get("loc"))
            child = self._children.get((node, key))
            if child is None:
                child = len(self.parents)
                self.parents.append(node)
                self.frames.append(key)
                self.terminals.append([])
                self._children[(node, key)] = child
            node = child
        self.terminals[node].append(terminal)

    def all_terminals(self) -> Iterator[str]:
        """Every terminal, in tree order (a node, then its subtrees in sibling order)."""
        children: list[list[int]] = [[] for _ in self.parents]
        for index in range(1, len(self.parents)):
            children[self.parents[index]].append(index)
        pending = [0]
        while pending:
            node = pending.pop()
            yield from self.terminals[node]
            pending.extend(reversed(children[node]))

    def to_json(self) -> dict[str, Any]:
        """A detached JSON copy: `nodes` as [parent, frame values or null, terminals]."""
        return {"nodes": [[parent, list(frame) if frame is not None else None, list(names)]
                          for parent, frame, names in zip(self.parents, self.frames, self.terminals,
                                                          strict=True)]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackTrie:
        """Inverse of `to_json`; raises ValueError on a malformed node list."""
        trie = cls(parents=[], frames=[], terminals=[])
        for index, (parent, frame, names) in enumerate(data["nodes"]):
            if (index == 0) != (parent == -1) or not -1 <= parent < index:
                raise ValueError(f"stack trie node {index} has parent {parent}")
            if (frame is None) != (index == 0) or (frame is not None and len(frame) != len(FRAME_FIELDS)):
                raise ValueError(f"stack trie node {index} has a malformed frame")
            key = tuple(frame) if frame is not None else None
            trie.parents.append(parent)
            trie.frames.append(key)
            trie.terminals.append([str(name) for name in names])
            if key is not None:
                trie._children[(parent, key)] = index
        if not trie.parents:
            raise ValueError("stack trie has no root")
        return trie

    def depths(self) -> list[int]:
        depth = [0] * len(self.parents)
        for index in range(1, len(self.parents)):
            depth[index] = depth[self.parents[index]] + 1
        return depth

    def resolve(self, strings: dict[str, str], max_depth: int = MAX_TRIE_DEPTH) -> dict[str, Any]:
        """The nested trie the manifest stores: frames with readable file names, children as
        lists, at most `max_depth` frames deep (then one marker node per cut branch)."""
        depth = self.depths()
        nodes: list[dict[str, Any] | None] = [{"terminals": list(self.terminals[0]), "children": []}]
        marker_of: dict[int, int] = {}  # node at the cut depth, or below it → its marker node
        hidden: dict[int, int] = {}  # marker → frames left out below it (the deepest branch)
        for index in range(1, len(self.parents)):
            parent = self.parents[index]
            nodes.append(None)
            if depth[index] <= max_depth:
                nodes[index] = self._resolved_node(index, strings)
                _node(nodes[parent])["children"].append(nodes[index])
                continue
            marker = marker_of.get(parent)
            if marker is None:  # the first node below this cut: its slot holds the marker
                marker = index
                nodes[index] = {"frame": {}, "terminals": [], "children": []}
                _node(nodes[parent])["children"].append(nodes[index])
                marker_of[parent] = marker
            marker_of[index] = marker
            hidden[marker] = max(hidden.get(marker, 0), depth[index] - max_depth)
            _node(nodes[marker])["terminals"].extend(self.terminals[index])
        for marker, frames in hidden.items():
            _node(nodes[marker])["frame"] = {
                "filename": f"(stack trie cut at depth {max_depth})", "line": 0,
                "name": f"{frames} deeper frame{'s' if frames != 1 else ''} not shown", "loc": None}
        return _node(nodes[0])

    def _resolved_node(self, index: int, strings: dict[str, str]) -> dict[str, Any]:
        filename, uninterned, line, name, loc = self.frames[index]  # type: ignore[misc]
        frame = {"filename": filename, "uninterned_filename": uninterned}
        return {"frame": {"filename": simplify_filename(frame_filename(frame, strings)),
                          "line": line, "name": name, "loc": loc},
                "terminals": list(self.terminals[index]), "children": []}


def _node(node: dict[str, Any] | None) -> dict[str, Any]:
    if node is None:  # a parent always comes before its children
        raise AssertionError("stack trie node resolved before its parent")
    return node
