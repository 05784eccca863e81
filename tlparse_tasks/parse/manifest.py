"""manifest.json (v2.1) and string_table.json: what every module may read without touching
the JSONL streams, derived from the parse state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__
from ..rules.compile_id import display_of
from ..rules.status import cache_status, compile_id_status
from .state import CompileEntry, ParseState

MANIFEST_VERSION = "2.1"
#: Which `has_*` flag says that a compile id wrote to which stream.
HAS_FLAGS = (
    ("has_graphs", "graphs"), ("has_codegen", "codegen"), ("has_guards", "guards"),
    ("has_metrics", "compilation_metrics"), ("has_artifacts", "artifacts"), ("has_cache", "cache"),
    ("has_tensor_metadata", "tensor_metadata"), ("has_export", "export"),
)


def unfinished(state: ParseState) -> list[dict[str, Any]]:
    """Compiles the log started but never reported (rules/status.py), in the order they began."""
    starts = sorted(state.open_starts.items(), key=lambda kv: kv[1])
    return [{"id": key, "display_name": display_of(key), "start_line": line} for key, line in starts]


def string_table(strings: dict[str, str]) -> list[str | None]:
    """Index i holds intern id i; gaps are null; legacy writes `[null]` when empty."""
    if not strings:
        return [None]
    size = max(int(k) for k in strings) + 1
    table: list[str | None] = [None] * size
    for key, value in strings.items():
        table[int(key)] = value
    return table


def _compile_id(entry: CompileEntry, state: ParseState) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id, "display_name": entry.display_name,
        "first_line": entry.first_line, "output_count": entry.outputs,
        "status": compile_id_status(state.metrics, state.open_starts, entry.id),
        "cache_status": cache_status(entry.cache),
    }
    for flag, stream in HAS_FLAGS:
        item[flag] = stream in entry.has
    return item


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    """Most frequent first, ties by name."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def build_manifest(log: Path, size: int, digest: str, state: ParseState,
                   counts: dict[str, int]) -> dict[str, Any]:
    """manifest.json v2.1: the summary every module may read without touching the JSONL."""
    strings = state.strings
    compile_ids = [_compile_id(entry, state) for entry in state.compile_ids.values()]
    statuses = {terminal: compile_id_status(state.metrics, state.open_starts, terminal)
                for terminal in state.stack_trie.all_terminals()}
    failures = {"restarts": state.failures.restarts, "failures": state.failures.failures}
    return {
        "version": MANIFEST_VERSION,
        "tool": {"name": "tlparse-tasks", "version": __version__},
        "source": {"path": str(log.resolve()), "name": log.name, "size": size, "sha256": digest},
        "options": state.options.to_json(),
        "parse": {"offset": size, "lines": state.line},
        "totals": {"lines": state.line, "envelopes": sum(state.envelope_counts.values()),
                   "compile_ids": len(compile_ids), "outputs": state.counter,
                   "strings": len(strings)},
        "envelope_counts": _by_count(state.envelope_counts),
        "artifact_counts": _by_count(state.artifact_counts),
        "ranks": state.ranks,
        "stats": state.stats,
        "unknown_fields": dict(sorted(state.unknown_fields.items())),
        "missing_compile_id": state.missing_compile_id,
        "problems": [{"line": p.line, "message": p.message} for p in state.problems],
        "compile_ids": compile_ids,
        "stack_trie": state.stack_trie.resolve(strings),
        "stack_statuses": statuses,
        "unfinished": unfinished(state),
        "unknown_stack_trie": state.unknown_stack_trie.resolve(strings),
        "failures_summary": {**failures, "total": failures["restarts"] + failures["failures"]},
        "cache_summary": {"hit": state.cache.hit, "miss": state.cache.miss, "bypass": state.cache.bypass},
        "files": {name: {"path": name, "count": count} for name, count in sorted(counts.items())}
        | {"string_table.json": {"path": "string_table.json", "count": len(strings)}},
    }
