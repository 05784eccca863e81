"""compilation_metrics (hybrid): the metrics pages, failures_and_restarts.html and a summary.

One streaming pass over three log-ordered streams merged by log line (index.jsonl for each
compile id's files so far, compilation_metrics.jsonl for metrics and dynamo_start stacks,
guards.jsonl for shape specializations and fast guards), replaying legacy's per-line order:

- every output of a line other than the metrics page itself joins the compile id's file list
  before the page is rendered (legacy copies the list after the other parsers ran);
- a metrics page shows the latest dynamo_start stack logged under its compile id with the
  attempt forced to 0, and drains the specializations / fast guards logged before it under
  that same key. Legacy indexes entries by their *raw* id, so those logged under attempt 1
  (or without an attempt) never match and are never shown: a bug. By default
  (`drain: normalised`) we index them by the attempt-0 id, so every entry is shown;
  `drain: legacy` reproduces 0.4.3.

The index gets the restart/failure count (inline) and every metrics page with its outcome
(a lazy shard for the generic `artifacts` renderer; inline with --eager).

A page depends only on the records before it, so after the log grew only the records after the
parse's resume point are read: what the pass keeps across records at that point
(`MetricsPass.to_json`) is the module's state (record_state, the four streams read together).

Pages repeat most of what they show (a compile id's growing file list, framework stacks, the
compiled frame, flags and configs among the other fields, table rows), so those parts are made
by their own macros, called from Python once per distinct value (`Stacks`, `FileLists`,
`OtherFields`, `ValueRows`), and a page's template puts them in place: the same bytes as
calling the macros on every page, at a fraction of the cost.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass, replace
from typing import Any, Literal, NamedTuple, cast, get_args

import orjson
from markupsafe import Markup

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file
from ..parse import stacks
from ..record_state import RecordState, Spans
from ..rules.compile_id import display_of, group_of_directory
from ..rules.graph_break import parse_graph_break
from ..store.reader import naming
from . import metrics_model as mm
from .common import depth_prefix, load_strings, metadata_of, output_of
from .kit import SharedStacks, StackView, stack_of

GUARD_TYPES = ("symbolic_shape_specialization", "guard_added_fast")
FAILURES_PAGE = "failures_and_restarts.html"
SHARD = "pages"
PAGE_NAMES = {"compilation_metrics": "compilation metrics",
              "bwd_compilation_metrics": "backward compilation metrics",
              "aot_autograd_backward_compilation_metrics": "AOT autograd backward compilation metrics"}
Drain = Literal["legacy", "normalised"]
DRAIN_MODES: tuple[str, ...] = get_args(Drain)
LARGE_VALUE_CHARS = 2048  # longer other-field values load on demand (default mode)
GRAPH_BREAK_NAME = b'"dynamo_graph_break_reason"'  # as artifacts.jsonl spells the artifact's name
#: The guards.jsonl records the pages use: most of the file is guard code (dynamo_cpp_guards_str),
#: whose records are large and are skipped unparsed.
GUARD_NAMES = naming(*(b'"' + kind.encode() + b'"' for kind in GUARD_TYPES))
INDEX, TYPED, BREAK = 0, 1, 2  # within one log line, the index record is replayed first
STREAMS = ("index.jsonl", "compilation_metrics.jsonl", "guards.jsonl", "artifacts.jsonl")


@dataclass(frozen=True)
class Options:
    """This module's `options:` in modules.yaml, checked when it loads (see the docstring above)."""

    drain: Drain = "normalised"


class SharedValues:
    """Large "other field" values, each stored once in a shard `value-<digest>` that every page
    showing it loads on demand (hybrid: the page is the summary, these are details)."""

    def __init__(self, module_id: str, enabled: bool) -> None:
        self.module_id = module_id
        self.enabled = enabled
        self.shards: dict[str, str] = {}  # shard name → value
        self.known: dict[str, tuple[str, str]] = {}  # value → its shard, its size (configs repeat)

    def defer(self, field: mm.OtherField, root: str) -> mm.OtherField:
        """The field as a page at `root` shows it: a large value becomes a link to its shard."""
        if not self.enabled or len(field.value) <= LARGE_VALUE_CHARS:
            return field
        return self._deferred(field, root)

    def _deferred(self, field: mm.OtherField, root: str) -> mm.OtherField:
        known = self.known.get(field.value)
        if known is None:
            known = self.keep(field.value)
        shard, size = known
        return replace(field, value="", lazy=mm.LazyValue(shard, f"{root}data/{self.module_id}/{shard}.js", size))

    def keep(self, value: str) -> tuple[str, str]:
        """A new large value's shard and size."""
        data = value.encode("utf-8", "surrogatepass")
        shard = f"value-{hashlib.blake2b(data, digest_size=10).hexdigest()}"
        self.shards[shard] = value
        known = self.known[value] = (shard, f"{len(data) / 1024:.0f} KB")
        return known

    def write(self, ctx: ModuleContext) -> None:
        """Written after every page, outside any page's unit: a skipped page still needs them."""
        ctx.end_unit()
        for shard, value in sorted(self.shards.items()):
            ctx.write_shard(shard, value)


class Stacks(SharedStacks):
    """kit.SharedStacks with `stack_of` (every stack slot shows), plus the compiled frame at
    the top of a page once per function (`mini_frame`)."""

    def __init__(self, ctx: ModuleContext, strings: dict[str, str]) -> None:
        super().__init__(strings, stack_of)
        self.bind(ctx)

    def view(self, value: Any) -> StackView:
        return cast(StackView, super().view(value))  # stack_of always gives a view

    def mini_frame(self, metrics: dict[str, Any]) -> StackView | None:
        """`mm.mini_frame` once per compiled frame (the frame of every recompile of a function)."""
        key = b"frame:" + orjson.dumps([metrics.get(k) for k in ("co_name", "co_filename", "co_firstlineno")])
        if key in self.views:
            return self.views[key]
        return self.keep(key, mm.mini_frame(metrics))


class ShownFiles:
    """A compile id's Output files as its pages in one folder show them: the list only grows
    along the log, so each output is linked and rendered once however many pages show it."""

    __slots__ = ("items", "links")

    def __init__(self) -> None:
        self.links: list[mm.FileLink] = []  # mm.file_link of each output so far
        self.items: list[str] = []  # artifact_item of the first of them


class FileLists:
    """Every page's Output files (`artifact_list.html`). The list is its items
    (`artifact_item`) between the markup that `artifact_list` puts around one item, which is
    checked once per run: a list that is not so made is rendered whole each time."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.whole = ctx.macro("artifact_list.html", "artifact_list")
        self.item = ctx.macro("artifact_list.html", "artifact_item")
        self.shown: dict[tuple[str, str, str], ShownFiles] = {}  # (group, page folder, root)
        self.around = self._around()

    def _around(self) -> tuple[str, str] | None:
        """The markup before and after the items, if the list is just its items in between."""
        probes = [listed_file("p/a.html", "a", 1, "s", "p/a_r.html"),
                  listed_file("http://x/", "b", None, external=True)]
        one = str(self.whole(probes[:1]))
        item = str(self.item(probes[0]))
        at = one.find(item)
        if at < 0:
            return None
        before, after = one[:at], one[at + len(item):]
        both = before + "".join(str(self.item(p)) for p in probes) + after
        return (before, after) if str(self.whole(probes)) == both else None

    def links(self, key: tuple[str, str, str], outputs: list[mm.OutputRef]) -> list[mm.FileLink]:
        """The group's outputs so far as a page in folder `key[1]` at `key[2]` links them."""
        shown = self.shown.setdefault(key, ShownFiles())
        for output in outputs[len(shown.links):]:
            shown.links.append(mm.file_link(output, key[1], key[2]))
        return shown.links[:len(outputs)]

    def html(self, key: tuple[str, str, str], count: int) -> Markup:
        """`artifact_list` of the first `count` of those links."""
        shown = self.shown[key]
        if self.around is None or not count:
            return self.whole(shown.links[:count])
        for link in shown.links[len(shown.items):count]:
            shown.items.append(str(self.item(link)))
        before, after = self.around
        return Markup(before + "".join(shown.items[:count]) + after)


class Made:
    """An other field as a page lists it and, once a page shows it, its row."""

    __slots__ = ("field", "row")

    def __init__(self, field: mm.OtherField) -> None:
        self.field = field
        self.row: Markup | None = None


class OtherFields:
    """A page's other logged fields (`mm.other_field`, large values deferred) and their rows
    (metrics_macros.html's `other_field`), each distinct field made and rendered once: two
    thirds of them repeat on other pages (flags, versions, configs)."""

    #: Distinct fields kept, and rows; past that a cache starts again. The hits are the values
    #: that repeat (flags, versions, configs: a few hundred); on 11_large 50,000 kept one-off
    #: values too, 4 MB more than 4,000 for no CPU saved.
    LIMIT = 4000
    SCALARS = frozenset({str, int, float, bool})  # values that are their own key

    def __init__(self, ctx: ModuleContext, values: SharedValues) -> None:
        self.macro = ctx.macro("metrics_macros.html", "other_field")
        self.values = values
        self.made: dict[tuple[str, type, Any, str], Made] = {}  # (key, type, value, root)
        self.rendered: dict[tuple[Any, ...], Markup] = {}  # a field's values → its row

    def __call__(self, metrics: dict[str, Any], kind: str, root: str) -> list[Made]:
        """The fields a page of `kind` at `root` lists under "Other logged fields"."""
        shown = mm.shown_fields(kind)
        return [self.field(key, value, root) for key, value in metrics.items()
                if key not in shown and value is not None]

    def field(self, key: str, value: Any, root: str) -> Made:
        if type(value) not in self.SCALARS:  # a list or an object: printed again
            return Made(self.values.defer(mm.other_field(key, value), root))
        memo = (key, type(value), value, root)  # the type: 1, 1.0 and true print differently
        made = self.made.get(memo)
        if made is None:
            if len(self.made) >= self.LIMIT:
                self.made.clear()
            made = self.made[memo] = Made(self.values.defer(mm.other_field(key, value), root))
        return made

    def rows(self, made: list[Made]) -> Markup:
        """Their rows, joined, for a page that is rendered (not for one whose unit is unchanged)."""
        return Markup("".join([m.row if m.row is not None else self._row(m) for m in made]))

    def _row(self, made: Made) -> Markup:
        field, lazy = made.field, made.field.lazy
        memo = (field.key, field.value, field.blocks, lazy and (lazy.shard, lazy.src, lazy.size))
        row = self.rendered.get(memo)
        if row is None:
            if len(self.rendered) >= self.LIMIT:
                self.rendered.clear()
            row = self.rendered[memo] = self.macro(field)
        made.row = row
        return row


class ValueRows:
    """The label | value rows of the times, cache and graph tables (metrics_macros.html's
    `value_row`), each distinct row rendered once: most values repeat ("", 0, 1)."""

    LIMIT = 50_000  # distinct rows kept; past that the cache starts again

    def __init__(self, ctx: ModuleContext) -> None:
        self.macro = ctx.macro("metrics_macros.html", "value_row")
        self.rendered: dict[tuple[str, str, str], Markup] = {}

    def __call__(self, rows: list[mm.Row]) -> Markup:
        """The rows of one table, joined."""
        return Markup("".join([self.row(r) for r in rows]))

    def row(self, row: mm.Row) -> Markup:
        key = (row.label, row.value, row.help)
        html = self.rendered.get(key)
        if html is None:
            if len(self.rendered) >= self.LIMIT:
                self.rendered.clear()
            html = self.rendered[key] = self.macro(row)
        return html


class Keys(NamedTuple):
    """What the pass derives from a compile id's directory name."""

    group: str  # the index's group (its file list)
    display: str
    lookup: str  # mm.lookup_key
    raw: str  # mm.raw_key


def keys_of(directory: str) -> Keys:
    return Keys(group_of_directory(directory)[0], display_of(directory), mm.lookup_key(directory),
                mm.raw_key(directory))


def value_of(record: dict[str, Any], key: str) -> Any:
    """The envelope's value under `key`, whether it is the record's type or an extra key."""
    if record["type"] == key:
        return record["metadata"]
    return (record.get("extra") or {}).get(key)


def has_break_name(line: bytes) -> bool:
    """Only the lines of artifacts.jsonl that name a graph break reason are parsed (the file
    holds every artifact of the log)."""
    return GRAPH_BREAK_NAME in line


def tagged(ctx: ModuleContext, stream: str, priority: int, span: tuple[int, int | None],
           keep: Callable[[bytes], bool] | None = None) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(log line, priority, record) for merging log-ordered streams (`keep`: read_jsonl's)."""
    for record in ctx.read_jsonl(stream, keep, start=span[0], stop=span[1]):
        yield record["line"], priority, record


class MetricsPass:
    """The state legacy keeps while it streams the log, and the pages rendered from it."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.strings = load_strings(ctx)
        drain = ctx.options.get("drain", "normalised")
        if drain not in DRAIN_MODES:
            raise ValueError(f"compilation_metrics: option drain must be one of {DRAIN_MODES}, not {drain!r}")
        self.normalise = drain == "normalised"
        self.files: dict[str, list[mm.OutputRef]] = {}  # group → outputs so far, log order
        self.deferred: list[tuple[str, mm.OutputRef]] = []  # metrics pages, listed after render
        self.views = Stacks(ctx, self.strings)
        self.stacks: dict[str, StackView] = {}  # raw key → the latest dynamo_start stack's view
        self.logged: dict[str, bytes] = {}  # raw key → that stack as logged (JSON), for the state
        self.distinct: dict[bytes, bytes] = {}  # each distinct logged stack once
        self.pending: dict[str, dict[str, list[dict[str, Any]]]] = {k: {} for k in GUARD_TYPES}
        self.breaks: dict[str, list[str]] = {}  # lookup key → graph break reasons before its metrics
        self.rows: list[mm.FailureRow] = []
        self.summary = mm.Summary()
        self.values = SharedValues(ctx.module_id, enabled=ctx.lazy)
        self.known: dict[str, Keys] = {}  # directory → its keys (thousands of records per id)
        self.lists = FileLists(ctx)
        self.other = OtherFields(ctx, self.values)
        self.value_rows = ValueRows(ctx)

    def keys(self, directory: str) -> Keys:
        keys = self.known.get(directory)
        if keys is None:
            keys = self.known[directory] = keys_of(directory)
        return keys

    def run(self, spans: Spans) -> None:
        """Read the streams' records within `spans`, merged in log order."""
        streams = [tagged(self.ctx, "index.jsonl", INDEX, spans["index.jsonl"]),
                   tagged(self.ctx, "compilation_metrics.jsonl", TYPED, spans["compilation_metrics.jsonl"]),
                   tagged(self.ctx, "guards.jsonl", TYPED, spans["guards.jsonl"], GUARD_NAMES),
                   tagged(self.ctx, "artifacts.jsonl", BREAK, spans["artifacts.jsonl"], has_break_name)]
        for _line, priority, record in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            if priority == INDEX:
                self.index_record(record)
            elif priority == BREAK:
                if metadata_of(record).get("name") == "dynamo_graph_break_reason":
                    reason = str(record.get("payload") or "")
                    self.breaks.setdefault(self.keys(record["compile_id"]).lookup, []).append(reason)
            else:
                self.typed_record(record)

    # -- the state at the parse's resume point ----------------------------------------------
    def at_point(self) -> dict[str, Any]:
        """The state at the parse's resume point. What only saves time goes first: the records
        after the point are few, and the state's JSON is made at the pass's largest."""
        self.views.forget()
        self.lists.shown.clear()
        self.other.made.clear()
        self.other.rendered.clear()
        self.value_rows.rendered.clear()
        return self.to_json()

    def to_json(self) -> dict[str, Any]:
        """What the pass keeps across records, made from the records read alone."""
        table: dict[bytes, int] = {}
        stacks = [[raw, table.setdefault(self.logged[raw], len(table))] for raw in self.stacks]
        return {"files": self.files, "deferred": self.deferred,  # OutputRefs as arrays (record_state)
                "stacks": stacks, "stack_table": [orjson.Fragment(data) for data in table],
                "pending": self.pending, "breaks": self.breaks,
                "rows": [astuple(row) for row in self.rows],
                "restarts": self.summary.restarts, "failures": self.summary.failures, "pages": self.summary.pages,
                "values": self.values.shards}

    def restore(self, saved: dict[str, Any]) -> None:
        """Go on from a state `to_json` made."""
        self.files = {group: [mm.OutputRef(*ref) for ref in refs] for group, refs in saved["files"].items()}
        self.deferred = [(group, mm.OutputRef(*ref)) for group, ref in saved["deferred"]]
        table = [orjson.dumps(stack) for stack in saved["stack_table"]]
        for raw, number in saved["stacks"]:
            self.remember_stack(raw, table[number])
        self.pending = saved["pending"]
        self.breaks = saved["breaks"]
        self.rows = [mm.FailureRow(*row) for row in saved["rows"]]
        self.summary = mm.Summary(saved["restarts"], saved["failures"], saved["pages"])
        for value in saved["values"].values():
            self.values.keep(value)

    def remember_stack(self, raw: str, logged: bytes) -> None:
        """The latest dynamo_start stack of the raw key, as logged (JSON)."""
        known = self.distinct.get(logged)
        if known is None:  # a copy of its size: orjson's result holds at least 4 KB
            known = bytes(memoryview(logged))
            self.distinct[known] = known
        logged = known
        self.logged[raw] = logged
        self.stacks[raw] = cast(StackView, self.views.view_of_json(logged))  # a view is shared

    # -- one log line ---------------------------------------------------------------------
    def index_record(self, record: dict[str, Any]) -> None:
        self.flush_deferred()
        if record["status"] != "ok" or not record["outputs"]:
            return
        group = self.keys(record["compile_id"]).group
        listing = self.files.setdefault(group, [])
        for output in record["outputs"]:
            if output["producer"] == "compilation_metrics":
                self.deferred.append((group, mm.output_ref(output)))
            else:
                listing.append(mm.output_ref(output))

    def flush_deferred(self) -> None:
        for group, output in self.deferred:
            self.files.setdefault(group, []).append(output)
        self.deferred.clear()

    def typed_record(self, record: dict[str, Any]) -> None:
        """Legacy order within a line: parsers (bwd/aot pages), the metrics page, then the
        guard indexes and the dynamo_start stack."""
        for kind in ("aot_autograd_backward_compilation_metrics", "bwd_compilation_metrics"):
            metrics = value_of(record, kind)
            if metrics is not None:
                self.backward(record, kind, metrics)
        metrics = value_of(record, "compilation_metrics")
        if metrics is not None:
            self.forward(record, metrics)
        self.flush_deferred()
        for kind in GUARD_TYPES:
            data = value_of(record, kind)
            if isinstance(data, dict):
                keys = self.keys(record["compile_id"])
                key = keys.lookup if self.normalise else keys.raw
                self.pending[kind].setdefault(key, []).append(data)
        start = value_of(record, "dynamo_start")
        if isinstance(start, dict) and start.get("stack") is not None:
            stack = stacks.strip_convert_frame_suffix(start["stack"], self.strings)
            self.remember_stack(self.keys(record["compile_id"]).raw, orjson.dumps(stack))

    # -- pages ----------------------------------------------------------------------------
    def forward(self, record: dict[str, Any], metrics: dict[str, Any]) -> None:
        keys = self.keys(record["compile_id"])
        display = keys.display
        output = output_of(record, "compilation_metrics")
        href = output["url"] if output else None
        self.summary.restarts += len(metrics.get("restart_reasons") or [])
        self.summary.failures += metrics.get("fail_type") is not None
        key = keys.lookup
        breaks = [parse_graph_break(reason) for reason in self.breaks.pop(key, [])]
        self.rows.extend(mm.failure_rows(metrics, display, href, breaks))
        specs = [mm.specialization(d, self.views.view) for d in self.pending[GUARD_TYPES[0]].pop(key, [])]
        guards = [mm.guard_added(d, self.views.view) for d in self.pending[GUARD_TYPES[1]].pop(key, [])]
        if output is None:
            return
        url = output["url"]
        root = depth_prefix(url)
        files_key = (keys.group, url.partition("/")[0], root)
        files = self.lists.links(files_key, self.files.get(keys.group, []))
        other = self.other(metrics, "compilation_metrics", root)
        page = mm.forward_page(metrics, root=root, display=display, files=files,
                               stack=self.stacks.get(key),
                               specializations=specs, guards=guards, other=[m.field for m in other],
                               frame=self.views.mini_frame)
        if self.ctx.unit(url, page):  # a grown log re-renders only the pages whose data changed
            self.ctx.write_text(url, self.ctx.render("compilation_metrics.html", page=page, root=root,
                                                     other_rows=self.other.rows(other), stack=self.views,
                                                     files_list=self.lists.html(files_key, len(files)),
                                                     tables={"times": self.value_rows(page.times),
                                                             "cache": self.value_rows(page.cache),
                                                             "graph": self.value_rows(page.graph)}))
        self.listed(output, display, "compilation_metrics", page.status)

    def backward(self, record: dict[str, Any], kind: str, metrics: dict[str, Any]) -> None:
        output = output_of(record, kind)
        if output is None:
            return
        url = output["url"]
        display = self.keys(record["compile_id"]).display
        root = depth_prefix(url)
        other = self.other(metrics, kind, root)
        page = mm.backward_page(kind, metrics, root=root, display=display, other=[m.field for m in other])
        if self.ctx.unit(url, page):
            self.ctx.write_text(url, self.ctx.render(f"{kind}.html", page=page, root=root,
                                                     other_rows=self.other.rows(other),
                                                     tables={"times": self.value_rows(page.times)}))
        self.listed(output, display, kind, page.status)

    def listed(self, output: dict[str, Any], display: str, kind: str, status: str) -> None:
        self.summary.pages.append(listed_file(output["url"], f"{display} {PAGE_NAMES[kind]}",
                                              output["number"], mm.STATUS_TEXT[status]))


def render(ctx: ModuleContext) -> ModuleOutput:
    """Write every metrics page, failures_and_restarts.html, and the index summary."""
    state = MetricsPass(ctx)
    saved = RecordState(ctx, STREAMS, state.strings)
    if saved.extra is not None:
        state.restore(saved.extra)
    for spans in saved.spans(at_point=state.at_point):
        state.run(spans)
    saved.save()
    state.values.write(ctx)
    ctx.write_text(FAILURES_PAGE, ctx.render("failures_and_restarts.html", rows=state.rows,
                                             summary=state.summary, root=""))
    summary = state.summary
    lazy = bool(summary.pages) and not ctx.eager
    if lazy:
        ctx.write_shard(SHARD, summary.pages)
    html = ctx.render("compilation_metrics_index.html", summary=summary, page=FAILURES_PAGE,
                      pages=[] if lazy else summary.pages)
    entry = IndexEntry(section="failures", title="Failures and Restarts", html=html,
                       kind="hybrid" if lazy else "html", shard=SHARD if lazy else "",
                       renderer="artifacts" if lazy else "")
    return ModuleOutput(index_entries=[entry])
