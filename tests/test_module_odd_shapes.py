"""Report modules read untrusted log data: every JSON shape the store can hold (an unknown entry
type's value may be a string, a list, a number; payloads are any JSON text; numbers may be beyond
what a double or a u64 holds) must leave each module's pure functions working, never raising,
while the well-formed records among them are still read."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.logs import cid, entry, write
from tlparse_tasks.cli import main
from tlparse_tasks.modules import (
    cache_diff,
    compile_times,
    export,
    graph_breaks,
    multi_rank,
    provenance,
    rank_summary,
    recompiles,
)
from tlparse_tasks.modules.common import metadata_of
from tlparse_tasks.modules.cross_rank import runtime, to_ms

#: JSON values of every shape, including ones nested deeper than the store keeps (200 levels).
ODD: list[Any] = ["text", "", [1, 2], [], 7, -1.5, 1e308, True, False, None, {}, {"name": 3},
                  {"name": ["x"]}, [[["x"]]], {"components": "x"}, {"components": [1, {}]},
                  {"ops": "x"}, {"ops": [{"name": 1}]}, {"graph_execution_order": [5]},
                  orjson.loads("[" * 250 + "]" * 250)]
#: Payload texts: each odd value as JSON, and texts that are not JSON or not readable by orjson.
PAYLOADS = [json.dumps(v) for v in ODD] + ["", "not json", "{", "1" * 400, "[" * 1100 + "]" * 1100, "NaN"]


def record(kind: str, metadata: Any, payload: Any = None, line: int = 1) -> dict[str, Any]:
    """A store record as the parse writes it (typed streams and artifacts.jsonl)."""
    return {"type": kind, "compile_id": "-_0_0_0", "rank": None, "line": line, "metadata": metadata,
            "outputs": [], "payload": payload, "extra": {"odd": metadata}}


def odd_records() -> list[dict[str, Any]]:
    """Unknown types with odd values, and known names and types carrying odd payloads."""
    found = [record(f"new_type_{i}", value) for i, value in enumerate(ODD)]
    names = ("dynamo_graph_break_reason", "recompile_reasons", "fx_graph_cache_miss", "fx_graph_cache_hit")
    for i, payload in enumerate(PAYLOADS):
        found += [record("artifact", {"name": name, "encoding": "json"}, payload, line=10 + i) for name in names]
        found += [record(kind, {}, payload) for kind in ("dynamo_guards", "dynamo_cpp_guards_str")]
        found += [record(kind, value, payload) for kind in ("compilation_metrics", "bwd_compilation_metrics",
                                                            "expression_created", "guard_added")
                  for value in ODD]
    return found


BREAK = record("artifact", {"name": "dynamo_graph_break_reason", "encoding": "string"},
               "Graph break in user code at /m.py:3\nGraph Break Reason: Unsupported: x", line=2)


def test_metadata_of_is_an_object_whatever_was_logged() -> None:
    assert [metadata_of(record("t", value)) for value in ("x", [1], 7, None)] == [{}] * 4
    assert metadata_of(record("t", {"name": "a"})) == {"name": "a"}


def test_graph_breaks_and_recompiles_skip_odd_records_and_keep_the_real_ones() -> None:
    total, groups = graph_breaks.group_breaks([*odd_records(), BREAK])
    assert total == 1 + len(PAYLOADS)  # every logged break counts, whatever its text
    assert any(g.location == "/m.py:3" for g in groups)
    frames = recompiles.collect(odd_records())
    recompiles.attach_guards(recompiles.wanted_compiles(frames),
                             [(orjson.dumps(r), r) for r in odd_records()])
    assert sum(len(f.recompiles) for f in frames.values()) == len(PAYLOADS)


def test_cache_diff_reads_components_only_from_objects_listing_strings() -> None:
    finder = cache_diff.find_misses(odd_records())
    assert finder.bare == len(PAYLOADS) - 1  # the one payload listing components: [1, {}] → none named
    assert cache_diff.components_of({"components": [1, {}, "[ab] gm: x"]}) == [cache_diff.Component("gm", "ab", "x")]
    needed = {r["line"]: {"gm"} for r in odd_records()}
    assert cache_diff.read_values(odd_records(), needed) == {}


def test_cache_diff_names_many_repeated_components_in_linear_time() -> None:
    components = [cache_diff.Component("x", "d", "1")] * 50_000
    started = time.perf_counter()
    names = cache_diff.signature(components)
    assert time.perf_counter() - started < 5  # quadratic, it took minutes
    assert len(names) == 50_000 and "x#50000" in names


def test_compile_times_ignore_odd_metrics_and_events() -> None:
    events: list[Any] = [value for value in ODD if isinstance(value, dict)]
    events += [{"name": v, "ph": "X", "ts": v, "dur": v, "args": v} for v in ODD]
    events += [{"name": "code_gen", "ph": ph, "ts": ts, "args": {"compile_id": v}} for v in ODD
               for ph, ts in (("B", 0), ("E", 1e308))]
    metrics = [*odd_records(), record("compilation_metrics", {"entire_frame_compile_time_s": 2.5})]
    rows = compile_times.time_rows(metrics, events)
    assert rows[0].total == 2.5


def test_export_nodes_and_fields_of_odd_metadata() -> None:
    for value in ODD:
        node_id, node = export.node_of(record("expression_created", value))
        assert node.arguments == [] or isinstance(value, dict)
        export.fields(value)
    node_id, node = export.node_of(record("expression_created", {"result_id": 3, "arguments": "ab",
                                                                 "argument_ids": [1, "2", 1.5]}))
    assert (node_id, node.arguments, node.argument_ids) == (3, [], [1])


def test_provenance_reads_mappings_of_any_shape() -> None:
    for value in ODD:
        assert provenance.classify(record("artifact", value)) is None or isinstance(value, dict)
    for payload in PAYLOADS:
        assert provenance.line_mappings(payload, "", "", "", "") in ({}, {k: {} for k in provenance.MAPPING_KEYS})


def test_rank_summary_reads_payloads_as_legacy_s_serde_would() -> None:
    """Not JSON, a number beyond a double, or deeper than serde's 128 levels: nothing to read."""
    for payload in ("1" * 400, "[" * 1100 + "]" * 1100, "[" * 129 + "]" * 129, "NaN", "{"):
        assert rank_summary.parse_json(payload) is None
    assert rank_summary.parse_json("[" * 128 + "]" * 128) is not None
    assert rank_summary.parse_json("1" * 25) == float("1" * 25)  # as serde reads it: a double
    for payload in PAYLOADS:
        value = rank_summary.parse_json(payload)
        rank_summary.runtime_ops(value)
        rank_summary.execution_order(value)
        if value is not None:
            rank_summary.canonical_digest(value)


def test_runtime_estimates_beyond_any_range_are_written_as_legacy_s_saturating_u64() -> None:
    ops = [{"name": n, "estimated_runtime_ns": ns} for n, ns in (("a", 1e308), ("b", 1e308), ("c", -5.0),
                                                               ("d", 0.5), ("e", 1e19))]
    events = multi_rank.runtime_trace([{"rank": 0, "graph": "-_0_0_0", "ops": ops}])
    spans = [(e["args"]["runtime_ns"], e["dur"], e["ts"]) for e in events if e["ph"] == "X"]
    most = 2**64 - 1
    assert spans == [(most, most, 0), (most, most, most), (0, 1, most - 1), (0, 1, most),
                     (10**19, 10**16, 0)]  # as legacy 0.4.3 writes them (its u64 ts wraps)
    orjson.dumps(events)


def test_runtime_deltas_of_estimates_summing_beyond_a_double() -> None:
    assert to_ms(1e308) == 1e302 and math.isinf(to_ms(math.inf))
    graph = {"dir": "-_0_0_0", "runtime_ops": [{"estimated_runtime_ns": 1e308}] * 2}
    small = {"dir": "-_0_0_0", "runtime_ops": [{"estimated_runtime_ns": 1.0}]}
    diagnostic = runtime({0: {"graphs": [graph]}, 1: {"graphs": [small]}})
    assert diagnostic.status == "divergent"
    assert diagnostic.details["graphs"][0]["fastest"]["rank"] == 1


@pytest.mark.slow
def test_odd_multi_rank_payloads_through_the_command(tmp_path: Path) -> None:
    """Runtime estimates, schedules and execution orders of odd shapes in every rank's log."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for rank in range(2):
        text = entry({"str": ["/m.py", 0]})
        for i, payload in enumerate([*PAYLOADS, '{"ops": [{"name": "a", "estimated_runtime_ns": 1e308}]}']):
            for name in ("inductor_runtime_and_tensor_meta", "inductor_collective_schedule", "graph_execution_order"):
                text += entry({"artifact": {"name": name, "encoding": "json"}, **cid(i)}, payload)
        write(logs / f"dedicated_log_torch_trace_rank_{rank}.log", text)
    out = tmp_path / "out"
    assert main([str(logs), "--all-ranks-html", "-o", str(out), "--no-browser"]) == 0
    diagnostics = orjson.loads((out / "multi_rank_diagnostics.json").read_bytes())
    assert [d["status"] for d in diagnostics["diagnostics"] if d["kind"] == "runtime"] == ["consistent"]
    trace = orjson.loads((out / "chromium_trace_with_runtime.json").read_bytes())
    assert {e["dur"] for e in trace if e["ph"] == "X"} == {2**64 - 1}
