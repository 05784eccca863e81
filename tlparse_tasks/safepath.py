"""Turning names from a log into file names that can only land inside the output directory.

Every artifact, dump_file, graph_dump and inductor filename comes from an untrusted log.
Ordinary names (letters, digits, `._-`) pass unchanged so paths match the legacy layout;
anything else is rewritten, and over-long names are cut and tagged with a digest.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=,@#$%^&()\[\]{}~ -]")
MAX_NAME_BYTES = 150


def safe_component(name: str, fallback: str = "unnamed") -> str:
    """One path component: no separators, no leading dots, no control characters, bounded."""
    cleaned = _UNSAFE.sub("_", name).strip(" ")
    cleaned = cleaned.lstrip(".")
    if not cleaned:
        cleaned = fallback
    if len(cleaned.encode()) > MAX_NAME_BYTES:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        cleaned = cleaned.encode()[: MAX_NAME_BYTES - 13].decode("utf-8", "ignore") + "-" + digest
    return cleaned


def inside(root: Path, relative: str) -> Path:
    """`root/relative`, refusing any path that would resolve outside `root`."""
    if os.path.isabs(relative) or "\\" in relative:
        raise ValueError(f"unsafe output path: {relative!r}")
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"unsafe output path: {relative!r}")
    target = root.joinpath(*parts)
    resolved_root = root.resolve()
    if resolved_root not in target.resolve().parents:
        raise ValueError(f"output path escapes the output directory: {relative!r}")
    return target


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*):")
SAFE_SCHEMES = frozenset({"http", "https"})


def safe_href(url: str) -> str | None:
    """`url` if following it cannot run script: relative paths and http(s) only.

    `javascript:`, `data:`, `vbscript:` and any other scheme give None (show it as text).
    Control characters are refused too, since browsers strip them before reading a scheme.
    """
    if _CONTROL.search(url):
        return None
    match = _SCHEME.match(url)
    if match is None:
        return url
    return url if match.group(1).lower() in SAFE_SCHEMES else None
