"""compile_artifacts (lazy): every graph, generated code, dump_file and generic artifact file.

Files go to the paths the parse planned (legacy layout and `_N` numbering): graphs and string
artifacts verbatim, JSON artifacts pretty-printed with sorted keys, inductor output code as a
page (or `.txt` with -p), dump_file sources as pages with `#L<n>` line anchors.
Code pages are plain escaped text that `highlight.js` colours in the browser; with `--eager`
Pygments colours them at build time instead.
Entries of types this tool has no page for ("Other log entries", e.g. `create_symbol`) get pages
that show the data they logged: metadata as readable fields (stacks as frames), the payload when
small. Each page holds `ENTRIES_PER_PAGE` entries of one type (`other_entries/<type>_<page>.html`,
numbered, never named from the log); the index links them per type.
Code pages get a copy button (`static/copy.js`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from markupsafe import Markup

from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..parse.envelope import STACK
from ..record_state import RecordState
from ..rules.urls import report_href
from ..store.writers import limit_depth
from .artifact_files import write_payload_output
from .code_html import (
    CSS_FILE,
    SCRIPT_FILE,
    SCRIPT_SOURCE,
    highlighted_code_body,
    language_of,
    plain_code_body,
    write_pygments_css,
)
from .common import depth_prefix, display_of, format_value, load_strings, output_of
from .kit import frames

KNOWN_GENERIC_FREE = frozenset({
    # types whose information lives elsewhere (other modules, the manifest) and need no listing
    "artifact", "link", "dynamo_start", "describe_storage", "describe_tensor", "describe_source",
})
COPY_SCRIPT = "copy.js"  # the copy buttons of code and guard pages, relative to OUT
COPY_SCRIPT_SOURCE = f"static/{COPY_SCRIPT}"
STREAMS = ("graphs.jsonl", "export.jsonl", "codegen.jsonl", "artifacts.jsonl")  # in the order read
ENTRIES_DIR = "other_entries"
ENTRIES_PER_PAGE = 50  # about 400 kB of create_symbol entries (their framework stacks are long)
PAYLOAD_SHOWN_CHARS = 4096  # a longer payload is linked, not shown
VALUE_SHOWN_CHARS = 20_000  # a metadata value is cut after this many characters
INLINE_CHARS = 120  # shorter one-line values sit inline, longer ones in a block


@dataclass
class CodePage:
    """One code page: its lines, plain for the browser to highlight, or highlighted already."""

    title: str
    heading: str
    root: str
    body: Markup  # the numbered lines, plain (lazy) or highlighted (eager)
    language: str
    script: str | None  # highlight.js, relative to the page, when the browser highlights
    source_name: str | None = None

    copy_script: str | None = None  # copy.js, relative to the page (not with --eager: no script)


@dataclass
class TraceGroup:
    """The stack traces of one kernel, as the provenance of output code lists them."""

    kernel: str
    traces: list[str]


def write_code_page(ctx: ModuleContext, url: str, title: str, heading: str, code: str,
                    source_name: str | None = None) -> None:
    """A code page: plain text that the browser colours (lazy), or highlighted now (--eager).
    A page is a unit: a grown log leaves the pages whose code did not change alone."""
    if not ctx.unit(url, {"title": title, "heading": heading, "code": code, "source": source_name,
                          "lazy": ctx.lazy}):
        return
    root = depth_prefix(url)
    language = language_of(source_name)
    if ctx.lazy:
        page = CodePage(title, heading, root, plain_code_body(code), language, root + SCRIPT_FILE, source_name,
                        root + COPY_SCRIPT)
    else:
        page = CodePage(title, heading, root, highlighted_code_body(code, language), language, None, source_name)
    ctx.write_text(url, ctx.render("code_page.html", page=page, root=root))
    ctx.end_unit()  # the files written next belong to the module, not to this page


def readable_traces(payload: str) -> list[TraceGroup]:
    """Kernel → stack traces, with the escaped newlines of the JSON turned into real ones."""
    data = orjson.loads(payload)
    groups = []
    for kernel in sorted(data) if isinstance(data, dict) else ():
        traces = data[kernel] if isinstance(data[kernel], list) else [data[kernel]]
        groups.append(TraceGroup(kernel, [trace_text(t).replace("\\n", "\n").rstrip("\n") for t in traces]))
    return groups


def trace_text(trace: Any) -> str:
    """One stack trace as text. torch logs strings; any other JSON value shows as its JSON, its
    nesting cut where the store cuts it (`limit_depth`, iterative): `str()` of a value 1,000
    levels deep overflowed Python's recursion limit and failed the module."""
    if isinstance(trace, str):
        return trace
    return orjson.dumps(limit_depth(trace)).decode()


def render_artifact(ctx: ModuleContext, record: dict[str, Any]) -> None:
    write_payload_output(ctx, record)
    output = output_of(record, "artifact")
    if output and output.get("readable_url"):
        groups = readable_traces(record.get("payload", ""))
        url = output["readable_url"]
        ctx.write_text(url, ctx.render("kernel_stack_traces.html", groups=groups, root=depth_prefix(url),
                                       name=record["metadata"]["name"]))


def render_codegen(ctx: ModuleContext, record: dict[str, Any]) -> None:
    payload = record.get("payload", "")
    if record["type"] == "inductor_output_code":
        output = output_of(record, "inductor_output_code")
        if output is None:
            return
        if output["kind"] == "payload":  # -p/--plain-text
            ctx.write_text(output["url"], payload)
            return
        filename = (record.get("metadata") or {}).get("filename")
        write_code_page(ctx, output["url"], "Inductor output code",
                        f"Inductor output code for {display_of(record['compile_id'])}", payload, filename)
    elif record["type"] == "dump_file":
        output = output_of(record, "dump_file")
        if output is not None:
            name = record["metadata"]["name"]
            write_code_page(ctx, output["url"], f"Source code: {name}", "Source code", payload, name)


def render(ctx: ModuleContext) -> ModuleOutput:
    """A record's files depend on that record alone (and the pages of other entries on those
    before it), so the records before the parse's resume point are read only once (RecordState)."""
    write_pygments_css(ctx, CSS_FILE)
    if ctx.lazy:
        ctx.write_static(SCRIPT_FILE, SCRIPT_SOURCE)
        ctx.write_static(COPY_SCRIPT, COPY_SCRIPT_SOURCE)
    strings = load_strings(ctx)
    state = RecordState(ctx, STREAMS, strings)
    for stream in ("graphs.jsonl", "export.jsonl"):  # export: exported_program_N.txt
        for record in state.records(stream):
            write_payload_output(ctx, record)
    for record in state.records("codegen.jsonl"):
        render_codegen(ctx, record)
    entries = GenericEntries(ctx, strings, state.extra)
    for record in state.records("artifacts.jsonl", at_point=entries.to_json):
        if record["type"] == "artifact":
            render_artifact(ctx, record)
        elif record["type"] not in KNOWN_GENERIC_FREE:
            entries.add(record)
    state.save()
    output = ModuleOutput()
    if entries.count:
        output.index_entries.append(entries.index_entry())
    return output


# -- "Other log entries": entries of types this tool has no page for ---------------------------

@dataclass
class EntryPage:
    """A page of consecutive entries of one type."""

    url: str
    first: int
    last: int


@dataclass
class EntryGroup:
    """The entries of one type, in logged order: the pages written, and the entries of the
    page being filled."""

    kind: str
    number: int  # names its pages: log text never picks a file name
    count: int = 0
    pages: list[EntryPage] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EntriesPageView:
    """What generic_entries_page.html shows."""

    kind: str
    first: int
    root: str
    items: list[dict[str, Any]]
    previous: str | None  # the neighbouring pages, relative to this one
    next: str | None

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1


class GenericEntries:
    """Collects the entries type by type and writes a page as soon as the next one begins, so
    memory holds at most one page of entries per type however long the log."""

    def __init__(self, ctx: ModuleContext, strings: dict[str, str], saved: Any = None) -> None:
        self.ctx = ctx
        self.strings = strings
        self.groups: dict[str, EntryGroup] = {}
        self.count = 0
        if saved is not None:
            self.count = int(saved["count"])
            for kind, number, count, pages, pending in saved["groups"]:
                self.groups[kind] = EntryGroup(kind, number, count, [EntryPage(*page) for page in pages], pending)

    def to_json(self) -> dict[str, Any]:
        """What a RecordState keeps at the parse's resume point (the pages being filled)."""
        return {"count": self.count,
                "groups": [[g.kind, g.number, g.count, [[p.url, p.first, p.last] for p in g.pages], g.pending]
                           for g in self.groups.values()]}

    def add(self, record: dict[str, Any]) -> None:
        kind = str(record["type"])
        group = self.groups.get(kind)
        if group is None:
            group = self.groups[kind] = EntryGroup(kind, len(self.groups))
        if len(group.pending) == ENTRIES_PER_PAGE:
            self._write(group, more=True)
        group.pending.append(generic_entry(record, self.strings))
        group.count += 1
        self.count += 1

    def _write(self, group: EntryGroup, more: bool) -> None:
        """The page of `group.pending` (a unit: a grown log rewrites only pages that changed)."""
        number = len(group.pages)
        url = entries_url(group.number, number)
        first = group.count - len(group.pending) + 1
        view = EntriesPageView(group.kind, first, depth_prefix(url), group.pending,
                               entries_url(group.number, number - 1, relative=True) if number else None,
                               entries_url(group.number, number + 1, relative=True) if more else None)
        if self.ctx.unit(url, view):
            self.ctx.write_text(url, self.ctx.render("generic_entries_page.html", page=view, root=view.root))
        self.ctx.end_unit()
        group.pages.append(EntryPage(report_href(url), first, view.last))
        group.pending = []

    def index_entry(self) -> IndexEntry:
        for group in self.groups.values():
            if group.pending:
                self._write(group, more=False)
        groups = sorted(self.groups.values(), key=lambda g: g.kind)
        html = self.ctx.render("generic_entries.html", groups=groups, count=self.count)
        return IndexEntry(section="generic_entries", title="Other log entries", html=html)


def entries_url(group: int, page: int, relative: bool = False) -> str:
    """Page `page` of the entries of the `group`-th type (relative: from a sibling page)."""
    name = f"{group}_{page + 1}.html"
    return name if relative else f"{ENTRIES_DIR}/{name}"


def generic_entry(record: dict[str, Any], strings: dict[str, str]) -> dict[str, Any]:
    """What one entry logged, as text fields in logged order (for the `generic_entry` macro):
    metadata, then the payload when it is small; `url` is its payload file."""
    metadata = record.get("metadata")
    if isinstance(metadata, dict):
        fields = [entry_field(str(name), value, strings) for name, value in metadata.items()]
    elif metadata is None:
        fields = []
    else:
        fields = [entry_field("value", metadata, strings)]
    payload = record.get("payload")
    if isinstance(payload, str) and payload:
        if len(payload) <= PAYLOAD_SHOWN_CHARS:
            fields.append(text_field("payload", payload))
        else:
            fields.append({"name": "payload", "value": f"{len(payload):,} characters, in the payload file",
                           "block": False})
    url = record.get("payload_file")
    return {"kind": str(record["type"]), "compile_id": display_of(record["compile_id"]),
            "line": record["line"], "url": report_href(url) if isinstance(url, str) and url else None,
            "fields": fields}


def entry_field(name: str, value: Any, strings: dict[str, str]) -> dict[str, Any]:
    """One metadata value as text: a stack as its frames, a structure as indented JSON."""
    if isinstance(value, list) and value and STACK(value) is None:
        return text_field(f"{name} ({len(value)} frames)" if len(value) != 1 else f"{name} (1 frame)",
                          stack_text(value, strings), block=True)
    if isinstance(value, (dict, list)):
        compact = orjson.dumps(value).decode()
        if len(compact) <= INLINE_CHARS:
            return text_field(name, compact)
        return text_field(name, orjson.dumps(value, option=orjson.OPT_INDENT_2).decode(), block=True)
    return text_field(name, format_value(value))


def text_field(name: str, text: str, block: bool = False) -> dict[str, Any]:
    """A field; a long value is cut (the payload file and raw.jsonl keep it whole)."""
    if len(text) > VALUE_SHOWN_CHARS:
        text = text[:VALUE_SHOWN_CHARS] + f"\n… ({len(text) - VALUE_SHOWN_CHARS:,} more characters)"
    return {"name": name, "value": text, "block": block or "\n" in text or len(text) > INLINE_CHARS}


def stack_text(stack: list[dict[str, Any]], strings: dict[str, str]) -> str:
    """Frames outermost first, each `file:line in function` and its source line below."""
    lines = []
    for frame in frames(stack, strings):
        lines.append(f"{frame.location} in {frame.name}")
        if frame.loc:
            lines.append(f"    {frame.loc}")
    return "\n".join(lines)
