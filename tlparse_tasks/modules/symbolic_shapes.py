"""symbolic_shapes (lazy): what the shape environment decided, one page per compile id.

`{compile id dir}/symbolic_shapes.html` (e.g. `-_0_0_0/symbolic_shapes.html`) has that compile
id's tables of specializations (`symbolic_shape_specialization`), guards added fast
(`guard_added_fast`), unbacked symbols (`create_unbacked_symbol`), expressions created
(`expression_created`) and evaluated guards / data-dependent specializations (`guard_added`,
`propagate_real_tensors_provenance`). `symbolic_shapes.html` at the report root stays the entry
point: an overview with the totals and every compile id, its counts and a link to its page.
Legacy shows specializations and guards added fast only inside compilation-metrics pages, and the
other types only in export mode; these are the browsable pages. Any logged value is shown as text
(frame locals can hold lists), stacks are resolved against the string table.

Each compile id's page is a unit (`ctx.unit`): a grown log re-renders only the compile ids whose
entries changed. Each distinct logged stack is viewed and rendered once per run (`Stacks`). The
index shows the totals and, on demand (inline with --eager), the same list as the overview.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file
from ..rules.compile_id import group_of_directory
from .common import depth_prefix, format_value, load_strings, records
from .kit import SharedStacks, StackView, plural, stack_view

PAGE = "symbolic_shapes.html"  # the overview at the report root, and each compile id's page name
COMPILE_TEMPLATE = "symbolic_shapes_compile.html"
SHARD = "compile_ids"
SECTION = "symbolic_shapes"
TITLE = "Symbolic shapes"
TYPES = ("symbolic_shape_specialization", "guard_added_fast", "create_unbacked_symbol", "expression_created",
         "guard_added", "propagate_real_tensors_provenance")


def page_path(section_id: str) -> str:
    """A compile id's page file, relative to OUT (`-_0_0_0/symbolic_shapes.html`).

    Section ids come from `group_of_directory`: the directory form (digits, `-`, `_`) or
    `unknown`, so one plain folder name."""
    return f"{section_id}/{PAGE}"


def page_url(section_id: str) -> str:
    """The link to a compile id's page from the report root; quoted, so it stays a valid URL
    that leads to `page_path` whatever the id."""
    return f"{quote(section_id, safe='')}/{PAGE}"


def text(value: Any) -> str:
    """Any logged JSON value as text (null → "", lists and objects as JSON)."""
    return format_value(value)


@dataclass
class Specialization:
    """A symbol specialized to a value, why, and the stacks that did it."""

    symbol: str
    sources: list[str]
    value: str
    reason: str
    user_stack: StackView | None
    stack: StackView | None


@dataclass
class FastGuard:
    """A guard the shape environment added on its fast path (`guard_added_fast`), and its stacks."""

    expr: str
    user_stack: StackView | None
    stack: StackView | None


@dataclass
class UnbackedSymbol:
    """An unbacked symbol (a data-dependent size), its value range and where it was made."""

    symbol: str
    node_id: str
    vr: str
    anchor: str | None
    user_stack: StackView | None
    stack: StackView | None


@dataclass
class CreatedExpression:
    """A symbolic expression the shape environment created, from what, and where."""

    method: str
    result: str
    arguments: list[str]
    anchor: str | None
    user_stack: StackView | None
    stack: StackView | None


@dataclass
class Field:
    """A name and its value, as one line of a frame's locals or a symbol's sources."""

    name: str
    value: str


@dataclass
class FieldGroup:
    """One key of an object such as frame_locals: a list of fields when its value is an
    object, else the value as text."""

    name: str
    fields: list[Field] | None
    value: str = ""


@dataclass
class Provenance:
    """A guard_added or propagate_real_tensors_provenance entry."""

    kind: str
    expr: str
    result: str
    prefix: str
    node_href: str | None  # the expression or unbacked symbol it refers to, when logged before it
    node_id: str
    frame_locals: list[FieldGroup]
    symbol_to_sources: list[FieldGroup]
    user_stack: StackView | None
    stack: StackView | None

    @property
    def label(self) -> str:
        return "data-dependent specialization" if self.kind == "propagate_real_tensors_provenance" else "guard added"


@dataclass
class Section:
    """Everything one compile id logged."""

    id: str
    display: str
    specializations: list[Specialization] = field(default_factory=list)
    fast_guards: list[FastGuard] = field(default_factory=list)
    unbacked: list[UnbackedSymbol] = field(default_factory=list)
    expressions: list[CreatedExpression] = field(default_factory=list)
    provenance: list[Provenance] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (len(self.specializations) + len(self.fast_guards) + len(self.unbacked) + len(self.expressions)
                + len(self.provenance))

    @property
    def guards_added(self) -> int:
        return sum(1 for p in self.provenance if p.kind == "guard_added")

    @property
    def counts(self) -> str:
        parts = [(len(self.specializations), "specialization", None),
                 (len(self.fast_guards), "guard added fast", "guards added fast"),
                 (len(self.unbacked), "unbacked symbol", None),
                 (len(self.expressions), "expression created", "expressions created"),
                 (self.guards_added, "guard added", "guards added"),
                 (len(self.provenance) - self.guards_added, "data-dependent specialization", None)]
        return ", ".join(plural(n, one, many) for n, one, many in parts if n)

    def item(self) -> dict[str, Any]:
        """This compile id in the overview and index lists (artifact_list.html, or modules.js
        from a shard); the url is relative to the report root."""
        return listed_file(page_url(self.id), f"{self.display}: {self.counts}", self.total)


@dataclass
class CompilePage:
    """One compile id's page: exactly what symbolic_shapes_compile.html sees (its unit data)."""

    section: Section
    root: str  # from the page's folder to the report root
    directory_href: str  # the compile id's entry in the compile directory on index.html

    @classmethod
    def of(cls, section: Section) -> CompilePage:
        root = depth_prefix(page_path(section.id))
        return cls(section, root, f"{root}index.html#{quote(section.display, safe='')}")


@dataclass
class Totals:
    """How many entries of each kind the symbolic shapes pages hold (the index's summary)."""

    specializations: int = 0
    fast_guards: int = 0
    unbacked: int = 0
    expressions: int = 0
    guards_added: int = 0
    data_dependent: int = 0


class NodeAnchors:
    """Anchors of one compile id's expressions and unbacked symbols by node id (a Python object
    id, which torch may reuse): each gets its own anchor on the page, and a guard links to the
    latest one its compile id logged (the shape environment belongs to one compile, so a match
    in another compile id would be a reused id)."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}
        self.latest: dict[int, str] = {}

    def add(self, node_id: Any) -> str | None:
        if type(node_id) is not int:
            return None
        count = self.seen.get(node_id, 0) + 1
        self.seen[node_id] = count
        anchor = f"node-{node_id}" if count == 1 else f"node-{node_id}-{count}"
        self.latest[node_id] = anchor
        return anchor

    def href(self, node_id: Any) -> str | None:
        anchor = self.latest.get(node_id) if type(node_id) is int else None
        return f"#{anchor}" if anchor else None


def field_groups(value: Any) -> list[FieldGroup]:
    """An object as groups of fields (frame_locals: {locals: {...}, symbols: {...}, loc: "..."}).

    Null values are left out, as legacy does; anything that is not an object is one group."""
    if value is None or value == {}:
        return []
    if not isinstance(value, dict):
        return [FieldGroup("", None, text(value))]
    groups = []
    for key, item in value.items():
        if isinstance(item, dict):
            groups.append(FieldGroup(str(key), [Field(str(k), text(v)) for k, v in item.items() if v is not None]))
        elif item is not None:
            groups.append(FieldGroup(str(key), None, text(item)))
    return groups


def object_fields(value: Any) -> list[FieldGroup]:
    """A flat object (symbol_to_sources) as one group per key."""
    if value is None or value == {}:
        return []
    if not isinstance(value, dict):
        return [FieldGroup("", None, text(value))]
    return [FieldGroup(str(k), None, text(v)) for k, v in value.items() if v is not None]


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [text(v) for v in value]
    return [text(value)]


class Stacks(SharedStacks):
    """kit.SharedStacks with `stack_view` (nothing logged shows as none): a framework stack
    repeats in every entry of a shape environment, user stacks in every entry of a line."""

    def __init__(self, strings: dict[str, str]) -> None:
        super().__init__(strings, stack_view)


def collect(ctx: ModuleContext, views: Stacks | None = None) -> tuple[list[Section], Totals]:
    views = views or Stacks(load_strings(ctx))
    sections: dict[str, Section] = {c["id"]: Section(c["id"], c["display_name"]) for c in ctx.manifest["compile_ids"]}
    totals = Totals()
    anchors: dict[str, NodeAnchors] = {}

    def stacks(meta: dict[str, Any]) -> tuple[StackView | None, StackView | None]:
        return views.view(meta.get("user_stack")), views.view(meta.get("stack"))

    for record in records(ctx, "guards.jsonl", *TYPES):
        meta = record["metadata"] if isinstance(record["metadata"], dict) else {}
        group_id, display = group_of_directory(record["compile_id"])
        section = sections.setdefault(group_id, Section(group_id, display))
        nodes = anchors.setdefault(group_id, NodeAnchors())
        kind = record["type"]
        if kind == "symbolic_shape_specialization":
            section.specializations.append(Specialization(
                text(meta.get("symbol")), as_list(meta.get("sources")), text(meta.get("value")),
                text(meta.get("reason")), *stacks(meta)))
            totals.specializations += 1
        elif kind == "guard_added_fast":
            section.fast_guards.append(FastGuard(text(meta.get("expr")), *stacks(meta)))
            totals.fast_guards += 1
        elif kind == "create_unbacked_symbol":
            section.unbacked.append(UnbackedSymbol(
                text(meta.get("symbol")), text(meta.get("node_id")), text(meta.get("vr")),
                nodes.add(meta.get("node_id")), *stacks(meta)))
            totals.unbacked += 1
        elif kind == "expression_created":
            section.expressions.append(CreatedExpression(
                text(meta.get("method")), text(meta.get("result")), as_list(meta.get("arguments")),
                nodes.add(meta.get("result_id")), *stacks(meta)))
            totals.expressions += 1
        else:
            section.provenance.append(Provenance(
                kind, text(meta.get("expr")), text(meta.get("result")), text(meta.get("prefix")),
                nodes.href(meta.get("expr_node_id")), text(meta.get("expr_node_id")),
                field_groups(meta.get("frame_locals")), object_fields(meta.get("symbol_to_sources")),
                *stacks(meta)))
            if kind == "guard_added":
                totals.guards_added += 1
            else:
                totals.data_dependent += 1
    return [s for s in sections.values() if s.total], totals


def write_compile_pages(ctx: ModuleContext, sections: list[Section], stacks: Stacks) -> None:
    """One page per compile id; a page whose data (and code) did not change is not rendered again."""
    for section in sections:
        page = CompilePage.of(section)
        path = page_path(section.id)
        if ctx.unit(path, page):
            ctx.write_text(path, ctx.render(COMPILE_TEMPLATE, page=page, root=page.root, stack=stacks.bind(ctx)))
    ctx.end_unit()


def render(ctx: ModuleContext) -> ModuleOutput:
    stacks = Stacks(load_strings(ctx))
    sections, totals = collect(ctx, stacks)
    write_compile_pages(ctx, sections, stacks)
    items = [s.item() for s in sections]
    ctx.write_text(PAGE, ctx.render("symbolic_shapes.html", items=items, totals=totals, compile_ids=len(items),
                                    root=""))
    lazy = bool(items) and ctx.lazy
    html = ctx.render("symbolic_shapes_index.html", totals=totals, compile_ids=len(items), page=PAGE,
                      items=[] if lazy else items)
    if not lazy:
        entry = IndexEntry(section=SECTION, title=TITLE, html=html)
    else:
        ctx.write_shard(SHARD, items)
        entry = IndexEntry(section=SECTION, title=TITLE, kind="hybrid", html=html, shard=SHARD, renderer="artifacts")
    return ModuleOutput(index_entries=[entry])
