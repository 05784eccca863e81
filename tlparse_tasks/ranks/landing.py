"""The landing page of `--all-ranks-html`: legacy's sections in legacy's order, each finding
naming the ranks and compile ids that differ, with links to them.

A view of `multi_rank_diagnostics.json` and of the files the cross-rank modules wrote (their
records): every sentence is computed here, the template only lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..atomic import write_bytes
from ..fserrors import one_line_errors

LANDING_TEMPLATE = "multi_rank_index.html"
DIAGNOSTICS_FILE = "multi_rank_diagnostics.json"
CHROMIUM_EVENTS = "chromium_events.json"
RUNTIME_TRACE = "chromium_trace_with_runtime.json"


@dataclass
class Link:
    """A link of the ranks' landing page."""

    text: str
    href: str


@dataclass
class Row:
    """One line of detail: a compile id (or position) and what each group of ranks shows."""

    label: Link | str
    parts: list[tuple[str, list[Link]]] = field(default_factory=list)


@dataclass
class Finding:
    """A paragraph: a legacy sentence (`strong` marks a warning), groups of ranks, detail rows."""

    text: str
    warning: bool = False
    groups: list[tuple[str, list[Link]]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


class Links:
    """Links into the rank reports."""

    def __init__(self, folders: dict[int, str]) -> None:
        self.folders = folders

    def rank(self, rank: int | str) -> Link:
        folder = self.folders.get(int(rank), f"rank_{rank}")
        return Link(f"Rank {rank}", f"{folder}/index.html")

    def ranks(self, ranks: list[Any]) -> list[Link]:
        return [self.rank(r) for r in ranks]

    def compile_id(self, rank: int | str, key: str, text: str | None = None) -> Link:
        """`key` (or `text`) linking to that compile id's entry in the rank's report."""
        return Link(key if text is None else text, f"{self.rank(rank).href}#{key}")

    def numbers(self, ranks: list[Any]) -> list[Link]:
        """`0, 2` as legacy lists a group, each number linking to its rank's report."""
        return [Link(str(r), self.rank(r).href) for r in ranks]


def by_value(by_rank: dict[str, Any]) -> list[tuple[Any, list[str]]]:
    """Ranks grouped by their value, in first-rank order."""
    groups: dict[str, tuple[Any, list[str]]] = {}
    for rank, value in by_rank.items():
        groups.setdefault(repr(value), (value, []))[1].append(rank)
    return list(groups.values())


COLLECTIVE_PREFIX = "torch.ops._c10d_functional."


def describe(value: Any) -> str:
    """A value as a reader wants it: `none`, or a list without the collectives' long prefix."""
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(str(v).removeprefix(COLLECTIVE_PREFIX) for v in value) or "none"
    return str(value)


def value_rows(links: Links, rows: list[dict[str, Any]]) -> list[Row]:
    """`[1/0]`: `miss` on Rank 0, `hit` on Rank 1 … (compile ids link to the first rank's entry)."""
    result = []
    for row in rows:
        first = next(iter(row["by_rank"]))
        parts = [(f"{describe(value)} on", links.ranks(ranks)) for value, ranks in by_value(row["by_rank"])]
        result.append(Row(links.compile_id(first, row["compile_id"]), parts))
    return result


def rank_groups(links: Links, groups: list[list[int]]) -> list[tuple[str, list[Link]]]:
    return [("Ranks:", links.numbers(g)) for g in groups]


# -- the sections ---------------------------------------------------------------------------------

def warnings(links: Links, d: dict[str, dict[str, Any]]) -> list[Finding]:
    found = []
    if d["compile_ids"]["status"] == "divergent":
        rows = [Row(links.compile_id(r["ranks_with"][0], r["compile_id"]),
                    [("compiled on", links.ranks(r["ranks_with"])),
                     ("not compiled on", links.ranks(r["ranks_without"]))])
                for r in d["compile_ids"]["details"]["differences"]]
        found.append(Finding("Diverging Compilation IDs detected across ranks. This may lead to hangs or timeouts "
                             "during distributed execution.", True, rank_groups(links, d["compile_ids"]["groups"]),
                             rows))
    if d["cache"]["status"] == "divergent":
        found.append(Finding("Diverging Cache hit/miss patterns detected across ranks. Cache hit/miss pattern groups:",
                             True, rank_groups(links, d["cache"]["groups"]),
                             value_rows(links, d["cache"]["details"]["differences"])))
    if d["collectives"]["status"] == "divergent":
        found.append(Finding("Diverging collective operation sequences detected across ranks. This can lead to hangs "
                             "or timeouts during distributed execution. Collective operation sequence groups:", True,
                             rank_groups(links, d["collectives"]["groups"]),
                             value_rows(links, d["collectives"]["details"]["differences"])))
    if d["tensor_meta"]["status"] == "divergent":
        found.append(Finding("Diverging inductor tensor metadata detected across ranks (see Tensor Metadata "
                             "Analysis below).", True, rank_groups(links, d["tensor_meta"]["groups"])))
    return found


def runtime_section(links: Links, runtime: dict[str, Any], rank_count: int) -> list[Finding]:
    if runtime["status"] == "unavailable":
        return []
    details = runtime["details"]
    if details["mismatched_graph_counts"]:
        counts = [(f"{n} graph(s) on", links.ranks(ranks)) for n, ranks in by_value(details["graph_counts"])]
        return [Finding("Runtime analysis not available: Ranks have different numbers of compiled graphs, "
                        "preventing cross-rank comparison. This mismatch may indicate compilation divergence "
                        "between ranks.", True, counts)]
    found = [Finding(f"Runtime variance analysis across all {rank_count} rank(s) for each compiled graph based on "
                     "inductor runtime estimates. Shows the delta between the fastest and slowest ranks, helping "
                     "identify performance imbalances that could impact distributed training efficiency. Large "
                     "deltas indicate potential desync issues on specific ranks.")]
    for graph in details["graphs"]:
        if graph["equal"]:
            text = f"Graph {graph['graph']}: {graph['delta_ms']} ms delta (every rank {graph['fastest']['ms']} ms)"
            found.append(Finding(text))
        else:
            found.append(Finding(f"Graph {graph['graph']}: {graph['delta_ms']} ms delta", False, [
                (f"Fastest ({graph['fastest']['ms']} ms):", [links.rank(graph["fastest"]["rank"])]),
                (f"Slowest ({graph['slowest']['ms']} ms):", [links.rank(graph["slowest"]["rank"])])]))
    return found


def exec_order_section(links: Links, order: dict[str, Any]) -> list[Finding]:
    if order["status"] == "unavailable":
        return [Finding("Execution-order analysis unavailable.", False, [], [])] + (
            [Finding(order["details"]["reason"])] if order["details"].get("reason") else [])
    details = order["details"]
    rows = [Row(f"position {row['index']}" + (f" ({', '.join(row['issues'])} mismatch)" if row["issues"] else ""),
                [(f"{describe(cid)} on",
                  [links.compile_id(r, cid, f"Rank {r}") if cid else links.rank(r) for r in ranks])
                 for cid, ranks in by_value(row["by_rank"])]) for row in details["rows"]]
    found = [Finding("Graph execution order differs across ranks." if details["order_differs"]
                     else "Graph execution order: consistent across ranks.", details["order_differs"],
                     rank_groups(links, order["groups"]) if details["order_differs"] else [], rows)]
    if details["schedule_mismatch"]:
        found.append(Finding("Schedule mismatch across ranks: "
                             + ", ".join(f"Rank {r}" for r in details["schedule_mismatch"]), True))
    else:
        found.append(Finding("Collectives Schedule: Consistent across ranks."))
    if details["cache_mismatch"]:
        found.append(Finding("Cache hit/miss mismatch across ranks: "
                             + ", ".join(f"Rank {r}" for r in details["cache_mismatch"]), True))
    else:
        found.append(Finding("Cache hit/miss sequence: Consistent across ranks."))
    if details["without_data"]:
        found.append(Finding("No execution order was logged by:", False,
                             [("", links.ranks(details["without_data"]))]))
    return found


def tensor_meta_section(links: Links, meta: dict[str, Any]) -> list[Finding]:
    if meta["status"] == "unavailable":
        return [Finding("Tensor metadata analysis unavailable: " + meta["details"]["reason"] + ".")]
    if meta["status"] == "consistent":
        return [Finding("All ranks have matching tensor meta signatures across graphs.")]
    details = meta["details"]
    rows = [Row(links.compile_id(next(iter(g[0] for g in row["groups"])), row["compile_id"]),
                [(f"signature {i + 1} on", links.ranks(group)) for i, group in enumerate(row["groups"])])
            for row in details["differences"]]
    found = [Finding("Ranks exhibit divergent inductor tensor metadata across graphs. Groups with identical "
                     "signatures:", True, rank_groups(links, meta["groups"]), rows)]
    if details["without_data"]:
        found.append(Finding("No inductor tensor metadata was logged by:", False,
                             [("", links.ranks(details["without_data"]))]))
    return found


def landing_view(diagnostics: dict[str, Any], written: set[str], folders: dict[int, str],
                 custom_header_html: str) -> dict[str, Any]:
    links = Links(folders)
    d = {item["kind"]: item for item in diagnostics["diagnostics"]}
    ranks = diagnostics["ranks"]
    return {
        "custom_header_html": custom_header_html,
        "rank_count": len(ranks),
        "style": f"{folders[ranks[0]]}/style.css" if ranks else None,
        "warnings": warnings(links, d),
        "chromium_events": CHROMIUM_EVENTS if CHROMIUM_EVENTS in written else None,
        "runtime_trace": RUNTIME_TRACE if RUNTIME_TRACE in written else None,
        "ranks": links.ranks(ranks),
        "runtime": runtime_section(links, d["runtime"], len(ranks)),
        "exec_order": exec_order_section(links, d["exec_order"]),
        "tensor_meta": tensor_meta_section(links, d["tensor_meta"]),
        "diagnostics_file": DIAGNOSTICS_FILE,
        "summary": [(item["kind"], item["status"]) for item in diagnostics["diagnostics"]],
    }


@one_line_errors
def run_landing(out: str, records: list[str], run: dict[str, Any], template_dirs: list[str]) -> None:
    """The doit action: render OUT/index.html."""
    from ..render import jinja_env

    out_path = Path(out)
    diagnostics = orjson.loads((out_path / DIAGNOSTICS_FILE).read_bytes())
    written = {f for r in records for f in orjson.loads(Path(r).read_bytes()).get("files", [])}
    folders = {int(rank): str(folder) for rank, folder in run["ranks"]}
    view = landing_view(diagnostics, written, folders, str(run.get("custom_header_html", "")))
    html = jinja_env(tuple(template_dirs)).get_template(LANDING_TEMPLATE).render(**view)
    write_bytes(out_path / "index.html", html.encode("utf-8"), root=out_path)
