"""export (eager, `-e/--export` only): the draft-export report and its symbolic guard pages.

The index gets legacy's draft-export report: a verdict (no issues, or how many), one table row
per issue with its kind as legacy names it (Data Dependent Error, Guard Evaluated, Missing Fake
Kernel, Mismatched Fake Kernel) and what to do about it, and links to the exported programs.
Each guard or data-dependent specialisation gets `{dir}/symbolic_guard_information_N.html` at
legacy's path and number (planned by the parse, `parse/outputs.py`): the expression, the user
and framework stacks, the frame's locals and symbols, and the provenance tree of the
`expression_created` / `create_unbacked_symbol` entries it was built from, as legacy saw them at
that log line.

Beyond legacy:
* every data-dependent error counts: entries whose `frame_locals` hold lists (legacy drops the
  line) and `guard_on_data_dependent_error` entries (legacy ignores them) are rows too, with
  pages of their own outside legacy's numbering (`symbolic_guard_information_line<L>.html`);
  a `make_fx_fail_partial` graph (export stopped mid-trace) is linked from the error that
  stopped it, or is a row of its own;
* no empty link: without an exported program the report says so;
* entry types this tool does not know are listed (type, lines, payload), not dropped;
* everything from the log is escaped (legacy writes it into the HTML as is), and the provenance
  tree is built without recursion, as nested `<details>` a reader expands.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..parse.envelope import KNOWN_KEYS
from ..rules.urls import report_href
from .common import depth_prefix, display_of, format_value, load_strings, metadata_of, output_of, records
from .kit import Frame, StackView, stack_of

SECTION = "export"
TITLE = "Draft Export Report"
INDEX_TEMPLATE = "export.html"
PAGE_TEMPLATE = "symbolic_guard_information.html"
PAGE_NAME = "symbolic_guard_information"
FAKE_KERNEL_DOC = ("https://docs.google.com/document/d/1_W62p8WJOQQUzPsJYa7s701JXt0qf2OfLub2sbkHOaU/edit"
                   "#heading=h.ahugy69p2jmz")

# Issue kinds: legacy's four, and ours for a trace that stopped without a logged cause.
DATA_DEPENDENT = "Data Dependent Error"
GUARD_EVALUATED = "Guard Evaluated"
MISSING_FAKE_KERNEL = "Missing Fake Kernel"
MISMATCHED_FAKE_KERNEL = "Mismatched Fake Kernel"
FAILED_TRACE = "Failed Trace"

GUARD_TYPES = ("guard_added", "propagate_real_tensors_provenance")
NODE_TYPES = ("expression_created", "create_unbacked_symbol")
DDE_ERROR = "guard_on_data_dependent_error"
PARTIAL_GRAPH = "make_fx_fail_partial"  # the artifact torch logs when tracing stops with an error
FAKE_KERNEL_TYPES = ("missing_fake_kernel", "mismatched_fake_kernel")
MAX_TREE_NODES = 2000  # per page; a larger tree says how many it left out
MAX_OTHER_LINES = 20  # log lines shown per unknown entry type


@dataclass(frozen=True)
class Node:
    """An `expression_created` or `create_unbacked_symbol` entry, as the provenance tree needs it."""

    line: int
    result: str
    method: str
    arguments: list[str]
    argument_ids: list[int]
    range: str  # an unbacked symbol's value range
    user_stack: Any
    stack: Any


@dataclass
class Field:
    """One entry of an object an export record logged (locals, symbols, their sources)."""

    name: str
    value: str


@dataclass
class TreeNode:
    """One card of the provenance tree. Cards nest as `<li><details>…<ul>`; `closes` says how
    many of those the template closes after this card (pre-order, so no recursion)."""

    result: str
    method: str
    arguments: list[str]
    range: str
    user_stack: StackView
    stack: StackView
    depth: int
    closes: int = 0
    children: int = 0


@dataclass
class GuardPage:
    """A `symbolic_guard_information` page."""

    path: str
    root: str
    kind: str
    expr: str
    result: str
    prefix: str
    compile_id: str
    line: int
    user_stack: StackView
    stack: StackView
    source_line: str
    locals: list[Field]
    symbols: list[Field]
    sources: list[Field]
    node_id: str
    tree: list[TreeNode]
    omitted: bool
    legacy_numbered: bool


@dataclass
class Issue:
    """One row of the failure table."""

    kind: str
    line: int
    compile_id: str
    expr: str = ""
    result: str = ""
    op: str = ""
    reason: str = ""
    page: str | None = None  # href of its guard page
    partial: str | None = None  # href of the partial graph of a trace that stopped
    location: Frame | None = None  # the innermost user frame
    source: str = ""  # the log entry type


@dataclass(frozen=True)
class Link:
    """A link the export section lists (an exported program's page)."""

    href: str
    name: str


@dataclass(frozen=True)
class Sighting:
    """One log line of an entry this tool does not know, and its payload file's href."""

    line: int
    payload: str


@dataclass
class Other:
    """Entries of a type this tool does not know."""

    type: str
    count: int = 0
    entries: list[Sighting] = field(default_factory=list)


@dataclass
class Report:
    """The export section: what failed, the exported programs and the other export records."""

    issues: list[Issue] = field(default_factory=list)
    programs: list[Link] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)
    pages: list[GuardPage] = field(default_factory=list)
    doc: str = FAKE_KERNEL_DOC


class NodeIndex:
    """Every expression node by id, each version with its log line: a page shows the nodes as
    they were logged before its own line (legacy builds its index while it reads)."""

    def __init__(self) -> None:
        self._versions: dict[int, list[Node]] = {}

    def add(self, node_id: Any, node: Node) -> None:
        if type(node_id) is int:
            self._versions.setdefault(node_id, []).append(node)

    def before(self, node_id: int, line: int) -> Node | None:
        versions = self._versions.get(node_id, [])
        at = bisect.bisect_left([v.line for v in versions], line)
        return versions[at - 1] if at else None


def text(value: Any) -> str:
    return format_value(value)


def fields(value: Any) -> list[Field]:
    """An object's entries as fields, skipping null values (legacy skips them too)."""
    if not isinstance(value, dict):
        return [] if value is None else [Field("", text(value))]
    return [Field(str(k), text(v)) for k, v in value.items() if v is not None]


def innermost_user_frame(meta: dict[str, Any], strings: dict[str, str]) -> Frame | None:
    """Where in the user's code the issue arose (None without a user stack)."""
    return stack_of(meta.get("user_stack"), strings).last


def node_of(record: dict[str, Any]) -> tuple[Any, Node]:
    meta = metadata_of(record)
    if record["type"] == "create_unbacked_symbol":
        return meta.get("node_id"), Node(record["line"], text(meta.get("symbol")), "", [], [],
                                         text(meta.get("vr")), meta.get("user_stack"), meta.get("stack"))
    ids, arguments = meta.get("argument_ids"), meta.get("arguments")
    return meta.get("result_id"), Node(
        record["line"], text(meta.get("result")), text(meta.get("method")),
        [text(a) for a in arguments] if isinstance(arguments, list) else [],
        [i for i in ids if type(i) is int] if isinstance(ids, list) else [], "",
        meta.get("user_stack"), meta.get("stack"))


def provenance_tree(index: NodeIndex, root_id: Any, line: int, strings: dict[str, str]) -> tuple[list[TreeNode], bool]:
    """Legacy's pre-order walk over `argument_ids` from the guard's node, each node once,
    iterative (a deep chain of expressions cannot exhaust the stack); at most MAX_TREE_NODES."""
    if type(root_id) is not int:
        return [], False
    tree: list[TreeNode] = []
    seen: set[int] = set()
    todo: list[tuple[int, int]] = [(root_id, 0)]
    while todo:
        node_id, depth = todo.pop()
        if node_id in seen:
            continue
        node = index.before(node_id, line)
        if node is None:
            continue
        if len(tree) >= MAX_TREE_NODES:
            return _closed(tree), True
        seen.add(node_id)
        tree.append(TreeNode(node.result, node.method, node.arguments, node.range,
                             stack_of(node.user_stack, strings), stack_of(node.stack, strings), depth))
        todo.extend((child, depth + 1) for child in reversed(node.argument_ids))
    return _closed(tree), False


def _closed(tree: list[TreeNode]) -> list[TreeNode]:
    """Set how many levels close after each card, and how many cards sit right below it."""
    ancestors: list[TreeNode] = []
    for at, node in enumerate(tree):
        following = tree[at + 1].depth if at + 1 < len(tree) else 0
        node.closes = node.depth - following + 1
        del ancestors[node.depth:]
        if ancestors:
            ancestors[-1].children += 1
        ancestors.append(node)
    return tree


def own_page_path(record: dict[str, Any]) -> str:
    """A page outside legacy's numbering, for an entry legacy drops or ignores; named by its
    log line, which no numbered page can take (`_line` is not a number)."""
    return f"{record['compile_id']}/{PAGE_NAME}_line{record['line']}.html"


class Collector:
    """Reads the streams once and gathers the report."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.strings = load_strings(ctx)
        self.index = NodeIndex()
        self.report = Report()
        self._page_requests: list[tuple[Issue, dict[str, Any], str, bool]] = []
        self._partials: list[dict[str, Any]] = []
        self._others: dict[str, Other] = {}

    def collect(self) -> Report:
        for record in records(self.ctx, "guards.jsonl"):
            if record["type"] in NODE_TYPES:
                self.index.add(*node_of(record))
            elif record["type"] in GUARD_TYPES:
                self._guard(record)
        for record in records(self.ctx, "export.jsonl"):
            self._export(record)
        for record in records(self.ctx, "artifacts.jsonl"):
            self._artifact(record)
        self._attach_partials()
        self.report.issues.sort(key=lambda i: i.line)
        self.report.others = sorted(self._others.values(), key=lambda o: o.entries[0].line)
        self.report.pages = [self._page(*request) for request in self._page_requests]
        return self.report

    def _issue(self, kind: str, record: dict[str, Any], **values: Any) -> Issue:
        meta = metadata_of(record)
        issue = Issue(kind, record["line"], display_of(record["compile_id"]), source=record["type"],
                      location=innermost_user_frame(meta, self.strings), **values)
        self.report.issues.append(issue)
        return issue

    def _request_page(self, issue: Issue, record: dict[str, Any], producer: str | None) -> None:
        planned = output_of(record, producer) if producer else None
        path = planned["url"] if planned else own_page_path(record)
        issue.page = report_href(path)
        self._page_requests.append((issue, record, path, planned is not None))

    def _guard(self, record: dict[str, Any]) -> None:
        meta = metadata_of(record)
        if record["type"] == "guard_added":
            if meta.get("prefix") != "eval":
                return  # runtime asserts and the like: legacy shows none of them
            issue = self._issue(GUARD_EVALUATED, record, expr=text(meta.get("expr")))
        else:
            issue = self._issue(DATA_DEPENDENT, record, expr=text(meta.get("expr")), result=text(meta.get("result")))
        self._request_page(issue, record, record["type"])

    def _export(self, record: dict[str, Any]) -> None:
        kind = record["type"]
        meta = metadata_of(record)
        if kind == "exported_program":
            planned = output_of(record, "exported_program")
            if planned:
                self.report.programs.append(Link(report_href(planned["url"]), planned["url"]))
        elif kind == "missing_fake_kernel":
            self._issue(MISSING_FAKE_KERNEL, record, op=text(meta.get("op")))
        elif kind == "mismatched_fake_kernel":
            self._issue(MISMATCHED_FAKE_KERNEL, record, op=text(meta.get("op")), reason=text(meta.get("reason")))
        else:
            self._other(record)

    def _artifact(self, record: dict[str, Any]) -> None:
        kind = record["type"]
        meta = record["metadata"]
        if kind == DDE_ERROR:
            values = meta if isinstance(meta, dict) else {}
            issue = self._issue(DATA_DEPENDENT, record, expr=text(values.get("expr")))
            self._request_page(issue, record, None)
        elif kind == "artifact" and isinstance(meta, dict) and meta.get("name") == PARTIAL_GRAPH:
            self._partials.append(record)
        elif kind not in KNOWN_KEYS:
            self._other(record)

    def _other(self, record: dict[str, Any]) -> None:
        other = self._others.setdefault(record["type"], Other(record["type"]))
        other.count += 1
        if len(other.entries) < MAX_OTHER_LINES:
            payload = record.get("payload_file")
            other.entries.append(Sighting(record["line"], report_href(payload) if payload else ""))

    def _attach_partials(self) -> None:
        """A partial graph belongs to the last data-dependent error logged before it in its
        compile id; without one, the stopped trace is an issue of its own."""
        errors = sorted((i for i in self.report.issues if i.source == DDE_ERROR), key=lambda i: i.line)
        for record in self._partials:
            href = report_href(record["payload_file"]) if record.get("payload_file") else None
            owner = next((i for i in reversed(errors) if i.line < record["line"] and i.partial is None
                          and i.compile_id == display_of(record["compile_id"])), None)
            if owner is not None:
                owner.partial = href or ""
            else:
                self._issue(FAILED_TRACE, record, partial=href or "")

    def _page(self, issue: Issue, record: dict[str, Any], path: str, numbered: bool) -> GuardPage:
        meta = metadata_of(record)
        frame_locals = meta.get("frame_locals")
        frame_locals = frame_locals if isinstance(frame_locals, dict) else {}
        node_id = meta.get("expr_id") if record["type"] == DDE_ERROR else meta.get("expr_node_id")
        tree, omitted = provenance_tree(self.index, node_id, record["line"], self.strings)
        return GuardPage(
            path=path, root=depth_prefix(path), kind=issue.kind, expr=issue.expr, result=text(meta.get("result")),
            prefix=text(meta.get("prefix")), compile_id=issue.compile_id, line=record["line"],
            user_stack=stack_of(meta.get("user_stack"), self.strings), stack=stack_of(meta.get("stack"), self.strings),
            source_line=text(frame_locals.get("loc")), locals=fields(frame_locals.get("locals")),
            symbols=fields(frame_locals.get("symbols")), sources=fields(meta.get("symbol_to_sources")),
            node_id=text(node_id), tree=tree, omitted=omitted, legacy_numbered=numbered)


def render(ctx: ModuleContext) -> ModuleOutput:
    report = Collector(ctx).collect()
    for page in report.pages:
        ctx.write_text(page.path, ctx.render(PAGE_TEMPLATE, page=page, root=page.root))
    html = ctx.render(INDEX_TEMPLATE, report=report)
    return ModuleOutput(index_entries=[IndexEntry(section=SECTION, title=TITLE, order=-20, html=html)])
