"""provenance (lazy, `-i/--inductor-provenance` only): inductor provenance tracking pages.

For every compile directory (index order) a page `provenance_tracking_<dir>.html` at the report
root shows three panes: the pre-grad graph, the post-grad graph and the generated code (Python
`inductor_output_code` and/or the AOT C++ wrapper), linked by the node mappings that inductor
logs (`inductor_provenance_tracking_node_mappings`). The mappings, turned into line numbers,
are embedded as `<script id="lineMappings" type="application/json">` with legacy's keys and values.

Unlike legacy, which takes the *last* graph of each kind in a directory (and so mixes a
forward compile's mappings with a later compile's graphs), the records of one directory are cut
into compiles in log order: a pre-grad graph, then a post-grad graph, the generated code and
the mappings that follow it. The legacy path shows the directory's last compile; earlier ones
get `provenance_tracking_<dir>.<k>.html`, and every page links its siblings. A directory
without any graph, code or mappings gets a page that says so.

The pages are complete as text (escaped, one numbered line per source line); `provenance.js`
links the panes in the browser and `highlight.js` colours them (Pygments with `--eager`).
Two passes over the streams keep memory flat: the first notes where each relevant record is
(byte offsets), the second reads only the records of the compile being rendered.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from markupsafe import Markup

from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..rules.compile_id import UNKNOWN_DISPLAY, UNKNOWN_GROUP, group_of_directory
from ..store.reader import open_lines
from .code_html import SCRIPT_SOURCE, highlighted_code_body, plain_code_body, write_pygments_css
from .common import display_of, output_of

STREAMS = ("artifacts.jsonl", "graphs.jsonl", "codegen.jsonl")
ASSET_DIR = "provenance"
SCRIPT = f"{ASSET_DIR}/provenance.js"
HIGHLIGHT = f"{ASSET_DIR}/highlight.js"
PYGMENTS = f"{ASSET_DIR}/pygments.css"
SCRIPT_TEMPLATE = "static/provenance.js"

# Record kinds.
PRE, POST, PY, CPP, MAPPINGS, TRACES = "pre", "post", "py", "cpp", "mappings", "traces"
# artifact / graph names → (kind, preference: 0 is legacy's first pattern, preferred in one compile)
NAMED_KINDS = {
    "before_pre_grad_graph": (PRE, 0), "inductor_pre_grad_graph": (PRE, 1),
    "after_post_grad_graph": (POST, 0), "inductor_post_grad_graph": (POST, 1),
    "inductor_aot_wrapper_code": (CPP, 0),
    "inductor_provenance_tracking_node_mappings": (MAPPINGS, 0),
    "inductor_provenance_tracking_kernel_stack_traces": (TRACES, 0),
}
# Cheap byte tests before a line is parsed in the first pass (a false hit is only parsed).
NEEDLES = (b'pre_grad_graph"', b'post_grad_graph"', b'"inductor_output_code"', b'inductor_aot_wrapper_code"',
           b'"inductor_provenance_tracking_')
MAPPING_KEYS = ("preToPost", "postToPre", "pyCodeToPost", "postToPyCode", "cppCodeToPost", "postToCppCode")
AOT_ID = re.compile(r"# AOT ID: \[?'?([^'\]\n]{1,80})")
PANE_ID = re.compile(r'<span id="L(\d+)" class="tlp-line">')


# ---- pass 1: where the relevant records are ----

@dataclass(frozen=True)
class Ref:
    """A record of one compile's provenance data, located by stream and byte offset."""

    kind: str
    preference: int
    line: int
    stream: str
    offset: int


def classify(record: dict[str, Any]) -> tuple[str, int] | None:
    """The provenance kind of a store record (None for the others)."""
    kind = record.get("type")
    metadata = record.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if kind == "inductor_output_code":
        return PY, 0
    if kind in ("inductor_pre_grad_graph", "inductor_post_grad_graph"):
        return NAMED_KINDS[str(kind)]
    if kind in ("artifact", "graph_dump") and isinstance(name, str):
        return NAMED_KINDS.get(name)
    return None


def scan(path: Path, stream: str) -> Iterator[tuple[str, Ref]]:
    """(compile directory, ref) of every provenance record of one stream."""
    offset = 0
    with open_lines(path) as handle:
        for line in handle:
            start, offset = offset, offset + len(line)
            if not any(needle in line for needle in NEEDLES):
                continue
            record = orjson.loads(line)
            found = classify(record)
            if found is not None:
                directory = group_of_directory(str(record.get("compile_id", "")))[0]
                yield directory, Ref(found[0], found[1], int(record.get("line") or 0), stream, start)


# ---- cutting a directory's records into compiles ----

@dataclass
class Compile:
    """One inductor compile: the records its page shows (each slot at most one)."""

    directory: str
    slots: dict[str, Ref] = field(default_factory=dict)
    url: str = ""
    number: int = 0

    def accepts(self, ref: Ref) -> bool:
        """True when `ref` belongs to this compile. A compile logs its graphs first (pre-grad,
        then post-grad), then code, mappings and stack traces in an order that varies (AOT logs
        the mappings before the wrapper code): a graph after any of those, or a second record of
        a kind, starts the next compile."""
        later = any(kind in self.slots for kind in (PY, CPP, MAPPINGS, TRACES))
        if ref.kind == PRE:
            return not later and POST not in self.slots
        if ref.kind == POST:
            return not later
        return ref.kind not in self.slots

    def take(self, ref: Ref) -> None:
        """Hold `ref`; of two graphs of one kind, legacy's preferred name wins (then the later)."""
        held = self.slots.get(ref.kind)
        if held is None or ref.preference <= held.preference:
            self.slots[ref.kind] = ref


def cut_compiles(directory: str, refs: list[Ref]) -> list[Compile]:
    """A directory's records (in log order) as compiles: a new compile starts when a record
    cannot belong to the current one. A compile without a pre-grad graph of its own reuses the
    last one (a forward and a backward compile share their dynamo graph)."""
    compiles: list[Compile] = []
    current = Compile(directory)
    last_pre: Ref | None = None
    for ref in sorted(refs, key=lambda r: (r.line, r.stream)):
        if not current.accepts(ref):
            compiles.append(current)
            current = Compile(directory)
            if ref.kind != PRE and last_pre is not None:
                current.slots[PRE] = last_pre
        current.take(ref)
        if ref.kind == PRE:
            last_pre = current.slots[PRE]
    if current.slots or not compiles:
        compiles.append(current)
    return compiles


def page_name(directory: str) -> str:
    """Legacy's name of a compile directory on the index: `(unknown)` for unreadable ids."""
    return UNKNOWN_DISPLAY if directory == UNKNOWN_GROUP else directory


def number_pages(compiles: list[Compile]) -> None:
    """The last compile of a directory takes the legacy path, earlier ones `.<k>.html`."""
    name = page_name(compiles[0].directory)
    for k, compile_ in enumerate(compiles, 1):
        compile_.number = k
        compile_.url = (f"provenance_tracking_{name}.html" if k == len(compiles)
                        else f"provenance_tracking_{name}.{k}.html")


# ---- node names and kernel names → line numbers (legacy's rules, spec §5.3) ----

def source_lines(text: str) -> list[str]:
    """Lines as legacy splits them: on `\\n`, a trailing `\\r` dropped, no empty last line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def node_lines(graph: str) -> dict[str, int]:
    """FX node name → 1-based line (`name = ...` or `name: type = ...`); the last one wins."""
    found: dict[str, int] = {}
    for number, line in enumerate(source_lines(graph), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            found[line.split("=", 1)[0].split(":", 1)[0].strip()] = number
    return found


def strip_leading_empty(lines: list[str]) -> tuple[list[str], int]:
    """The lines without leading blank ones, and how many were dropped."""
    lead = 0
    while lead < len(lines) and not lines[lead].strip():
        lead += 1
    return lines[lead:], lead


def first_index(lines: list[str], *needles: str) -> int | None:
    return next((i for i, line in enumerate(lines) if all(n in line for n in needles)), None)


@dataclass
class CodeLines:
    """Where kernels are called in one generated source; line numbers as legacy counts them,
    `offset` added to get the line of the source as shown."""

    lines: list[str]
    start: int  # where the search for kernel calls begins (call() / run_impl)
    base: int  # subtracted from 1-based indexes (Python: the `# AOT ID:` line is line 1)
    offset: int  # legacy's numbers + offset = lines of the source shown
    cpp: bool

    @classmethod
    def python(cls, code: str) -> CodeLines:
        lines, lead = strip_leading_empty(source_lines(code))
        start = first_index(lines, "def", "call", "(args)") or 0
        base = first_index(lines, "# AOT ID:") or 0
        return cls(lines, start, base, lead + base, False)

    @classmethod
    def aot_wrapper(cls, code: str) -> CodeLines:
        lines, lead = strip_leading_empty(source_lines(code))
        return cls(lines, first_index(lines, "::run_impl(") or 0, 0, lead, True)

    def kernel(self, name: str) -> list[int]:
        """The lines that call kernel `name` (`name:handle` names one call by its debug handle)."""
        pure = name.rpartition(":")[0] if self.cpp and ":" in name else name.partition(":")[0]
        if ":" in name:
            found = self._by_handle(name, pure)
            if found is not None:
                return [found - self.base]
        return [i + 1 - self.base for i in range(self.start, len(self.lines)) if pure in self.lines[i]]

    def _by_handle(self, name: str, pure: str) -> int | None:
        """The first call of `pure` after the line that names `name` (a debug-handle comment)."""
        for i in range(self.start, len(self.lines)):
            line = self.lines[i]
            if name not in line or (self.cpp and not self._cpp_candidate(line)):
                continue
            for j in range(i + 1, len(self.lines)):
                if pure in self.lines[j] and not (self.cpp and "_xnumel = " in self.lines[j]):
                    return j + 1
            return None
        return None

    @staticmethod
    def _cpp_candidate(line: str) -> bool:
        stripped = line.strip()
        return bool(stripped) and not stripped.startswith(("def", "static inline void"))


def _line_lists(table: Any) -> dict[str, list[str]]:
    """A mappings table (name → [names]) with its non-string parts dropped, in key order."""
    if not isinstance(table, dict):
        return {}
    return {str(k): [str(v) for v in values if isinstance(v, str)]
            for k, values in sorted(table.items()) if isinstance(values, list)}


def node_table(table: dict[str, list[str]], keys: dict[str, int], values: dict[str, int]) -> dict[str, list[int]]:
    """name → [names] as line → [lines]; names missing from their graph are left out."""
    out: dict[str, list[int]] = {}
    for name, targets in table.items():
        if name in keys:
            out[str(keys[name])] = [values[t] for t in targets if t in values]
    return out


def line_mappings(mappings: str | None, pre: str | None, post: str | None, py: str | None,
                  cpp: str | None) -> dict[str, dict[str, list[int]]]:
    """Legacy's lineMappings: node and kernel names of the mappings artifact as line numbers of
    the panes. `{}` when there are no mappings or they are not a JSON object."""
    try:
        data = orjson.loads(mappings) if mappings is not None else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return {}
    pre_lines, post_lines = node_lines(pre or ""), node_lines(post or "")
    kernels, post_kernels = _line_lists(data.get("cppCodeToPost")), _line_lists(data.get("postToCppCode"))
    result: dict[str, dict[str, list[int]]] = {key: {} for key in MAPPING_KEYS}
    result["preToPost"] = node_table(_line_lists(data.get("preToPost")), pre_lines, post_lines)
    result["postToPre"] = node_table(_line_lists(data.get("postToPre")), post_lines, pre_lines)
    for code, to_post, from_post, reader in ((py, "pyCodeToPost", "postToPyCode", CodeLines.python),
                                             (cpp, "cppCodeToPost", "postToCppCode", CodeLines.aot_wrapper)):
        if code is None:
            continue
        source = reader(code)
        named = {*kernels, *(k for ks in post_kernels.values() for k in ks)}
        calls = {kernel: source.kernel(kernel) for kernel in named}
        for kernel, targets in kernels.items():  # sorted: on a shared line the last kernel wins
            for line in calls[kernel]:
                result[to_post][str(line)] = [post_lines[t] for t in targets if t in post_lines]
        for node, names in post_kernels.items():
            if node in post_lines:
                result[from_post][str(post_lines[node])] = [line for k in names for line in calls[k]]
    return result


def mappings_script(mappings: dict[str, Any]) -> Markup:
    """The JSON for `<script type="application/json">`: `</` can never close the element."""
    text = orjson.dumps(mappings, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode()
    return Markup(text.replace("</", "<\\/").replace("<!--", "<\\!--"))


# ---- pass 2: the pages ----

@dataclass
class Source:
    """One record shown or linked on a page."""

    label: str
    url: str | None
    line: int


@dataclass
class Pane:
    """A source in one pane: its numbered lines, ids `<prefix>-L<n>`, legacy's line offset."""

    prefix: str
    title: str
    language: str
    body: Markup
    offset: int = 0
    scroll_line: int | None = None


@dataclass
class Sibling:
    """Another page of the same provenance, for the page's switcher."""

    label: str
    url: str
    current: bool


@dataclass
class ProvenancePage:
    """One provenance page: its panes' code and the script that links their lines."""

    title: str
    heading: str
    root: str
    script: str
    highlight: str | None
    pygments: str
    mappings: Markup
    notes: list[str]
    sources: list[Source]
    siblings: list[Sibling]
    pre: Pane | None
    post: Pane | None
    code: list[Pane]

    @property
    def empty(self) -> bool:
        return self.pre is None and self.post is None and not self.code


class RecordReader(contextlib.ExitStack):
    """Reads the records pass 1 located, one line each, keeping one handle per stream."""

    def __init__(self, ctx: ModuleContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.handles: dict[str, IO[bytes]] = {}

    def __call__(self, ref: Ref | None) -> dict[str, Any] | None:
        if ref is None:
            return None
        handle = self.handles.get(ref.stream)
        if handle is None:
            handle = self.handles[ref.stream] = self.enter_context(self.ctx.store.path(ref.stream).open("rb"))
        handle.seek(ref.offset)
        record: dict[str, Any] = orjson.loads(handle.readline())
        return record


def numbered(prefix: str, code: str, eager: bool, language: str) -> Markup:
    """Numbered lines (code_html's layout, which highlight.js colours) with ids unique to a pane.
    Log text is escaped before it gets here, so only our own spans match PANE_ID."""
    body = highlighted_code_body(code, language) if eager else plain_code_body(code)
    return Markup(PANE_ID.sub(lambda m: f'<span id="{prefix}-L{m.group(1)}" class="tlp-line">', str(body)))


def aot_id(code: str) -> str | None:
    """`0_forward` from the `# AOT ID: ['0_forward']` line of inductor output code."""
    found = AOT_ID.search(code[:400])
    return found.group(1) if found else None


def compile_label(compile_: Compile, code: str | None) -> str:
    ident = aot_id(code) if code else None
    anchor = compile_.slots.get(POST) or compile_.slots.get(PY) or compile_.slots.get(CPP) \
        or compile_.slots.get(MAPPINGS) or compile_.slots.get(PRE)
    where = f"log line {anchor.line}" if anchor else "no records"
    return f"compile {compile_.number}" + (f" ({ident}, {where})" if ident else f" ({where})")


SOURCE_LABELS = {PRE: "pre-grad graph", POST: "post-grad graph", PY: "generated Python code",
                 CPP: "AOT C++ wrapper code", MAPPINGS: "node mappings", TRACES: "kernel stack traces"}


def page_sources(records: dict[str, dict[str, Any]]) -> list[Source]:
    """Links to the files of this compile at their own pages (the kernel stack traces' readable one)."""
    sources = []
    for kind in (PRE, POST, PY, CPP, MAPPINGS, TRACES):
        record = records.get(kind)
        if record is None:
            continue
        output = output_of(record)
        url = None if output is None else str(output.get("url") or "") or None
        if kind == TRACES and output is not None and output.get("readable_url"):
            url = str(output["readable_url"])  # the page a person reads, not the JSON
        sources.append(Source(SOURCE_LABELS[kind], url, int(record.get("line") or 0)))
    return sources


def page_notes(records: dict[str, dict[str, Any]], mappings: dict[str, Any]) -> list[str]:
    notes = []
    if MAPPINGS not in records:
        notes.append("No node mappings were logged for this compile, so the panes are not linked. "
                     "Inductor logs them when its provenance tracking is turned on (see PyTorch's "
                     "\"TorchInductor and AOTInductor Provenance Tracking\").")
    elif not mappings:
        notes.append("The node mappings of this compile are not a JSON object (empty or cut short), "
                     "so the panes are not linked.")
    for kind, what in ((PRE, "pre-grad graph"), (POST, "post-grad graph")):
        if kind not in records and (POST in records or PY in records or CPP in records or PRE in records):
            notes.append(f"No {what} was logged for this compile.")
    if PY not in records and CPP not in records and (PRE in records or POST in records):
        notes.append("No generated code was logged for this compile.")
    return notes


def build_page(ctx: ModuleContext, compile_: Compile, siblings: list[Compile], labels: dict[str, str],
               read: RecordReader) -> ProvenancePage:
    records = {kind: r for kind, ref in compile_.slots.items() if (r := read(ref)) is not None}
    text = {kind: str(r.get("payload", "")) for kind, r in records.items()}
    mappings = line_mappings(text.get(MAPPINGS), text.get(PRE), text.get(POST), text.get(PY), text.get(CPP))
    eager = not ctx.lazy
    display = display_of(compile_.directory) if compile_.directory != UNKNOWN_GROUP else UNKNOWN_DISPLAY

    def pane(kind: str, prefix: str, title: str, language: str) -> Pane | None:
        if kind not in text:
            return None
        return Pane(prefix, title, language, numbered(prefix, text[kind], eager, language))

    code = []
    if PY in text:
        py = CodeLines.python(text[PY])
        code.append(Pane("py", "Python (inductor_output_code)", "python", numbered("py", text[PY], eager, "python"),
                         py.offset, py.start + 1 + py.offset - py.base if py.start else None))
    if CPP in text:
        cpp = CodeLines.aot_wrapper(text[CPP])
        code.append(Pane("cpp", "C++ (inductor_aot_wrapper_code)", "cpp", numbered("cpp", text[CPP], eager, "cpp"),
                         cpp.offset, cpp.start + 1 + cpp.offset if cpp.start else None))
    return ProvenancePage(
        title=f"Provenance tracking {display}",
        heading=f"Inductor provenance tracking for {display}",
        root="", script=SCRIPT, highlight=None if eager else HIGHLIGHT, pygments=PYGMENTS,
        mappings=mappings_script(mappings), notes=page_notes(records, mappings),
        sources=page_sources(records),
        siblings=[Sibling(labels[s.url], s.url, s is compile_) for s in siblings] if len(siblings) > 1 else [],
        pre=pane(PRE, "pre", "Pre-grad graph", "python"),
        post=pane(POST, "post", "Post-grad graph", "python"),
        code=code)


def sibling_labels(compiles: list[Compile], read: RecordReader) -> dict[str, str]:
    """A short name for each compile of a directory (its AOT id when the code has one)."""
    labels = {}
    for compile_ in compiles:
        record = read(compile_.slots.get(PY)) if len(compiles) > 1 else None
        labels[compile_.url] = compile_label(compile_, str(record.get("payload", "")) if record else None)
    return labels


def directory_order(ctx: ModuleContext, found: dict[str, list[Ref]]) -> list[str]:
    """Compile directories in index order (the manifest's), then any others the streams name."""
    order = [str(c["id"]) for c in ctx.manifest.get("compile_ids", [])]
    known = set(order)
    return order + [d for d in found if d not in known]


@dataclass
class IndexItem:
    """One provenance page as the index lists it."""

    name: str
    url: str
    linked: bool  # node mappings resolved to lines
    extra: list[Sibling]


def render(ctx: ModuleContext) -> ModuleOutput:
    if not ctx.run.get("inductor_provenance"):
        return ModuleOutput()  # the pages exist only with -i, as in legacy
    found: dict[str, list[Ref]] = {}
    for stream in STREAMS:
        for directory, ref in scan(ctx.store.path(stream), stream):
            found.setdefault(directory, []).append(ref)
    items = []
    with RecordReader(ctx) as read:
        for directory in directory_order(ctx, found):
            compiles = cut_compiles(directory, found.get(directory, []))
            number_pages(compiles)
            labels = sibling_labels(compiles, read)
            for compile_ in compiles:
                page = build_page(ctx, compile_, compiles, labels, read)
                if ctx.unit(compile_.url, page):
                    ctx.write_text(compile_.url, ctx.render("provenance.html", page=page, root=page.root))
            last = compiles[-1]
            items.append(IndexItem(f"provenance_tracking_{page_name(directory)}", last.url,
                                   MAPPINGS in last.slots,
                                   [Sibling(labels[c.url], c.url, False) for c in compiles[:-1]]))
    ctx.end_unit()
    ctx.write_static(SCRIPT, SCRIPT_TEMPLATE)
    write_pygments_css(ctx, PYGMENTS)
    if ctx.lazy:
        ctx.write_static(HIGHLIGHT, SCRIPT_SOURCE)
    html = ctx.render("provenance_index.html", items=items)
    return ModuleOutput(index_entries=[IndexEntry(section="provenance", title="Provenance Tracking", html=html)])
