"""compile_artifacts (lazy): every graph, generated code, dump_file and generic artifact file.

Files go to the paths the parse planned (legacy layout and `_N` numbering): graphs and string
artifacts verbatim, JSON artifacts pretty-printed with sorted keys, inductor output code as a
page (or `.txt` with -p), dump_file sources as pages with `#L<n>` line anchors.
Code pages are plain escaped text that `highlight.js` colours in the browser; with `--eager`
Pygments colours them at build time instead.
Entries of types this tool has no page for are listed on the index (lazily) with their payloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from markupsafe import Markup

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, listed_file
from .artifact_files import write_payload_output
from .code_html import (
    CSS_FILE,
    SCRIPT_FILE,
    SCRIPT_SOURCE,
    highlighted_code_body,
    language_of,
    plain_code_body,
    pygments_css,
)
from .common import depth_prefix, display_of, output_of, records

KNOWN_GENERIC_FREE = frozenset({
    # types whose information lives elsewhere (other modules, the manifest) and need no listing
    "artifact", "link", "dynamo_start", "describe_storage", "describe_tensor", "describe_source",
})


@dataclass
class CodePage:
    title: str
    heading: str
    root: str
    body: Markup  # the numbered lines, plain (lazy) or highlighted (eager)
    language: str
    script: str | None  # highlight.js, relative to the page, when the browser highlights
    source_name: str | None = None


@dataclass
class TraceGroup:
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
        page = CodePage(title, heading, root, plain_code_body(code), language, root + SCRIPT_FILE, source_name)
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
        groups.append(TraceGroup(kernel, [str(t).replace("\\n", "\n").rstrip("\n") for t in traces]))
    return groups


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
    ctx.write_text(CSS_FILE, pygments_css())
    if ctx.lazy:
        ctx.write_static(SCRIPT_FILE, SCRIPT_SOURCE)
    for stream in ("graphs.jsonl", "export.jsonl"):  # export: exported_program_N.txt
        for record in records(ctx, stream):
            write_payload_output(ctx, record)
    for record in records(ctx, "codegen.jsonl"):
        render_codegen(ctx, record)
    generic: list[dict[str, Any]] = []
    for record in records(ctx, "artifacts.jsonl"):
        if record["type"] == "artifact":
            render_artifact(ctx, record)
        elif record["type"] not in KNOWN_GENERIC_FREE:
            generic.append(_generic_item(record))
    output = ModuleOutput()
    if generic:
        if not ctx.lazy:
            html = ctx.render("generic_entries.html", items=generic, count=len(generic))
            output.index_entries.append(IndexEntry(section="generic_entries", title="Other log entries", html=html))
        else:
            ctx.write_shard("generic", generic)
            output.index_entries.append(IndexEntry(
                section="generic_entries", title="Other log entries", kind="hybrid",
                html=ctx.render("generic_entries.html", items=[], count=len(generic)),
                shard="generic", renderer="artifacts"))
    return output


def _generic_item(record: dict[str, Any]) -> dict[str, Any]:
    """An entry of a type this tool has no page for: named by type, compile id and log line."""
    name = f"{record['type']} {display_of(record['compile_id'])} (log line {record['line']})"
    return listed_file(record.get("payload_file"), name, record["line"])
