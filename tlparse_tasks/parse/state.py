"""The parser's whole memory as typed data, saved to JSON so a grown log can resume.

Everything the manifest reports is derived from a `ParseState`; the JSONL streams hold the
entries themselves. `STATE_FORMAT` names the saved form: a saved state of another format is
never resumed from (the parse starts over).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from .stacks import StackTrie
from .stats import empty_stats

# 2: metrics statuses kept as a list per compile id
# 3: typed state; stack tries as flat node lists; `has` as a list of stream names
# 4: raw.jsonl is a store file the parse appends to (its body bytes are saved)
# 5: `file_owners`: which logged name owns each unnumbered file path (outputs.OutputPlanner)
# 6: `open_starts`: compiles started (dynamo_start) whose metrics have not been read yet
# 7: the point's digest is of every byte the parse read (`length`), not only of those before it
STATE_FORMAT = 7


@dataclass(frozen=True)
class ParseOptions:
    """Everything that changes what stage 1 writes; a change forces a full re-parse."""

    plain_text: bool = False
    export: bool = False
    inductor_provenance: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"plain_text": self.plain_text, "export": self.export,
                "inductor_provenance": self.inductor_provenance}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParseOptions:
        return cls(bool(data["plain_text"]), bool(data["export"]), bool(data["inductor_provenance"]))


@dataclass
class CompileEntry:
    """What the manifest says about one compile id (grouping key)."""

    id: str
    display_name: str
    first_line: int
    outputs: int = 0
    has: set[str] = field(default_factory=set)  # streams it wrote to
    cache: dict[str, int] = field(default_factory=dict)  # cache status → artifact count

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "display_name": self.display_name, "first_line": self.first_line,
                "outputs": self.outputs, "has": sorted(self.has), "cache": dict(self.cache)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompileEntry:
        return cls(str(data["id"]), str(data["display_name"]), int(data["first_line"]),
                   int(data["outputs"]), {str(name) for name in data["has"]},
                   {str(k): int(v) for k, v in data["cache"].items()})


@dataclass
class Failures:
    """Restarts and failures counted so far (the manifest's totals)."""

    restarts: int = 0
    failures: int = 0


@dataclass
class CacheCounts:
    """Cache hits, misses and bypasses counted so far (the manifest's totals)."""

    hit: int = 0
    miss: int = 0
    bypass: int = 0

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


@dataclass(frozen=True)
class Problem:
    """A line the parse could not read, and why (the report lists the first ones)."""

    line: int
    message: str


@dataclass
class ParseState:
    """Counters, summaries and the string table gathered so far."""

    options: ParseOptions
    tool_version: str = __version__
    year: int = field(default_factory=lambda: datetime.datetime.now(datetime.UTC).year)
    line: int = 0  # lines read so far
    expected_rank: int | None = None
    rank_detected: bool = False
    counter: int = 0  # the legacy output counter
    file_owners: dict[str, str] = field(default_factory=dict)  # unnumbered path → name digest
    stats: dict[str, int] = field(default_factory=empty_stats)
    unknown_fields: dict[str, int] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)  # intern id (as text) → string
    envelope_counts: dict[str, int] = field(default_factory=dict)
    artifact_counts: dict[str, int] = field(default_factory=dict)
    compile_ids: dict[str, CompileEntry] = field(default_factory=dict)
    stack_trie: StackTrie = field(default_factory=StackTrie)
    unknown_stack_trie: StackTrie = field(default_factory=StackTrie)
    metrics: dict[str, list[str]] = field(default_factory=dict)  # metrics key → statuses
    open_starts: dict[str, int] = field(default_factory=dict)  # metrics key → line of its start
    failures: Failures = field(default_factory=Failures)
    cache: CacheCounts = field(default_factory=CacheCounts)
    ranks: list[int] = field(default_factory=list)
    missing_compile_id: int = 0
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A detached JSON copy (later changes to the state do not reach it)."""
        return {
            "tool_version": self.tool_version, "options": self.options.to_json(), "year": self.year,
            "line": self.line, "expected_rank": self.expected_rank, "rank_detected": self.rank_detected,
            "counter": self.counter, "file_owners": dict(self.file_owners),
            "stats": dict(self.stats), "unknown_fields": dict(self.unknown_fields),
            "strings": dict(self.strings), "envelope_counts": dict(self.envelope_counts),
            "artifact_counts": dict(self.artifact_counts),
            "compile_ids": [entry.to_json() for entry in self.compile_ids.values()],
            "stack_trie": self.stack_trie.to_json(),
            "unknown_stack_trie": self.unknown_stack_trie.to_json(),
            "metrics": {key: list(statuses) for key, statuses in self.metrics.items()},
            "open_starts": dict(self.open_starts),
            "failures": {"restarts": self.failures.restarts, "failures": self.failures.failures},
            "cache": {"hit": self.cache.hit, "miss": self.cache.miss, "bypass": self.cache.bypass},
            "ranks": list(self.ranks), "missing_compile_id": self.missing_compile_id,
            "problems": [{"line": p.line, "message": p.message} for p in self.problems],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParseState:
        """Inverse of `to_json`; raises KeyError, TypeError or ValueError on a malformed state."""
        entries = [CompileEntry.from_json(item) for item in data["compile_ids"]]
        return cls(
            options=ParseOptions.from_json(data["options"]), tool_version=str(data["tool_version"]),
            year=int(data["year"]), line=int(data["line"]), expected_rank=data["expected_rank"],
            rank_detected=bool(data["rank_detected"]), counter=int(data["counter"]),
            file_owners={str(k): str(v) for k, v in data["file_owners"].items()},
            stats=empty_stats() | {str(k): int(v) for k, v in data["stats"].items()},
            unknown_fields=_counts(data["unknown_fields"]),
            strings={str(k): str(v) for k, v in data["strings"].items()},
            envelope_counts=_counts(data["envelope_counts"]), artifact_counts=_counts(data["artifact_counts"]),
            compile_ids={entry.id: entry for entry in entries},
            stack_trie=StackTrie.from_json(data["stack_trie"]),
            unknown_stack_trie=StackTrie.from_json(data["unknown_stack_trie"]),
            metrics={str(k): [str(s) for s in v] for k, v in data["metrics"].items()},
            open_starts=_counts(data["open_starts"]),
            failures=Failures(int(data["failures"]["restarts"]), int(data["failures"]["failures"])),
            cache=CacheCounts(**{k: int(data["cache"][k]) for k in ("hit", "miss", "bypass")}),
            ranks=[int(rank) for rank in data["ranks"]], missing_compile_id=int(data["missing_compile_id"]),
            problems=[Problem(int(p["line"]), str(p["message"])) for p in data["problems"]],
        )


def _counts(data: dict[str, Any]) -> dict[str, int]:
    return {str(key): int(value) for key, value in data.items()}
