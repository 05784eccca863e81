"""guards (lazy): the guards dynamo installed for each compile.

For every `dynamo_guards` entry whose payload is a readable guard list, a page at its planned
path (`{dir}/dynamo_guards_N.html`) with one table row per guard (its code and, when logged,
its user and framework stacks), a filter box (`static/guards.js`) and a button that copies the
guards' code (`static/copy.js`); without JavaScript the full table is there and neither shows.
For every `dynamo_cpp_guards_str` entry, its payload verbatim at
`{dir}/dynamo_cpp_guards_str_N.txt`, byte for byte what legacy writes. The index
lists both per compile id: a count summary, with the file list loaded on demand (or inline with
--eager).

A guard file depends on its record alone, so after the log grew only the records after the
parse's resume point are read; the counts and file lists up to it are the module's state
(record_state).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, field
from typing import Any

import orjson

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file
from ..record_state import RecordState
from ..rules.compile_id import display_of, group_of_directory
from .common import depth_prefix, format_value, load_strings, output_of
from .kit import StackView, plural, stack_view

GUARDS_SCRIPT = "static/guards.js"  # where the filter script goes, relative to OUT
COPY_SCRIPT = "copy.js"  # the copy button (static/copy.js; compile_artifacts ships it too), relative to OUT
SHARD = "files"
STREAM = "guards.jsonl"
SECTION = "guards"
TITLE = "Guards"


# -- the guard pages ---------------------------------------------------------------------------

@dataclass
class GuardRow:
    """One guard of a guards page, with the stacks that added it."""

    number: int
    code: str
    user_stack: StackView | None
    stack: StackView | None


@dataclass
class GuardPage:
    """A compile id's guards page."""

    display: str
    root: str
    script: str
    line: int
    rows: list[GuardRow]
    problem: str | None = None  # set when the payload could not be read after all

    @property
    def copy_script(self) -> str:
        return self.root + COPY_SCRIPT

    @property
    def has_stacks(self) -> bool:
        return any(r.user_stack is not None or r.stack is not None for r in self.rows)


def guard_rows(payload: str, strings: dict[str, str]) -> tuple[list[GuardRow], str | None]:
    """The guards of a dynamo_guards payload (the parse already checked it is a guard list)."""
    try:
        guards = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        return [], f"the payload is not JSON ({error})"
    if not isinstance(guards, list):
        return [], "the payload is not a list of guards"
    rows = []
    for number, guard in enumerate(guards, 1):
        if not isinstance(guard, dict):
            rows.append(GuardRow(number, format_value(guard), None, None))
            continue
        rows.append(GuardRow(number, format_value(guard.get("code")),
                             stack_view(guard.get("user_stack"), strings),
                             stack_view(guard.get("stack"), strings)))
    return rows, None


GUARD_TYPES = ("dynamo_guards", "dynamo_cpp_guards_str")
GUARD_TYPE_BYTES = tuple(f'"{kind}"'.encode() for kind in GUARD_TYPES)  # as a JSON line spells them


def has_guard_type(line: bytes) -> bool:
    """The lines of guards.jsonl worth decoding: the shape-environment entries that share the
    file are not (a line is only when it holds a guard type's name)."""
    return any(kind in line for kind in GUARD_TYPE_BYTES)


def guard_records(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The guard records among those decoded (an expression may mention a type's name)."""
    return (record for record in records if record["type"] in GUARD_TYPES)


# -- the index ---------------------------------------------------------------------------------

@dataclass
class GuardFile:
    """One file of the index list (shown by artifact_list.html, or by modules.js from a shard)."""

    url: str
    name: str
    number: int
    detail: str

    def item(self, display: str) -> dict[str, Any]:
        return listed_file(self.url, f"{display} {self.name} ({self.detail})", self.number)


@dataclass
class GuardGroup:
    """One compile id's guard files, as the index lists them."""

    id: str
    display: str
    files: list[GuardFile] = field(default_factory=list)


@dataclass
class GuardSummary:
    """The counts and groups of the index's guards section."""

    pages: int = 0
    guards: int = 0
    cpp_files: int = 0
    groups: list[GuardGroup] = field(default_factory=list)


class GuardTally:
    """The counts and each compile id's files, record by record; its JSON (the groups that have
    files, in the order met) is the module's state at the parse's resume point."""

    def __init__(self, ctx: ModuleContext, saved: Any = None) -> None:
        self.summary = GuardSummary()
        self.groups: dict[str, GuardGroup] = {c["id"]: GuardGroup(c["id"], c["display_name"])
                                              for c in ctx.manifest["compile_ids"]}
        if saved is not None:
            self.summary = GuardSummary(saved["pages"], saved["guards"], saved["cpp_files"])
            for group_id, display, files in saved["groups"]:
                self.group(group_id, display).files = [GuardFile(*f) for f in files]

    def group(self, group_id: str, display: str) -> GuardGroup:
        return self.groups.setdefault(group_id, GuardGroup(group_id, display))

    def to_json(self) -> dict[str, Any]:
        summary = self.summary
        return {"pages": summary.pages, "guards": summary.guards, "cpp_files": summary.cpp_files,
                "groups": [[g.id, g.display, [astuple(f) for f in g.files]] for g in self.groups.values() if g.files]}

    def done(self) -> GuardSummary:
        self.summary.groups = [g for g in self.groups.values() if g.files]
        return self.summary


def render(ctx: ModuleContext) -> ModuleOutput:
    strings = load_strings(ctx)
    state = RecordState(ctx, (STREAM,), strings)
    tally = GuardTally(ctx, state.extra)
    summary = tally.summary
    for record in guard_records(state.records(STREAM, tally.to_json, has_guard_type)):
        kind = record["type"]
        output = output_of(record, kind)
        if output is None:  # e.g. a guard payload that is not a guard list: legacy writes nothing
            continue
        url = output["url"]
        payload = record.get("payload", "")
        if kind == "dynamo_cpp_guards_str":
            ctx.write_text(url, payload)  # verbatim: no newline added
            detail = "C++ guard tree"
            summary.cpp_files += 1
        else:
            rows, problem = guard_rows(payload, strings)
            root = depth_prefix(url)
            page = GuardPage(display_of(record["compile_id"]), root, root + GUARDS_SCRIPT, record["line"],
                             rows, problem)
            if ctx.unit(url, page):  # a grown log re-renders only changed pages
                ctx.write_text(url, ctx.render("guards.html", page=page, root=root))
            ctx.end_unit()  # the C++ dumps, scripts and shard written next are not this page's
            detail = plural(len(rows), "guard")
            summary.pages += 1
            summary.guards += len(rows)
        group_id, display = group_of_directory(record["compile_id"])
        tally.group(group_id, display).files.append(GuardFile(url, url.rsplit("/", 1)[-1], output["number"], detail))
    state.save()
    summary = tally.done()
    if summary.pages:
        ctx.write_static(GUARDS_SCRIPT, GUARDS_SCRIPT)
        ctx.write_static(COPY_SCRIPT, f"static/{COPY_SCRIPT}")
    return ModuleOutput(index_entries=[index_entry(ctx, summary)])


def index_entry(ctx: ModuleContext, summary: GuardSummary) -> IndexEntry:
    """The counts, and the file list: inline with --eager, else a shard for modules.js."""
    items = [f.item(g.display) for g in summary.groups for f in g.files]
    lazy = bool(items) and not ctx.eager
    html = ctx.render("guards_index.html", summary=summary, items=[] if lazy else items)
    if not lazy:
        return IndexEntry(section=SECTION, title=TITLE, html=html)
    ctx.write_shard(SHARD, items)
    return IndexEntry(section=SECTION, title=TITLE, kind="hybrid", html=html, shard=SHARD, renderer="artifacts")
