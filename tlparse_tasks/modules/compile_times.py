"""compile_times (eager): which compile was slowest, and where its time went.

One row per compilation (a `compilation_metrics` record: a compile id that the log compiles
twice, e.g. after `torch._dynamo.reset()`, gives two rows, each linked to its own metrics page),
slowest first. The columns, in seconds, from the metrics (`*_time_s`, and `duration_us` of the
compile id's `bwd_compilation_metrics`), each falling back to the trace event of the same name
in `chromium_events.json` when the metric is null:

- **Total**: `entire_frame_compile_time_s` (event `entire_frame_compile`) plus the backward
  compile (`bwd_compilation_metrics.duration_us`, event `entire_backward_compile`).
- **Dynamo**: the frame compile outside the backend, `entire_frame_compile_time_s −
  backend_compile_time_s` (all of it when the backend never ran): tracing, guards, bytecode.
- **AOT / backend**: the backend outside inductor, `backend_compile_time_s` plus the backward
  compile, minus inductor (`inductor_compile_time_s` of both; event `inductor_compile`).
- **Inductor**: inductor outside code generation, inductor minus `code_gen_time_s` (event
  `code_gen`), forward and backward.
- **Code gen**: `code_gen_time_s`, forward and backward.
- **Cache**: not a metric: the time inside trace events of cache key computation and cache
  loads, i.e. whose name mentions a cache (`inductor_codecache_torch_key`,
  `CacheBase.get_system.triton_key`, `AOTAutogradCache.inductor_load`, …; nested ones counted
  once), except `PyCodeCache.load_by_key_path`, which loads every compiled module, cached or
  not (code generation). It overlaps the phases above, so it is a column but not a bar segment.

The first four phases are disjoint and add up to Total; the bar of each row draws them to one
scale (the slowest compile's total is the full width). A row draws its bar in seconds and the
page's CSS scales every bar, so a row's markup depends on that row alone: it is rendered once
and kept between runs (memo.py), and a grown log renders only the rows of new compilations. A
column is blank when neither source gives it. Trace events name compile ids without the attempt
(`3/1`), so an event belongs to the latest compilation of that id that had started by then (a
backward compile comes after its forward). The events file is streamed in blocks, and only the
events of the phases above and of caches are decoded (`phase_events`). The compilations and
events before the parse's resume point are kept as the module's state (`gathered`): after the
log grew, only the new records and the events file's new bytes are read.

The index shows the slowest `INDEX_ROWS` compiles; with more, `compile_times.html` lists all (a
unit: rendered again only when its rows change).
`static/sort.js` sorts a table by any header (progressive enhancement: the table is complete
and ordered without it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from markupsafe import Markup

from ..memo import Memo, is_text
from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..record_state import RecordState
from ..rules.compile_id import CompileId, display_of
from ..store.reader import open_lines
from .common import output_of

EVENTS = "chromium_events.json"
METRICS = "compilation_metrics.jsonl"
PAGE = "compile_times.html"
SCRIPT = "sort.js"
INDEX_ROWS = 50
TOLERANCE_US = 100_000  # a compile's first events start slightly before its metrics' start_time
TABLE_TEMPLATE = "compile_times_table.html"
ROOT = ""  # the page and the index are both at the report's top
PHASES = (("dynamo", "Dynamo"), ("aot", "AOT / backend"), ("inductor", "Inductor"), ("code_gen", "Code gen"))
EVENT_PHASES = ("entire_frame_compile", "entire_backward_compile", "backend_compile", "inductor_compile", "code_gen")

ORDER = -5  # on the first screen, with graph breaks and recompiles (notices < 0 < main content)


@dataclass
class Compilation:
    """What the log says about one compilation: its forward metrics, its backward metrics, and
    the durations of its trace events (seconds, summed by event name)."""

    directory: str
    order: int
    url: str | None = None
    start_us: float | None = None
    frame: float | None = None
    backend: float | None = None
    inductor: float | None = None
    code_gen: float | None = None
    backward: float | None = None
    bwd_inductor: float | None = None
    bwd_code_gen: float | None = None
    events: dict[str, float] = field(default_factory=dict)
    cache: float | None = None

    @property
    def display(self) -> str:
        return display_of(self.directory)


@dataclass(frozen=True)
class Segment:
    """One phase of a row's bar, in seconds (the bar's SVG user units)."""

    phase: str
    label: str
    x: float
    width: float
    seconds: float


@dataclass(frozen=True)
class TimeRow:
    """One row of `table#compile-times` (seconds; None is blank)."""

    display: str
    url: str | None
    sort_key: str
    order: int
    total: float | None
    dynamo: float | None
    aot: float | None
    inductor: float | None
    code_gen: float | None
    cache: float | None
    bar: tuple[Segment, ...] = ()

    def phase(self, name: str) -> float | None:
        value: float | None = getattr(self, name)
        return value

    @property
    def extent(self) -> float:
        """The seconds the row's bar spans (its segments end to end)."""
        return round(self.bar[-1].x + self.bar[-1].width, 6) if self.bar else 0.0

    @property
    def cells(self) -> tuple[float | None, ...]:
        """The numeric columns in table order: total, the `PHASES`, cache."""
        return (self.total, *(self.phase(p) for p, _ in PHASES), self.cache)


# -- reading ------------------------------------------------------------------------------------

def seconds(value: Any) -> float | None:
    """A logged duration in seconds, or None when it is null or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def micros_to_seconds(value: Any) -> float | None:
    number = seconds(value)
    return None if number is None else number / 1e6


def start_of(metrics: dict[str, Any]) -> float | None:
    """The compile's start in microseconds (`start_time_us`, else `start_time` in seconds)."""
    start = seconds(metrics.get("start_time_us"))
    if start is None:
        start_s = seconds(metrics.get("start_time"))
        start = None if start_s is None else start_s * 1e6
    return start


def compilations(records: Iterable[dict[str, Any]]) -> list[Compilation]:
    """A compilation per `compilation_metrics` record, in log order, with its compile id's
    backward metrics (the latest forward compilation of that id)."""
    gathered = Compilations()
    gathered.feed(records)
    return gathered.found


class Compilations:
    """`compilations`, fed a part of the records at a time (those after a state's point)."""

    def __init__(self, found: list[Compilation] | None = None) -> None:
        self.found: list[Compilation] = found or []
        self.latest = {trace_key(c.directory): c for c in self.found}  # the last of each id, in order

    def feed(self, records: Iterable[dict[str, Any]]) -> None:
        found, latest = self.found, self.latest
        for record in records:
            metrics = record.get("metadata")
            if not isinstance(metrics, dict):
                continue
            kind = record.get("type")
            directory = str(record.get("compile_id"))
            if kind == "compilation_metrics":
                output = output_of(record, "compilation_metrics")
                compilation = Compilation(
                    directory, len(found), output["url"] if output else None, start_of(metrics),
                    seconds(metrics.get("entire_frame_compile_time_s")),
                    seconds(metrics.get("backend_compile_time_s")),
                    seconds(metrics.get("inductor_compile_time_s")),
                    seconds(metrics.get("code_gen_time_s")))
                found.append(compilation)
                latest[trace_key(directory)] = compilation
            elif kind == "bwd_compilation_metrics":
                forward = latest.get(trace_key(directory))
                if forward is not None:
                    forward.backward = add(forward.backward, micros_to_seconds(metrics.get("duration_us")))
                    forward.bwd_inductor = add(forward.bwd_inductor, seconds(metrics.get("inductor_compile_time_s")))
                    forward.bwd_code_gen = add(forward.bwd_code_gen, seconds(metrics.get("code_gen_time_s")))


def add(a: float | None, b: float | None) -> float | None:
    """A sum where None means unknown: unknown only when both are."""
    if a is None:
        return b
    return a if b is None else a + b


def trace_key(directory: str) -> str:
    """The compile id as trace events write it: `3/1`, `!0/3/1`, without the attempt."""
    cid = CompileId.from_directory(directory)
    if cid is None:
        return directory
    text = "" if cid.compiled_autograd_id is None else f"!{cid.compiled_autograd_id}/"
    return text + "/".join("-" if p is None else str(p) for p in (cid.frame_id, cid.frame_compile_id))


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events of `chromium_events.json` one at a time, without reading the file whole.

    The store writes the array with each top-level event starting on a line `  {` and ending on
    a line `  }` (or `  },`), its inner lines indented further (store/writers.py); a chunk that
    is not a JSON object is skipped.
    """
    chunk: list[bytes] = []
    with open_lines(path) as handle:
        for line in handle:
            stripped = line.rstrip(b",\r\n")
            if not chunk:
                if stripped == b"  {":
                    chunk.append(stripped)
                elif stripped.startswith(b"  {"):  # a one-line event, e.g. `  {}`
                    yield from _decoded([stripped])
                continue
            chunk.append(line)
            if stripped == b"  }":
                chunk[-1] = stripped
                yield from _decoded(chunk)
                chunk = []


NAME_LINE = b'\n    "name": '  # a top-level event's name: its keys are the only ones indented 4 spaces
EVENT_HEAD = b'\n  {\n    "'  # an event with keys opens (nested objects open after a key or deeper)
EVENT_END = b"\n  }"
ARGS_OPEN = b'\n    "args": {\n'  # a top-level args object over several lines…
ARGS_CLOSE = b"\n    }"  # … ends at the first close at its own indentation,
ARGS_CLOSE_MORE = b'\n    },\n    "'  # … which, when a key follows, this longer needle finds sooner
COMPILE_ID_LINE = b'\n      "compile_id": '  # one of its keys (6 spaces)
PH_LINE = b'\n    "ph": '
TIMED_PHASES = frozenset({b'"B"', b'"E"', b'"X"'})  # others (instants, counters) feed nothing
BLOCK = 1 << 20  # 4 MB blocks were slower: each one is fresh memory (page faults)


def phase_events(path: Path, block: int = BLOCK, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
    """The events of `chromium_events.json` that `EventTimes` uses (`wanted_name`), in file
    order: what `iter_events` gives, filtered, without decoding the rest. `start` and `stop`
    (byte offsets just after an event, as the store's sizes are) bound the part read.

    Most events (and most bytes) are other phases; iterating lines in Python and decoding every
    event was most of the module's time. Instead the file is read in blocks cut after an
    event's closing line (`  }`), each top-level name line (the layout of `iter_events`: JSON
    strings hold no raw newline, so it is one line) is found with `bytes.find`, and only an
    event with a wanted name is decoded, from its opening line to its closing one."""
    wanted: dict[bytes, bool] = {}
    rest = b""
    left = None if stop is None else max(stop - start, 0)
    with open(path, "rb") as handle:
        handle.seek(start)
        while True:
            chunk = handle.read(block if left is None else min(block, left)) if left != 0 else b""
            if left is not None:
                left -= len(chunk)
            data = rest + chunk if rest else chunk
            end = len(data)
            if chunk:
                cut = data.rfind(EVENT_END)
                if cut < 0:
                    rest = data
                    continue
                end = cut + len(EVENT_END)
            yield from _named_events(data, end, wanted)
            if not chunk:
                return
            rest = data[end:]


def _named_events(data: bytes, end: int, wanted: dict[bytes, bool]) -> Iterator[dict[str, Any]]:
    """The events of `data[:end]` (whole events) whose name is wanted; `wanted` remembers each
    spelling of a name seen."""
    find, rfind = data.find, data.rfind
    skip = len(NAME_LINE)
    at = find(NAME_LINE, 0, end)
    while at >= 0:
        line_end = find(b"\n", at + skip, end)
        if line_end < 0:
            return
        raw = data[at + skip:line_end]
        keep = wanted.get(raw)
        if keep is None:
            keep = wanted[raw] = _wanted_spelling(raw)
        if keep and data.startswith(PH_LINE, line_end):  # sorted keys: `ph` follows `name`
            ph = data[line_end + len(PH_LINE):data.find(b"\n", line_end + 1, end)]
            keep = ph.rstrip(b",") in TIMED_PHASES
        if keep:
            start, close = rfind(EVENT_HEAD, 0, at), find(EVENT_END, at, end)
            if start >= 0 and close >= 0:
                event = _slim_event(data, start + 1, close + len(EVENT_END))
                if event is not None:
                    yield event
        at = find(NAME_LINE, line_end, end)


def _slim_event(data: bytes, start: int, end: int) -> dict[str, Any] | None:
    """The event `data[start:end]` decoded with its `args` object cut down to `compile_id`,
    the one argument `EventTimes` reads: some events carry tens of KB of arguments (an
    inductor_compile end, a cache miss's key components). The event whole when its args are
    not laid out as expected; None when it is not a JSON object."""
    args = data.find(ARGS_OPEN, start, end)
    if args >= 0:
        body = args + len(ARGS_OPEN) - 1
        close = data.find(ARGS_CLOSE_MORE, body, end)
        if close < 0:  # args is the event's last key
            close = data.find(ARGS_CLOSE, body, end)
        if close >= 0:
            slim = b"{}"
            at = data.find(COMPILE_ID_LINE, body, close)
            if at >= 0:
                value = data[at + len(COMPILE_ID_LINE):data.find(b"\n", at + 1, close + 1)]
                value = value[:-1] if value.endswith(b",") else value
                slim = b'{"compile_id": ' + value + b"}"
            try:
                event = orjson.loads(b"".join((data[start:args + len(ARGS_OPEN) - 2], slim,
                                               data[close + len(ARGS_CLOSE):end])))
            except orjson.JSONDecodeError:
                pass  # e.g. a compile id that is an object, over several lines
            else:
                return event if isinstance(event, dict) else None
    return next(_decoded([data[start:end]]), None)


def _wanted_spelling(raw: bytes) -> bool:
    """A name line's value (`"inductor_compile",`) names an event `EventTimes` uses."""
    try:
        name = orjson.loads(raw[:-1] if raw.endswith(b",") else raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(name, str) and wanted_name(name)


def _decoded(lines: list[bytes]) -> Iterator[dict[str, Any]]:
    try:
        event = orjson.loads(b"".join(lines))
    except orjson.JSONDecodeError:
        return
    if isinstance(event, dict):
        yield event


# -- trace events ---------------------------------------------------------------------------------

NOT_CACHE_EVENTS = frozenset({"PyCodeCache.load_by_key_path"})  # loads every compiled module: code gen


def is_cache_event(name: str) -> bool:
    """A trace event spent computing a cache key or loading from a cache."""
    return "cache" in name.lower() and name not in NOT_CACHE_EVENTS


def wanted_name(name: str) -> bool:
    """An event `EventTimes` does something with: a phase or a cache event. Others only pair
    with their own kind (B/E by name), so leaving them out changes no duration."""
    return name in EVENT_PHASES or is_cache_event(name)


class EventTimes:
    """Pairs B/E events (and reads X events) into durations attributed to compilations."""

    def __init__(self, found: list[Compilation]) -> None:
        self.by_key: dict[str, list[Compilation]] = {}
        for compilation in found:
            self.by_key.setdefault(trace_key(compilation.directory), []).append(compilation)
        self.open: dict[tuple[Any, ...], list[float]] = {}
        self.cache_depth: dict[tuple[int, Any], tuple[int, float]] = {}  # (compilation, tid) → depth, start

    def owner(self, key: str, ts: float) -> Compilation | None:
        """The latest compilation of `key` started by `ts` (the first one if none had)."""
        candidates = self.by_key.get(key)
        if not candidates:
            return None
        chosen = candidates[0]
        for compilation in candidates:
            if compilation.start_us is not None and compilation.start_us - TOLERANCE_US <= ts:
                chosen = compilation
        return chosen

    def feed(self, event: dict[str, Any]) -> None:
        name, phase, ts = event.get("name"), event.get("ph"), seconds(event.get("ts"))
        args = event.get("args")
        if not isinstance(name, str) or ts is None or not isinstance(args, dict):
            return
        key = args.get("compile_id")
        if not isinstance(key, str):
            return
        thread = (event.get("pid"), event.get("tid"))
        if phase == "B":
            self.open.setdefault((name, key, thread), []).append(ts)
            self._cache_begin(name, key, thread, ts)
        elif phase == "E":
            starts = self.open.get((name, key, thread))
            if starts:
                self.span(name, key, starts.pop(), ts)
            self._cache_end(name, key, thread, ts)
        elif phase == "X":
            duration = seconds(event.get("dur"))
            if duration is not None:
                self.span(name, key, ts, ts + duration)
                if is_cache_event(name):
                    self._cache_begin(name, key, thread, ts)
                    self._cache_end(name, key, thread, ts + duration)

    def span(self, name: str, key: str, begin: float, end: float) -> None:
        if name not in EVENT_PHASES:
            return
        compilation = self.owner(key, begin)
        if compilation is not None:
            compilation.events[name] = compilation.events.get(name, 0.0) + max(0.0, end - begin) / 1e6

    def _cache_slot(self, name: str, key: str, thread: Any, ts: float) -> tuple[Compilation, Any] | None:
        """The compilation a cache event belongs to and its (compilation, thread) nesting slot."""
        if not is_cache_event(name):
            return None
        compilation = self.owner(key, ts)
        return None if compilation is None else (compilation, (compilation.order, thread))

    def _cache_begin(self, name: str, key: str, thread: Any, ts: float) -> None:
        found = self._cache_slot(name, key, thread, ts)
        if found is None:
            return
        slot = found[1]
        depth, start = self.cache_depth.get(slot, (0, ts))
        self.cache_depth[slot] = (depth + 1, start if depth else ts)

    def _cache_end(self, name: str, key: str, thread: Any, ts: float) -> None:
        found = self._cache_slot(name, key, thread, ts)
        if found is None:
            return
        compilation, slot = found
        depth, start = self.cache_depth.get(slot, (0, ts))
        if depth <= 1:
            self.cache_depth.pop(slot, None)
            if depth == 1:
                compilation.cache = add(compilation.cache, max(0.0, ts - start) / 1e6)
        else:
            self.cache_depth[slot] = (depth - 1, start)

def attach_events(found: list[Compilation], events: Iterable[dict[str, Any]]) -> None:
    times = EventTimes(found)
    for event in events:
        times.feed(event)


# -- rows -----------------------------------------------------------------------------------------

def difference(whole: float | None, part: float | None) -> float | None:
    """`whole − part`, never below zero; the whole when the part is unknown."""
    if whole is None:
        return None
    return max(0.0, whole - (part or 0.0))


def row_of(c: Compilation) -> TimeRow:
    """The table row of a compilation (column rules in the module docstring)."""
    frame = c.frame if c.frame is not None else c.events.get("entire_frame_compile")
    backward = c.backward if c.backward is not None else c.events.get("entire_backward_compile")
    backend = c.backend if c.backend is not None else c.events.get("backend_compile")
    inductor = add(c.inductor, c.bwd_inductor)
    if inductor is None:
        inductor = c.events.get("inductor_compile")
    code_gen = add(c.code_gen, c.bwd_code_gen)
    if code_gen is None:
        code_gen = c.events.get("code_gen")
    total = add(frame, backward)
    backend_total = add(backend, backward)
    return TimeRow(
        display=c.display, url=c.url, sort_key=id_sort_key(c.directory), order=c.order,
        total=rounded(total), dynamo=rounded(difference(frame, backend)),
        aot=rounded(difference(backend_total, inductor)), inductor=rounded(difference(inductor, code_gen)),
        code_gen=rounded(code_gen), cache=rounded(c.cache))


def rounded(value: float | None) -> float | None:
    """Microsecond precision, as logged: differences carry no float noise into the page."""
    return None if value is None else round(value, 6)


def id_sort_key(directory: str) -> str:
    """A text key that sorts compile ids numerically (`[2/0]` before `[10/0]`)."""
    cid = CompileId.from_directory(directory)
    if cid is None:
        return "~" + directory
    parts = (cid.compiled_autograd_id, cid.frame_id, cid.frame_compile_id, cid.attempt)
    return "/".join("-" if p is None else f"{p:010d}" for p in parts)


def slowest_first(rows: Iterable[TimeRow]) -> list[TimeRow]:
    """By total time, longest first; rows without a total last; ties in log order."""
    return sorted(rows, key=lambda r: (r.total is None, -(r.total or 0.0), r.order))


def with_bars(rows: list[TimeRow]) -> list[TimeRow]:
    """Each row with its phase segments, in seconds from the start of its bar. A row's bar does
    not depend on the other rows (the page scales every bar by `bar_scale`, in CSS), so a row
    keeps its markup when a slower compilation joins the table."""
    out = []
    for row in rows:
        x = 0.0
        segments = []
        for phase, label in PHASES:
            value = row.phase(phase)
            if not value or value < 0:
                continue
            segments.append(Segment(phase, label, round(x, 6), round(value, 6), value))
            x += value
        out.append(TimeRow(**{**row.__dict__, "bar": tuple(segments)}))
    return out


def bar_scale(rows: Iterable[TimeRow]) -> float:
    """The seconds of a full bar: the longest bar, or total, of any row (0: no bars)."""
    return max((max(r.total or 0.0, r.extent) for r in rows), default=0.0)


def time_rows(metrics: Iterable[dict[str, Any]], events: Iterable[dict[str, Any]]) -> list[TimeRow]:
    """Every compilation's row, slowest first, with its bar."""
    return rows_of(compilations(metrics), events)


def rows_of(found: list[Compilation], events: Iterable[dict[str, Any]]) -> list[TimeRow]:
    """The rows of these compilations (`compilations`), once `events` are attached to them."""
    attach_events(found, events)
    return with_bars(slowest_first(row_of(c) for c in found))


# -- output ---------------------------------------------------------------------------------------

def index_entry(html: str) -> IndexEntry:
    return IndexEntry(section="compile_times", title="Compile times", html=html, order=ORDER)


def gathered(ctx: ModuleContext) -> tuple[list[Compilation], list[dict[str, Any]]]:
    """The compilations of the store's metrics and the `phase_events` of its events file. Those
    before the parse's resume point come from the last run's state when it still holds: a grown
    log reads only the new records of 25 MB of metrics and the new bytes of 30 MB of events.
    The state (record_state) reads both files as spans; what it keeps is the compilations and
    the events up to the point, before any event is attached (`attach_events` runs on all)."""
    path = ctx.store.path(EVENTS)
    has_events = path.is_file()
    state = RecordState(ctx, (METRICS, EVENTS))
    kept = state.extra  # what the last run handed over at its point (at_point), when its state holds
    so_far = Compilations([Compilation(**c) for c in kept["compilations"]] if kept is not None else None)
    events: list[dict[str, Any]] = list(kept["events"]) if kept is not None else []

    def at_point() -> dict[str, Any]:  # taken as JSON at once; orjson writes dataclasses as objects
        return {"compilations": so_far.found, "events": events}

    for spans in state.spans(at_point=at_point):
        start, stop = spans[METRICS]
        so_far.feed(ctx.read_jsonl(METRICS, start=start, stop=stop))
        if has_events:
            start, stop = spans[EVENTS]
            events.extend(phase_events(path, start=start, stop=stop))
    state.save()
    return so_far.found, events


def row_markup(ctx: ModuleContext, rows: list[TimeRow]) -> tuple[Memo, list[Markup]]:
    """Each row's markup, rendered once and kept between runs (memo.py): after the log grew,
    only the rows of new or changed compilations are rendered again. The caller saves the memo
    once it knows the page that holds them."""
    memo = Memo(ctx, "rows")
    macro = ctx.macro(TABLE_TEMPLATE, "times_row")

    def rendered(row: TimeRow) -> str:
        return str(macro(row, ROOT))

    return memo, [Markup(memo.get((row, ROOT), partial(rendered, row), is_text)) for row in rows]


def render(ctx: ModuleContext) -> ModuleOutput:
    rows = rows_of(*gathered(ctx))
    if not rows:
        html = ctx.render("compile_times.html", rows=[], row_html=[], total=0, page=None, phases=PHASES, root=ROOT,
                          scale=0.0)
        return ModuleOutput(index_entries=[index_entry(html)])
    ctx.write_static(SCRIPT, f"static/{SCRIPT}")
    memo, row_html = row_markup(ctx, rows)
    scale = bar_scale(rows)
    within = None
    if len(rows) > INDEX_ROWS:
        data = {"rows": rows, "phases": PHASES, "root": ROOT, "scale": scale}
        if ctx.unit(PAGE, data):  # a grown log without new or changed compilations keeps the page
            page_html = ctx.render("compile_times_page.html", rows=rows, row_html=row_html, phases=PHASES, root=ROOT,
                                   scale=scale)
            ctx.write_text(PAGE, page_html)
        else:
            page_html = (ctx.read_own(PAGE) or b"").decode("utf-8", "surrogateescape")
        ctx.end_unit()
        within = (PAGE, page_html)  # every row is on the page: the memo points into it
    memo.save(within)
    html = ctx.render("compile_times.html", rows=rows[:INDEX_ROWS], row_html=row_html[:INDEX_ROWS], total=len(rows),
                      page=PAGE if within else None, phases=PHASES, root=ROOT, scale=scale)
    return ModuleOutput(index_entries=[index_entry(html)])
