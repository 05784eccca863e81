"""overview (eager): what a reader should know about the log before the details.

A warning naming the compiles the log started but never finished (rules/status.py: the log
ends mid-compile, or the process died; legacy reports such a log as clean), the unknown-fields
notice (legacy prints it only on stderr), the parse diagnostics (every counter, and each problem
with its log line), and links to the machine-readable store.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..parse.stats import ALL_FIELDS, STRICT_FIELDS

COUNTER_MEANINGS = {
    "ok": "entries read",
    "other_rank": "entries of another rank, skipped",
    "fail_glog": "lines without a glog prefix",
    "fail_json": "envelopes that are not valid JSON of the expected shape",
    "fail_payload_md5": "payloads whose md5 does not match (truncated or corrupted)",
    "fail_dynamo_guards_json": "dynamo_guards payloads that are not a JSON list",
    "fail_parser": "entries a page could not be made for",
    "fail_key_conflict": "entries left out of raw.jsonl (key conflict)",
    "fail_json_serialization": "entries that could not be written to raw.jsonl",
    "unknown": "fields this tool does not render specially",
    "fail_utf8": "lines that are not UTF-8",
}


@dataclass
class Counter:
    """One count of the parse statistics table; counts of problems are highlighted and summed."""

    name: str
    value: int
    meaning: str
    is_problem: bool


def render(ctx: ModuleContext) -> ModuleOutput:
    manifest = ctx.manifest
    stats = manifest["stats"]
    counters = [Counter(name, stats.get(name, 0), COUNTER_MEANINGS[name], name in STRICT_FIELDS)
                for name in ALL_FIELDS if stats.get(name, 0)]
    output = ModuleOutput()
    unfinished = manifest.get("unfinished") or []
    if unfinished:
        output.index_entries.append(IndexEntry(
            section="notices", title="Notices", order=-10,
            html=ctx.render("overview_unfinished.html", unfinished=unfinished)))
    unknown = manifest["unknown_fields"]
    if unknown:
        output.index_entries.append(IndexEntry(
            section="notices", title="Notices", order=-10, html=ctx.render("overview_unknown.html", unknown=unknown)))
    problems = sum(c.value for c in counters if c.is_problem)
    output.index_entries.append(IndexEntry(
        section="diagnostics", title="Diagnostics", order=90,
        html=ctx.render("overview_diagnostics.html", counters=counters, problems=problems,
                        sample=manifest["problems"], ranks=manifest["ranks"],
                        missing_compile_id=manifest["missing_compile_id"])))
    files = sorted(manifest["files"])
    output.index_entries.append(IndexEntry(
        section="downloads", title="Downloads", order=100,
        html=ctx.render("overview_downloads.html", files=files)))
    return output
