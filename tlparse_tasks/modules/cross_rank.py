"""The cross-rank diagnostics: pure functions of each rank's facts (rank_summary.py).

Each diagnostic partitions the ranks into groups of identical behaviour (ranks ascending inside a
group, groups by their first rank), says `consistent`, `divergent` or `unavailable` (no data to
judge: nothing is claimed), and gives details naming the compile ids and ranks that differ.
Legacy's bugs are not repeated: an execution order of another length differs, no tensor metadata
is no match, runtime deltas name distinct ranks, nothing comes out in hash order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CONSISTENT, DIVERGENT, UNAVAILABLE = "consistent", "divergent", "unavailable"
KINDS = ("compile_ids", "cache", "collectives", "tensor_meta", "exec_order", "runtime")

Facts = dict[str, Any]
WHOLE_DOUBLES = 2.0**52  # from here on every double is a whole number


@dataclass
class Diagnostic:
    """One cross-rank finding: what differs, and which ranks fall in which group."""

    kind: str
    status: str
    groups: list[list[int]]
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def natural_key(text: str) -> list[Any]:
    """`[10/0]` after `[9/0]`: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def group_ranks(signatures: Mapping[int, Hashable]) -> list[list[int]]:
    """Ranks with equal signatures together; ranks ascending, groups by their first rank."""
    groups: dict[Hashable, list[int]] = {}
    for rank in sorted(signatures):
        groups.setdefault(signatures[rank], []).append(rank)
    return sorted(groups.values(), key=lambda g: g[0])


def judged(kind: str, signatures: Mapping[int, Hashable], details: dict[str, Any]) -> Diagnostic:
    groups = group_ranks(signatures)
    return Diagnostic(kind, DIVERGENT if len(groups) > 1 else CONSISTENT, groups, details)


def unavailable(kind: str, ranks: Iterable[int], reason: str) -> Diagnostic:
    return Diagnostic(kind, UNAVAILABLE, [sorted(ranks)], {"reason": reason})


def by_key(facts: Facts, field_name: str) -> dict[str, Any]:
    """A per-compile-id value from the rank's graphs (the first graph of each compile id)."""
    values: dict[str, Any] = {}
    for graph in facts["graphs"]:
        if graph[field_name] is not None:
            values.setdefault(graph["key"], graph[field_name])
    return values


def differing_keys(per_rank: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Compile ids whose value is not the same on every rank: `{compile_id, by_rank}`."""
    keys = sorted({k for values in per_rank.values() for k in values}, key=natural_key)
    rows = []
    for key in keys:
        by_rank = {rank: values.get(key) for rank, values in sorted(per_rank.items())}
        if len({repr(v) for v in by_rank.values()}) > 1:
            rows.append({"compile_id": key, "by_rank": by_rank})
    return rows


# -- the six diagnostics ------------------------------------------------------------------------

def compile_ids(facts: dict[int, Facts]) -> Diagnostic:
    sets = {rank: frozenset(f["compile_ids"]) for rank, f in facts.items()}
    everywhere = frozenset.intersection(*sets.values()) if sets else frozenset()
    rows = []
    for key in sorted(frozenset().union(*sets.values()) - everywhere, key=natural_key):
        rows.append({"compile_id": key, "ranks_with": [r for r in sorted(sets) if key in sets[r]],
                     "ranks_without": [r for r in sorted(sets) if key not in sets[r]]})
    return judged("compile_ids", dict(sets), {"differences": rows})


def cache(facts: dict[int, Facts]) -> Diagnostic:
    patterns = {rank: f["cache_pattern"] for rank, f in facts.items()}
    if not any(patterns.values()):
        return unavailable("cache", facts, "no rank logged a cache hit, miss or bypass")
    diagnostic = judged("cache", patterns, {})
    diagnostic.details = {
        "patterns": [{"ranks": g, "pattern": patterns[g[0]]} for g in diagnostic.groups],
        "differences": differing_keys({rank: by_key(f, "cache_seq") for rank, f in facts.items()}),
    }
    return diagnostic


def collectives(facts: dict[int, Facts]) -> Diagnostic:
    sequences = {rank: tuple(op for g in f["graphs"] for op in (g["schedule"] or ())) for rank, f in facts.items()}
    if not any(sequences.values()):
        return unavailable("collectives", facts, "no rank logged a collective schedule")
    diagnostic = judged("collectives", sequences, {})
    diagnostic.details = {
        "sequences": [{"ranks": g, "ops": list(sequences[g[0]])} for g in diagnostic.groups],
        "differences": differing_keys({rank: by_key(f, "schedule") for rank, f in facts.items()}),
    }
    return diagnostic


def tensor_meta(facts: dict[int, Facts]) -> Diagnostic:
    """Each rank's tensor-metadata files, by compile directory; a rank without any differs from
    one with some (legacy leaves it out and may call the rest matching)."""
    signatures: dict[int, tuple[str, ...] | None] = {}
    per_rank: dict[int, dict[str, Any]] = {}
    for rank, f in facts.items():
        graphs = sorted((g for g in f["graphs"] if g["tensor_meta"]), key=lambda g: g["dir"])
        signatures[rank] = tuple(d for g in graphs for d in g["tensor_meta"]) or None
        per_rank[rank] = {g["key"]: g["tensor_meta"] for g in graphs}
    without = sorted(r for r, s in signatures.items() if s is None)
    if len(without) == len(signatures):
        return unavailable("tensor_meta", facts, "no rank logged inductor tensor metadata")
    diagnostic = judged("tensor_meta", signatures, {})
    differences = [{"compile_id": row["compile_id"],
                    "groups": group_ranks({r: repr(v) for r, v in row["by_rank"].items()})}
                   for row in differing_keys(per_rank)]
    diagnostic.details = {"without_data": without, "differences": differences}
    return diagnostic


def exec_order(facts: dict[int, Facts]) -> Diagnostic:
    orders = {rank: f["exec_order"] for rank, f in facts.items() if f["exec_order"] is not None}
    if len(orders) < 2:
        return unavailable("exec_order", facts, "fewer than two ranks logged a graph execution order "
                           "(torch._inductor.debug.record_and_log_graph_execution_order())")
    schedules = {rank: by_key(facts[rank], "schedule") for rank in orders}
    caches = {rank: by_key(facts[rank], "cache") for rank in orders}
    rows: list[dict[str, Any]] = []
    schedule_ranks: set[int] = set()
    cache_ranks: set[int] = set()
    for index in range(max(len(o) for o in orders.values())):
        by_rank = {rank: (o[index] if index < len(o) else None) for rank, o in sorted(orders.items())}
        issues = []
        if mismatch(by_rank, schedules):
            issues.append("schedule")
            schedule_ranks.update(r for r, cid in by_rank.items() if schedules[r].get(cid or "") is not None)
        if mismatch(by_rank, caches):
            issues.append("cache")
            cache_ranks.update(r for r, cid in by_rank.items() if caches[r].get(cid or "") is not None)
        if issues or len(set(by_rank.values())) > 1:
            rows.append({"index": index, "by_rank": by_rank, "issues": issues})
    order_differs = any(len(set(row["by_rank"].values())) > 1 for row in rows)
    signatures: dict[int, Hashable] = {rank: tuple(orders.get(rank) or ()) or None for rank in facts}
    diagnostic = judged("exec_order", signatures, {
        "order_differs": order_differs, "lengths": {rank: len(o) for rank, o in sorted(orders.items())},
        "without_data": sorted(set(facts) - set(orders)),
        "schedule_mismatch": sorted(schedule_ranks), "cache_mismatch": sorted(cache_ranks), "rows": rows})
    if schedule_ranks or cache_ranks:
        diagnostic.status = DIVERGENT
    return diagnostic


def mismatch(by_rank: dict[int, str | None], values: dict[int, dict[str, Any]]) -> bool:
    """At one position of the execution order, two or more ranks have a value and they differ."""
    present = [repr(values[r][cid]) for r, cid in by_rank.items() if cid is not None and cid in values[r]]
    return len(present) >= 2 and len(set(present)) > 1


def runtime(facts: dict[int, Facts]) -> Diagnostic:
    per_rank = {rank: [(g["dir"], sum(op["estimated_runtime_ns"] for op in g["runtime_ops"]))
                       for g in f["graphs"] if g["runtime_ops"]] for rank, f in facts.items()}
    if not any(per_rank.values()):
        return unavailable("runtime", facts, "no rank logged inductor runtime estimates")
    counts = {rank: len(graphs) for rank, graphs in per_rank.items()}
    if len(set(counts.values())) > 1:
        return Diagnostic("runtime", DIVERGENT, group_ranks(counts),
                          {"mismatched_graph_counts": True, "graph_counts": counts, "graphs": []})
    first = min(per_rank)
    graphs = []
    for index, (graph_id, _) in enumerate(per_rank[first]):
        values = {rank: graphs_[index][1] for rank, graphs_ in sorted(per_rank.items())}
        low, high = min(values.values()), max(values.values())
        fastest = min(r for r, v in values.items() if v == low)
        slowest = min(r for r, v in values.items() if v == high)
        graphs.append({"graph": graph_id, "delta_ms": to_ms(high - low), "equal": low == high,
                       "fastest": {"rank": fastest, "ms": to_ms(low)}, "slowest": {"rank": slowest, "ms": to_ms(high)},
                       "by_rank_ms": {rank: to_ms(v) for rank, v in values.items()}})
    graphs.sort(key=lambda g: natural_key(g["graph"]))
    signatures = {rank: tuple(v for _, v in per_rank[rank]) for rank in per_rank}
    return judged("runtime", signatures, {"mismatched_graph_counts": False, "graph_counts": counts, "graphs": graphs})


def to_ms(ns: float) -> float:
    """Nanoseconds to milliseconds rounded to 3 places, halves away from zero (legacy's Rust).
    A double of 2**52 or more is a whole number already, and infinity (estimates summing beyond
    a double) stays infinite: Decimal could not quantize them."""
    scaled = ns / 1e6 * 1000
    if not math.isfinite(scaled) or abs(scaled) >= WHOLE_DOUBLES:
        return scaled / 1000
    return float(Decimal(repr(scaled)).quantize(Decimal(1), ROUND_HALF_UP) / 1000)


def diagnose(facts: dict[int, Facts]) -> list[Diagnostic]:
    """Every diagnostic, in `KINDS` order."""
    return [compile_ids(facts), cache(facts), collectives(facts), tensor_meta(facts), exec_order(facts),
            runtime(facts)]
