"""Stack tries: frames shared between compile ids are shown once, as a tree.

The trie lives in the parse state as plain JSON data (so it can be snapshotted for
incremental resume) and is resolved against the string table when the manifest is written.
"""

from __future__ import annotations

import re
from typing import Any

_SEED_NSPID = re.compile(r"[^/]+-seed-nspid[^/]+/")
CONVERT_FRAME_SUFFIXES = (
    (("torch/_dynamo/convert_frame.py", "catch_errors"),
     ("torch/_dynamo/convert_frame.py", "_convert_frame"),
     ("torch/_dynamo/convert_frame.py", "_convert_frame_assert")),
    (("torch/_dynamo/convert_frame.py", "__call__"),) * 3,
)
UNKNOWN_FILENAME = "(unknown)"


def simplify_filename(filename: str) -> str:
    """Drop build-system prefixes so paths read like repository paths."""
    if "#link-tree/" in filename:
        return filename.split("#link-tree/")[1]
    match = _SEED_NSPID.search(filename)
    return filename[match.end():] if match else filename


def frame_filename(frame: dict[str, Any], strings: dict[str, str]) -> str:
    uninterned = frame.get("uninterned_filename")
    if uninterned is not None:
        return uninterned
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


def new_trie() -> dict[str, Any]:
    return {"children": {}, "terminals": []}


def frame_key(frame: dict[str, Any]) -> str:
    return "\x1f".join(str(frame.get(k)) for k in
                       ("filename", "uninterned_filename", "line", "name", "loc"))


def insert(trie: dict[str, Any], frames: list[dict[str, Any]], terminal: str) -> None:
    """Add one stack ending at `terminal` (a compile directory name)."""
    node = trie
    for frame in frames:
        key = frame_key(frame)
        child = node["children"].get(key)
        if child is None:
            child = {"frame": {k: frame.get(k) for k in
                               ("filename", "uninterned_filename", "line", "name", "loc")},
                     "children": {}, "terminals": []}
            node["children"][key] = child
        node = child
    node["terminals"].append(terminal)


def resolve(trie: dict[str, Any], strings: dict[str, str]) -> dict[str, Any]:
    """The trie as the manifest stores it: frames with readable file names, children as lists."""

    def walk(node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        frame = node.get("frame")
        if frame is not None:
            out["frame"] = {
                "filename": simplify_filename(frame_filename(frame, strings)),
                "line": frame.get("line"), "name": frame.get("name"), "loc": frame.get("loc"),
            }
        out["terminals"] = list(node["terminals"])
        out["children"] = [walk(child) for child in node["children"].values()]
        return out

    return walk(trie)
