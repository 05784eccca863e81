"""Compile and cache outcomes: one rule each, used by the parse (stack trie, manifest) and the
modules (metrics badges, cache tables), so a colour and a badge can never disagree.

**Unfinished compiles.** Dynamo logs `dynamo_start` once when it begins compiling a frame (at
attempt 0) and one `compilation_metrics` entry when that compile ends, successful or not, after
any restarts (so the metrics usually carry attempt 1, 2 …: `[0/0]` starts, `[0/0_1]` reports).
A compile id is `unfinished` when its last `dynamo_start` is followed by no metrics entry for the
same frame compile, compared as metrics are looked up: attempt normalised to 0
(`CompileId.metrics_key`), the compiled-autograd part kept (`[!1/0/0]` is its own compile). The
log then ended mid-compile, or the process died. Only frame compiles (frame id and frame compile
id both logged) can be unfinished: ids such as `[-/-]` or `[!0/-/-]` never log `dynamo_start`,
and entries whose compile id cannot be read have nothing to match. The parse keeps the open
starts (`open_starts`), so a grown log resumes and closes them when their metrics arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .compile_id import CompileId

#: Worst first: a compile id with several metrics takes the first status any of them has.
COMPILE_STATUSES = ("error", "empty", "break", "ok")
UNFINISHED = "unfinished"
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


def can_be_unfinished(cid: CompileId) -> bool:
    """Whether a `dynamo_start` of this id opens a compile that metrics must close."""
    return cid.frame_id is not None and cid.frame_compile_id is not None


def note_start(open_starts: dict[str, int], cid: CompileId, line: int) -> None:
    """A `dynamo_start` at `line`: the compile is open until its metrics arrive."""
    if can_be_unfinished(cid):
        open_starts[cid.metrics_key().directory] = line


def note_metrics(open_starts: dict[str, int], cid: CompileId) -> None:
    """A `compilation_metrics` entry closes the compile it reports, whatever its attempt."""
    open_starts.pop(cid.metrics_key().directory, None)


def compile_id_status(metrics: Mapping[str, list[str]], open_starts: Mapping[str, int],
                      directory: str) -> str:
    """A compile directory's status: `unfinished` while its compile is open, otherwise the
    worst outcome of its metrics (attempt 0); `missing` for ids without a compile id."""
    cid = CompileId.from_directory(directory)
    if cid is None:
        return worst_status(())
    key = cid.metrics_key().directory
    if key in open_starts:
        return UNFINISHED
    return worst_status(metrics.get(key) or ())


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
