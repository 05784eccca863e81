"""rank_summary (per rank, in `--all-ranks-html` runs): legacy's `collectives_parity.json`, and the
few facts the cross-rank module compares, so it never re-reads a rank's whole store.

Runs in each rank's folder, in parallel with the other ranks. The facts (`FACTS_FILE`) are what
legacy reads back from a rank's written files: the compile directory's keys and cache suffixes,
per compile directory the first runtime estimate, every tensor-metadata file, the first collective
schedule, the cache status, and the graph execution order. Compile directories keep log order
(legacy: directory order, which depends on the filesystem).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ..jsonfmt import serde_dumps
from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..rules.compile_id import UNKNOWN_GROUP, group_of_directory

PARITY_FILE = "collectives_parity.json"
FACTS_FILE = "data/rank_summary/facts.json"
PARITY_DESCRIPTION = ("Difference of # of collectives in scheduler and inductor output code "
                      "and missing wait collectives")
LEGACY_UNKNOWN_KEY = "unknown"
SERDE_DEPTH = 128  # serde_json's recursion limit: legacy cannot read a file nested deeper
RUNTIME_PREFIX = "inductor_runtime_and_tensor_meta"
SCHEDULE_PREFIX = "inductor_collective_schedule"
OUTPUT_CODE_PREFIX = "inductor_output_code"
COLLECTIVE_KINDS = ("all_reduce", "reduce_scatter", "all_gather", "broadcast", "all_to_all", "reduce")
WAIT = "wait_tensor"
#: A call in generated code; `\s*` only between fixed tokens, so matching stays linear.
_CALL = re.compile(r"torch\.ops\._c10d_functional\.([A-Za-z_][A-Za-z0-9_]*)\.default\s*\(")
_COMMENT_START = re.compile(r"#|//|/\*")
#: How legacy's highlighted HTML spells the characters that matter to its comment stripping.
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


@dataclass
class Options:
    """`scope: rank`: one task per rank (see ranks/dag.py)."""

    scope: Literal["rank", "all"] = "rank"


@dataclass
class GraphFacts:
    """One compile directory (a `graph` in legacy's multi-rank files)."""

    dir: str
    key: str
    cache: str | None = None  # legacy's one status: miss before hit before bypass
    cache_seq: list[str] | None = None  # every cache artifact's status, in output order
    runtime_ops: list[dict[str, Any]] | None = None
    tensor_meta: list[str] | None = None  # digests of each file's canonical JSON, in log order
    schedule: list[str] | None = None
    code: dict[str, int] | None = None  # collective calls in the first output code, waits included

    def to_json(self) -> dict[str, Any]:
        return {"dir": self.dir, "key": self.key, "cache": self.cache, "cache_seq": self.cache_seq,
                "runtime_ops": self.runtime_ops,
                "tensor_meta": self.tensor_meta, "schedule": self.schedule}


def normalize_collective(op: str) -> str | None:
    """`torch.ops._c10d_functional.all_gather_into_tensor.default` → `all_gather`; waits → `wait_tensor`."""
    if WAIT in op:
        return WAIT
    return next((kind for kind in COLLECTIVE_KINDS if kind in op), None)


def strip_comments(text: str) -> str:
    """Legacy's `#.*$|//.*$|/\\*.*?\\*/` (leftmost first) in one linear pass: an unclosed `/*`
    matches nothing, and then no later one can close either."""
    parts: list[str] = []
    position, closable = 0, True
    while (match := _COMMENT_START.search(text, position)) is not None:
        start = match.start()
        if match.group() == "/*":
            end = text.find("*/", start + 2) if closable else -1
            if end < 0:
                closable = False
                parts.append(text[position:start + 1])
                position = start + 1
                continue
            parts.append(text[position:start])
            position = end + 2
            continue
        parts.append(text[position:start])
        end = text.find("\n", start)
        position = len(text) if end < 0 else end
    parts.append(text[position:])
    return "".join(parts)


def code_collectives(code: str, as_html: bool) -> dict[str, int]:
    """Collective and wait calls outside comments. Legacy reads its highlighted HTML page, where
    `'` is `&#39;` and so starts a `#` comment: counted on the same text here."""
    if as_html:
        code = code.translate(_HTML_ESCAPES)
    counts: dict[str, int] = {}
    for match in _CALL.finditer(strip_comments(code)):
        kind = normalize_collective(match.group(1))
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def parity_of(schedule: list[str], code: dict[str, int]) -> tuple[int, int]:
    """(offset, missing_waits): Σ|scheduled − in code| per collective kind, and collectives in the
    code without a wait."""
    scheduled: dict[str, int] = {}
    for op in schedule:
        kind = normalize_collective(op)
        if kind is not None and kind != WAIT:
            scheduled[kind] = scheduled.get(kind, 0) + 1
    in_code = {k: v for k, v in code.items() if k != WAIT}
    offset = sum(abs(scheduled.get(k, 0) - in_code.get(k, 0)) for k in set(scheduled) | set(in_code))
    return offset, max(0, sum(in_code.values()) - code.get(WAIT, 0))


def parse_json(payload: Any) -> Any:
    """A JSON payload as legacy's serde reads it back from the rank's file, or None when serde
    could not: not JSON, a number beyond a double's range (an integer beyond 64 bits is read as a
    double, as orjson does), or nested deeper than serde's recursion limit."""
    if not isinstance(payload, str):
        return None
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return None if nested_deeper_than(value, SERDE_DEPTH) else value


def nested_deeper_than(value: Any, levels: int) -> bool:
    """Whether containers nest more than `levels` deep (iterative: any depth is safe)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > levels:
                return True
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def canonical_digest(value: Any) -> str:
    """Legacy compares tensor metadata as compact sorted-key JSON; equal values, equal digests."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def runtime_ops(value: Any) -> list[dict[str, Any]] | None:
    """`ops` of a runtime estimate as legacy keeps them (name, estimated_runtime_ns as a float)."""
    ops = value.get("ops") if isinstance(value, dict) else None
    if not isinstance(ops, list):
        return None
    kept = []
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("name"), str):
            return None
        runtime = op.get("estimated_runtime_ns")
        if isinstance(runtime, bool) or not isinstance(runtime, int | float):
            return None
        kept.append({"name": op["name"], "estimated_runtime_ns": float(runtime)})
    return kept


class RankReader:
    """Streams one rank's store once into its facts."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.graphs: dict[str, GraphFacts] = {}
        self.keys: dict[str, None] = {}
        self.suffixes: list[tuple[int, str]] = []
        self.exec_order: tuple[int, list[str]] | None = None

    def graph(self, directory: str) -> GraphFacts:
        if directory not in self.graphs:
            group, display = group_of_directory(directory)
            self.graphs[directory] = GraphFacts(directory, LEGACY_UNKNOWN_KEY if group == UNKNOWN_GROUP else display)
        return self.graphs[directory]

    def read(self) -> None:
        for entry in self.ctx.manifest["compile_ids"]:
            self.keys[LEGACY_UNKNOWN_KEY if entry["id"] == UNKNOWN_GROUP else entry["display_name"]] = None
        for record in self.ctx.read_jsonl("index.jsonl"):
            if record.get("status") == "ok":
                self.index_outputs(record.get("outputs") or [])
        for name in ("artifacts.jsonl", "codegen.jsonl"):
            for record in self.ctx.read_jsonl(name):
                for output in record.get("outputs") or []:
                    self.payload(output, record.get("payload"))

    def index_outputs(self, outputs: list[dict[str, Any]]) -> None:
        for output in outputs:
            url, number = output.get("url"), output.get("number")
            if output.get("suffix") and isinstance(number, int):
                self.suffixes.append((number, str(output["suffix"])))
            if not isinstance(url, str) or "/" not in url:
                continue
            directory, _, base = url.partition("/")
            graph = self.graph(directory)
            self.keys.setdefault(graph.key, None)
            status = next((s for s in ("miss", "hit", "bypass") if f"cache_{s}" in base), None)
            if status is None:
                continue
            graph.cache_seq = [*(graph.cache_seq or []), status]
            if graph.cache is None or _CACHE_RANK[status] < _CACHE_RANK[graph.cache]:
                graph.cache = status

    def payload(self, output: dict[str, Any], payload: Any) -> None:
        url, number = output.get("url"), output.get("number")
        if not isinstance(url, str) or "/" not in url or not isinstance(number, int):
            return
        directory, _, base = url.partition("/")
        if "/" in base:
            return
        if base.startswith(OUTPUT_CODE_PREFIX):
            graph = self.graph(directory)
            if graph.code is None and isinstance(payload, str):
                graph.code = code_collectives(payload, base.endswith(".html"))
            return
        if not base.endswith(".json"):
            return
        if base.startswith(RUNTIME_PREFIX):
            self.runtime(self.graph(directory), parse_json(payload))
        elif base.startswith(SCHEDULE_PREFIX):
            graph = self.graph(directory)
            value = parse_json(payload)
            if graph.schedule is None and isinstance(value, list) and all(isinstance(v, str) for v in value):
                graph.schedule = value
        elif "graph_execution" in base and (self.exec_order is None or number > self.exec_order[0]):
            order = execution_order(parse_json(payload))
            if order is not None:
                self.exec_order = (number, order)

    def runtime(self, graph: GraphFacts, value: Any) -> None:
        if value is None:
            return
        graph.tensor_meta = [*(graph.tensor_meta or []), canonical_digest(value)]
        if graph.runtime_ops is None:
            graph.runtime_ops = runtime_ops(value)

    def parity(self) -> list[dict[str, Any]]:
        """collectives_parity.json's `graphs`: directories with a schedule and output code."""
        rows = []
        for graph in self.graphs.values():
            if graph.schedule is None or graph.code is None:
                continue
            offset, missing = parity_of(graph.schedule, graph.code)
            if offset or missing:
                rows.append({"graph": graph.dir, "compile_id": graph.key, "offset": offset, "missing_waits": missing})
        return rows

    def facts(self) -> dict[str, Any]:
        return {
            "compile_ids": [k for k in self.keys if k != LEGACY_UNKNOWN_KEY and not k.startswith("unknown_")],
            "cache_pattern": "".join(s for _, s in sorted(self.suffixes, key=lambda item: item[0])),
            "graphs": [g.to_json() for g in self.graphs.values()],
            "exec_order": self.exec_order[1] if self.exec_order else None,
        }


_CACHE_RANK = {"miss": 0, "hit": 1, "bypass": 2}


def execution_order(value: Any) -> list[str] | None:
    """`{"graph_execution_order": ["0/1" | {"compile_id": "0/1"}]}` → `["[0/1]", …]`."""
    order = value.get("graph_execution_order") if isinstance(value, dict) else None
    if not isinstance(order, list):
        return None
    ids = []
    for item in order:
        cid = item.get("compile_id") if isinstance(item, dict) else item
        if not isinstance(cid, str):
            return None
        ids.append(f"[{cid}]")
    return ids


def render(ctx: ModuleContext) -> ModuleOutput:
    reader = RankReader(ctx)
    reader.read()
    parity = {"description": PARITY_DESCRIPTION, "graphs": reader.parity()}
    ctx.write_bytes(PARITY_FILE, serde_dumps(parity, pretty=True, sort_keys=False))
    ctx.write_bytes(FACTS_FILE, orjson.dumps(reader.facts(), option=orjson.OPT_INDENT_2))
    html = ctx.render("multi_rank_parity.html", file=PARITY_FILE, graphs=parity["graphs"])
    return ModuleOutput(index_entries=[IndexEntry(section="collectives_parity", title="Collectives parity",
                                                  html=html, order=80)])
