"""multi_rank (cross-rank, `--all-ranks-html`): legacy's files at the top of OUT and
`multi_rank_diagnostics.json`, from every rank's facts (rank_summary.py) and chromium events.

Writes, as legacy does when there is something to write: `chromium_events.json` (every rank's
events, pid = rank), `runtime_estimations.json`, `chromium_trace_with_runtime.json` and
`collective_schedules.json`. Ranks ascending; graphs in each rank's log order (legacy: directory
order, filesystem-dependent). The landing page (ranks/landing.py) renders the diagnostics file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from ..jsonfmt import serde_dumps
from ..module_api import ModuleContext, ModuleOutput
from ..safepath import inside
from ..store.reader import StoreReader
from .cross_rank import diagnose
from .rank_summary import FACTS_FILE

DIAGNOSTICS_FILE = "multi_rank_diagnostics.json"
CHROMIUM_EVENTS = "chromium_events.json"
RUNTIME_ESTIMATIONS = "runtime_estimations.json"
RUNTIME_TRACE = "chromium_trace_with_runtime.json"
COLLECTIVE_SCHEDULES = "collective_schedules.json"
FX_SEED = 0x517CC1B727220A95
U64_MAX = (1 << 64) - 1
MASK64 = (1 << 64) - 1


@dataclass
class Options:
    """`scope: all`: one task over every rank (see ranks/dag.py)."""

    scope: Literal["rank", "all"] = "all"
    rank_file: str = FACTS_FILE  # what rank_summary writes in each rank's folder (a file_dep per rank)


def rank_folders(ctx: ModuleContext) -> list[tuple[int, str]]:
    """(rank, folder) pairs the run gave this module, ranks ascending."""
    return sorted((int(rank), str(folder)) for rank, folder in ctx.run.get("ranks", []))


def read_facts(out: Path, ranks: list[tuple[int, str]], name: str) -> dict[int, dict[str, Any]]:
    return {rank: orjson.loads(inside(out / folder, name).read_bytes()) for rank, folder in ranks}


# -- chromium_events.json: every rank's events, pid = rank ----------------------------------------

def load_events(path: Path) -> list[Any]:
    data = path.read_bytes()
    try:
        events = orjson.loads(data)
    except orjson.JSONDecodeError:  # integers beyond 64 bits
        events = json.loads(data)
    return events if isinstance(events, list) else []


def pretty_item(value: Any) -> bytes:
    """One array item as serde's pretty printer lays it out inside the array."""
    try:
        text = serde_dumps(value, pretty=True)
    except TypeError:  # integers beyond 64 bits
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode()
    return b"  " + text.replace(b"\n", b"\n  ")


def combined_events(stores: list[tuple[int, StoreReader]]) -> Iterator[bytes]:
    """The pretty array, one rank's events in memory at a time."""
    first = True
    for rank, store in stores:
        for event in load_events(store.path(CHROMIUM_EVENTS)):
            if isinstance(event, dict):
                event["pid"] = rank
            yield (b"[\n" if first else b",\n") + pretty_item(event)
            first = False
    yield b"\n]"


def has_events(stores: list[tuple[int, StoreReader]]) -> bool:
    return any(store.manifest["files"].get(CHROMIUM_EVENTS, {}).get("count") for _, store in stores)


# -- runtime estimations and their trace --------------------------------------------------------

def fx_hash(rank: int, graph: str) -> int:
    """rustc's FxHasher64 over `(rank: u32, graph: &str)`, as legacy's thread ids use it."""
    h = 0

    def add(word: int) -> None:
        nonlocal h
        h = (((h << 5) | (h >> 59)) & MASK64 ^ word) * FX_SEED & MASK64

    add(rank)
    data = graph.encode()
    i = 0
    while len(data) - i >= 8:
        add(int.from_bytes(data[i:i + 8], "little"))
        i += 8
    if len(data) - i >= 4:
        add(int.from_bytes(data[i:i + 4], "little"))
        i += 4
    for byte in data[i:]:
        add(byte)
    add(0xFF)
    return h


def runtime_estimations(facts: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"rank": rank, "graph": g["dir"], "ops": g["runtime_ops"]}
            for rank, f in sorted(facts.items()) for g in f["graphs"] if g["runtime_ops"]]


def as_u64(value: float, ceil: bool = False) -> int:
    """Rust's saturating `f64 as u64`, as legacy writes logged estimates: NaN and negatives are 0,
    anything beyond the range u64::MAX (an estimate of 1e308 ns must not break the JSON)."""
    if math.isnan(value) or value <= 0:
        return 0
    if value >= U64_MAX:
        return U64_MAX
    return math.ceil(value) if ceil else int(value)


def runtime_trace(estimations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """X events laid end to end per graph, then process and thread names (threads in graph
    order per rank; legacy: hash order)."""
    events: list[dict[str, Any]] = []
    threads: dict[int, list[tuple[str, int]]] = {}
    for entry in estimations:
        rank, graph = entry["rank"], entry["graph"]
        tid = fx_hash(rank, graph) & 0xFFFFFFFF
        threads.setdefault(rank, []).append((graph, tid))
        ts = 0
        for op in entry["ops"]:
            ns = op["estimated_runtime_ns"]
            dur = max(1, as_u64(ns / 1000, ceil=True))
            events.append({"args": {"graph": graph, "rank": rank, "runtime_ns": as_u64(ns)}, "cat": "runtime",
                           "dur": dur, "name": op["name"], "ph": "X", "pid": rank, "tid": tid, "ts": ts})
            ts = (ts + dur) & U64_MAX  # legacy's u64 wraps
    for pid in sorted(threads):
        events.append({"args": {"name": f"Rank {pid}"}, "name": "process_name", "ph": "M", "pid": pid})
        events.append({"args": {"sort_index": pid}, "name": "process_sort_index", "ph": "M", "pid": pid})
    for pid in sorted(threads):
        for index, (graph, tid) in enumerate(threads[pid]):
            events.append({"args": {"name": f"graph {graph}"}, "name": "thread_name", "ph": "M", "pid": pid,
                           "tid": tid})
            events.append({"args": {"sort_index": index}, "name": "thread_sort_index", "ph": "M", "pid": pid,
                           "tid": tid})
    return events


def collective_schedules(facts: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"rank": rank, "graph": g["dir"], "ops": g["schedule"]}
            for rank, f in sorted(facts.items()) for g in f["graphs"] if g["schedule"]]


# -- the module ---------------------------------------------------------------------------------

def diagnostics_json(facts: dict[int, dict[str, Any]]) -> bytes:
    """`{"ranks", "diagnostics": [{kind, status, groups, details}]}`, kinds in `KINDS` order
    (schema: store/schemas/multi_rank_diagnostics.schema.json)."""
    diagnostics = [d.to_json() for d in diagnose(facts)]
    data = {"ranks": sorted(facts), "diagnostics": diagnostics}
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)


def render(ctx: ModuleContext) -> ModuleOutput:
    ranks = rank_folders(ctx)
    stores = [(rank, StoreReader(ctx.out / folder, ctx.module_id, ctx.subscriptions)) for rank, folder in ranks]
    facts = read_facts(ctx.out, ranks, str(ctx.options.get("rank_file") or FACTS_FILE))
    written: list[str] = []
    if has_events(stores):
        written.append(ctx.write_chunks(CHROMIUM_EVENTS, combined_events(stores)))
    estimations = runtime_estimations(facts)
    if estimations:
        written.append(ctx.write_bytes(RUNTIME_ESTIMATIONS, serde_dumps(estimations, pretty=True, sort_keys=False)))
        written.append(ctx.write_bytes(RUNTIME_TRACE, serde_dumps(runtime_trace(estimations), pretty=True)))
    schedules = collective_schedules(facts)
    if schedules:
        written.append(ctx.write_bytes(COLLECTIVE_SCHEDULES, serde_dumps(schedules, pretty=True, sort_keys=False)))
    ctx.write_bytes(DIAGNOSTICS_FILE, diagnostics_json(facts))
    return ModuleOutput(files=written)
