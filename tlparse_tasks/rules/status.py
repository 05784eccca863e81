"""Compile and cache outcomes: one rule each, used by the parse (stack trie, manifest) and the
modules (metrics badges, cache tables), so a colour and a badge can never disagree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Worst first: a compile id with several metrics takes the first status any of them has.
COMPILE_STATUSES = ("error", "empty", "break", "ok")
CACHE_STATUSES = ("hit", "miss", "bypass")
#: A compile id's cache status is the most telling of its artifacts: a miss beats a hit.
CACHE_PRECEDENCE = ("miss", "hit", "bypass")


def metrics_status(metrics: Mapping[str, Any]) -> str:
    """The outcome of one compilation_metrics entry: error, empty, break or ok.

    Legacy 0.4.3 also calls a missing `restart_reasons` a break; older torch versions simply
    did not log the field, so only a non-empty list counts here (README: deliberate differences).
    """
    if metrics.get("fail_type") is not None:
        return "error"
    if not metrics.get("graph_op_count"):
        return "empty"
    if metrics.get("restart_reasons"):
        return "break"
    return "ok"


def worst_status(statuses: Iterable[str]) -> str:
    """The combined outcome of several entries; `missing` when there are none."""
    seen = set(statuses)
    for status in COMPILE_STATUSES:
        if status in seen:
            return status
    return "missing"


def cache_status_of_name(name: str) -> str | None:
    """hit / miss / bypass from an artifact name such as `fx_graph_cache_miss`."""
    for status in CACHE_STATUSES:
        if f"cache_{status}" in name:
            return status
    return None


def cache_status(counts: Mapping[str, int]) -> str | None:
    """A compile id's cache status from its per-status artifact counts."""
    for status in CACHE_PRECEDENCE:
        if counts.get(status):
            return status
    return None


def cache_suffix(path: str) -> str:
    """The ❌/✅/❓ marker legacy derives from an output's full relative path."""
    status = cache_status_of_name(path)
    if status is None:
        return ""
    return {"miss": "❌", "hit": "✅", "bypass": "❓"}[status]
