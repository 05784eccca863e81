"""Stage 1: one streaming pass over a TORCH_TRACE log into the intermediate store.

Memory stays flat: the log is read line by line, each record (an envelope line and its tab
payload lines) is written out at once, and only per-compile-id summaries are kept.
"""

from __future__ import annotations

import datetime
import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson

from .. import __version__
from ..atomic import write_bytes
from ..rules.compile_id import UNKNOWN_DISPLAY, UNKNOWN_GROUP, CompileId, unknown_directory
from ..rules.status import cache_status, cache_status_of_name, metrics_status, worst_status
from ..safepath import safe_component
from ..store.streams import JSONL_STREAMS, PARSE_STATE_FILE, intermediate_dir, stream_for
from ..store.writers import ChromiumArrayWriter, StreamWriter, remove_stale_temps
from . import stacks
from .envelope import STACK, envelope_type, optional, unknown_keys, validate
from .glog import parse_glog
from .outputs import OutputPlanner, PlannedOutput
from .stats import empty_stats

MANIFEST_VERSION = "2.1"
STATE_FORMAT = 2  # 2: metrics statuses kept as a list per compile id
MAX_REPORTED_PROBLEMS = 100

RAW_EXTRA_KEYS = ("timestamp", "thread", "pathname", "lineno")


@dataclass
class ParseOptions:
    """Everything that changes what stage 1 writes; a change forces a full re-parse."""

    plain_text: bool = False
    export: bool = False
    inductor_provenance: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"plain_text": self.plain_text, "export": self.export,
                "inductor_provenance": self.inductor_provenance}


@dataclass
class ParseResult:
    manifest: dict[str, Any]
    resumed: bool
    changed_files: list[str] = field(default_factory=list)


class ProblemReporter:
    """Prints each problem once as `file:line: message`, up to a cap, and keeps a sample."""

    def __init__(self, log_name: str, stream: TextIO | None, sample: list[dict[str, Any]]) -> None:
        self.log_name = log_name
        self.stream = stream
        self.sample = sample

    def __call__(self, line: int, message: str) -> None:
        if len(self.sample) < MAX_REPORTED_PROBLEMS:
            self.sample.append({"line": line, "message": message})
            if self.stream is not None:
                print(f"{self.log_name}:{line}: {message}", file=self.stream)
                if len(self.sample) == MAX_REPORTED_PROBLEMS:
                    print(f"{self.log_name}: further problems are counted but not printed",
                          file=self.stream)


def new_state(options: ParseOptions) -> dict[str, Any]:
    """The parser's whole memory, as JSON data so it can be saved for a later resume."""
    return {
        "format": STATE_FORMAT,
        "tool_version": __version__,
        "options": options.to_json(),
        "year": datetime.datetime.now(datetime.UTC).year,
        "line": 0,
        "expected_rank": None,
        "rank_detected": False,
        "counter": 0,
        "stats": empty_stats(),
        "unknown_fields": {},
        "strings": {},
        "envelope_counts": {},
        "artifact_counts": {},
        "compile_ids": {},
        "stack_trie": stacks.new_trie(),
        "unknown_stack_trie": stacks.new_trie(),
        "metrics": {},
        "failures": {"restarts": 0, "failures": 0},
        "cache": {"hit": 0, "miss": 0, "bypass": 0},
        "ranks": [],
        "missing_compile_id": 0,
        "problems": [],
    }


@dataclass
class Record:
    """One envelope line with the tab-prefixed payload lines that follow it."""

    offset: int
    line: int
    text: bytes | None  # None for payload lines with no envelope before them
    payload_lines: list[tuple[int, bytes]]


def read_records(handle: BinaryIO, offset: int, line: int,
                 hasher: Any) -> Iterator[tuple[Record, int, int, Any]]:
    """Records from `offset`, each with the offset and line count just after it and the
    digest state of the log up to its start (for the resume point)."""
    current: Record | None = None
    current_digest = None
    current_end_line = line
    for raw in handle:
        line += 1
        start = offset
        offset += len(raw)
        text = raw.rstrip(b"\n")
        if text.endswith(b"\r"):
            text = text[:-1]
        if text and text[:1] != b"\t" and current is not None:
            yield current, start, current_end_line, current_digest
            current = None
        if text:
            if current is None:
                current_digest = hasher.copy()
                is_payload = text[:1] == b"\t"
                current = Record(start, line, None if is_payload else text, [])
                if is_payload:
                    current.payload_lines.append((line, text[1:]))
            else:
                current.payload_lines.append((line, text[1:]))
            current_end_line = line
        hasher.update(raw)
    if current is not None:
        yield current, offset, line, current_digest


class LogParser:
    """Turns records into intermediate-store entries and keeps the running summaries."""

    def __init__(self, state: dict[str, Any], writers: dict[str, StreamWriter],
                 chromium: ChromiumArrayWriter, report: ProblemReporter) -> None:
        self.state = state
        self.stats = state["stats"]
        self.writers = writers
        self.chromium = chromium
        self.report = report
        options = state["options"]
        self.planner = OutputPlanner(options["plain_text"], options["export"], state["counter"])

    # -- helpers -------------------------------------------------------------------------
    def _decode(self, line: int, data: bytes) -> str | None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            self.stats["fail_utf8"] += 1
            self.report(line, f"invalid UTF-8 at byte {error.start}; line skipped")
            return None

    def _payload(self, record: Record) -> tuple[str, bytes]:
        raw = b"\n".join(data for _, data in record.payload_lines)
        try:
            return raw.decode("utf-8"), raw
        except UnicodeDecodeError as error:
            self.stats["fail_utf8"] += 1
            self.report(record.line, f"payload is not valid UTF-8 (byte {error.start}); "
                                     "undecodable bytes replaced")
            return raw.decode("utf-8", "replace"), raw

    # -- the per-record pipeline (legacy order, spec §1.8) --------------------------------
    def process(self, record: Record) -> None:
        state = self.state
        if record.text is None:
            for line, _ in record.payload_lines:
                self.stats["fail_glog"] += 1
                self.report(line, "payload line without an envelope before it")
            return
        text = self._decode(record.line, record.text)
        if text is None:
            return
        glog = parse_glog(text, state["year"])
        if glog is None:
            # Its tab lines belong to the broken line: counted once, not once per line.
            self.stats["fail_glog"] += 1
            self.report(record.line, "failed to parse glog prefix")
            return
        try:
            envelope = orjson.loads(glog.payload)
        except orjson.JSONDecodeError as error:
            self.stats["fail_json"] += 1  # legacy counts 2 here (typed + raw.jsonl attempt)
            self.report(record.line, f"invalid envelope JSON: {error}")
            return
        if not isinstance(envelope, dict):
            self.stats["fail_json"] += 1
            self.report(record.line, "envelope JSON is not an object")
            return
        unknown = unknown_keys(envelope)
        if unknown:
            self.stats["unknown"] += len(unknown)
            for key in unknown:
                state["unknown_fields"][key] = state["unknown_fields"].get(key, 0) + 1
        error = validate(envelope)
        if error is not None:
            self.stats["fail_json"] += 1
            self.report(record.line, f"envelope has the wrong shape ({error})")
            self._index(record, glog, envelope, "invalid", None, [], None)
            return
        if envelope.get("str") is not None:
            string, index = envelope["str"]
            state["strings"][str(index)] = string
            return

        has_payload = envelope.get("has_payload")
        payload = ""
        if has_payload is not None:
            payload, payload_bytes = self._payload(record)
            if hashlib.md5(payload_bytes).hexdigest() != has_payload.lower() or not _is_hex(has_payload):
                self.stats["fail_payload_md5"] += 1
                self.report(record.line, "payload md5 mismatch (truncated or corrupted payload)")
        else:
            for line, _ in record.payload_lines:
                self.stats["fail_glog"] += 1
                self.report(line, "payload line after an envelope without has_payload")

        rank = envelope.get("rank")
        if not state["rank_detected"] and rank is not None:
            state["rank_detected"] = True
            state["expected_rank"] = rank
            state["ranks"] = [rank]
        elif state["rank_detected"] and rank != state["expected_rank"]:
            self.stats["other_rank"] += 1
            self._index(record, glog, envelope, "other_rank", None, [], None)
            return

        self.stats["ok"] += 1
        kind = envelope_type(envelope) or "empty"
        state["envelope_counts"][kind] = state["envelope_counts"].get(kind, 0) + 1
        cid = CompileId.from_envelope(envelope)
        if cid is None:
            directory, group, display = unknown_directory(record.line), UNKNOWN_GROUP, UNKNOWN_DISPLAY
            state["missing_compile_id"] += 1
        else:
            directory = cid.directory
            grouped = cid.grouped()
            group, display = grouped.directory, grouped.display
        entry = self._compile_entry(group, display, record.line)

        guards_ok = True
        if envelope.get("dynamo_guards") is not None:
            guards_ok = _guards_json_ok(payload)
            if not guards_ok:
                self.stats["fail_dynamo_guards_json"] += 1
                self.report(record.line, "dynamo_guards payload is not a JSON list of guards")
        outputs, errors = self.planner.plan(envelope, directory, payload, guards_ok)
        state["counter"] = self.planner.counter
        for message in errors:
            self.stats["fail_parser"] += 1
            self.report(record.line, message)
        entry["outputs"] += len(outputs)

        metadata = envelope.get(kind)
        stream = stream_for(kind, metadata)
        if kind == "artifact" and metadata is not None:
            name = metadata["name"]
            state["artifact_counts"][name] = state["artifact_counts"].get(name, 0) + 1
            cache = cache_status_of_name(name)
            if cache is not None:
                self._note_cache(entry, cache)
        if kind == "compilation_metrics" and metadata is not None:
            if cid is not None:
                self._note_metrics(cid, metadata)
            else:
                self._note_failures(metadata)
        entry["has"][stream] = True

        if envelope.get("stack") is not None:
            # Legacy files every top-level stack as "(unknown)": these entries lack compile context.
            stacks.insert(state["unknown_stack_trie"], envelope["stack"], UNKNOWN_GROUP)
        if kind == "chromium_event":
            self._chromium(record.line, payload, has_payload is not None)
        dynamo_start = envelope.get("dynamo_start")
        if dynamo_start is not None and dynamo_start.get("stack") is not None:
            frames = stacks.strip_convert_frame_suffix(dynamo_start["stack"], state["strings"])
            stacks.insert(state["stack_trie"], frames, directory if cid is not None else UNKNOWN_GROUP)

        payload_file = None
        for output in outputs:
            if output.kind in ("payload", "reformat_json"):
                payload_file = output.url
        if payload_file is None and payload and kind != "chromium_event":
            payload_file = f"payloads/{safe_component(str(has_payload))}.txt"

        if kind != "chromium_event":
            record_json: dict[str, Any] = {
                "type": kind, "compile_id": directory, "rank": rank,
                "timestamp": glog.timestamp, "thread": glog.thread, "pathname": glog.pathname,
                "lineno": glog.lineno, "line": record.line,
                "metadata": metadata, "outputs": [o.to_json() for o in outputs],
            }
            extra = {k: v for k, v in envelope.items()
                     if k != kind and k not in ("rank", "has_payload") and k not in _CID_KEYS}
            if extra:
                record_json["extra"] = extra
            if has_payload is not None:
                record_json["payload"] = payload
            if payload_file is not None and payload_file.startswith("payloads/"):
                record_json["payload_file"] = payload_file
            self.writers[stream].write(record_json)
        if kind != "chromium_event":  # events live in chromium_events.json only
            self._index(record, glog, envelope, "ok", directory, outputs, payload_file)

    def _compile_entry(self, group: str, display: str, line: int) -> dict[str, Any]:
        entries = self.state["compile_ids"]
        entry = entries.get(group)
        if entry is None:
            entry = {"id": group, "display_name": display, "first_line": line, "outputs": 0,
                     "has": {}, "cache": {}}
            entries[group] = entry
        return entry

    def _note_cache(self, entry: dict[str, Any], status: str) -> None:
        self.state["cache"][status] += 1
        entry["cache"][status] = entry["cache"].get(status, 0) + 1

    def _note_metrics(self, cid: CompileId, metrics: dict[str, Any]) -> None:
        key = cid.metrics_key().directory
        statuses = self.state["metrics"].setdefault(key, [])
        status = metrics_status(metrics)
        if status not in statuses:
            statuses.append(status)
        self._note_failures(metrics)

    def _note_failures(self, metrics: dict[str, Any]) -> None:
        self.state["failures"]["restarts"] += len(metrics.get("restart_reasons") or [])
        if metrics.get("fail_type") is not None:
            self.state["failures"]["failures"] += 1

    def _chromium(self, line: int, payload: str, md5_checked: bool) -> None:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            event = _loads_lenient(payload)
            if event is _INVALID:
                if not md5_checked or self.stats["fail_payload_md5"] == 0:
                    self.report(line, "chromium_event payload is not JSON; event dropped")
                return
        self.chromium.write(event)

    def _index(self, record: Record, glog: Any, envelope: dict[str, Any], status: str,
               directory: str | None, outputs: list[PlannedOutput], payload_file: str | None) -> None:
        raw: dict[str, Any] | None = None
        conflict = next((k for k in (*RAW_EXTRA_KEYS, "payload_filename") if k in envelope), None)
        if conflict is not None:
            self.stats["fail_key_conflict"] += 1
            self.report(record.line, f"key conflict: '{conflict}' already in the envelope; "
                                     "line left out of raw.jsonl")
        else:
            raw = dict(envelope)
            raw.update(timestamp=glog.timestamp, thread=glog.thread, pathname=glog.pathname,
                       lineno=glog.lineno)
            if payload_file is not None:
                raw["payload_filename"] = payload_file
        self.writers["index"].write({
            "line": record.line, "status": status, "type": envelope_type(envelope) or "empty",
            "compile_id": directory, "outputs": [o.to_json() for o in outputs],
            "payload_file": payload_file, "raw": raw,
        })


_CID_KEYS = frozenset(("compiled_autograd_id", "frame_id", "frame_compile_id", "attempt"))
_INVALID = object()


def _is_hex(text: str) -> bool:
    return len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text)


def _loads_lenient(text: str) -> Any:
    """Python's json accepts NaN/Infinity, which torch can emit and orjson refuses."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        return _INVALID


def _guards_json_ok(payload: str) -> bool:
    try:
        guards = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    # Legacy deserialises `[{code: String, stack?, user_stack?}]`: stacks must be frame lists.
    return isinstance(guards, list) and all(
        isinstance(g, dict) and isinstance(g.get("code"), str)
        and optional(STACK)(g.get("stack")) is None and optional(STACK)(g.get("user_stack")) is None
        for g in guards)


# -- running a whole parse ------------------------------------------------------------------

def _hash_prefix(path: Path, length: int) -> Any:
    digest = hashlib.sha256()
    remaining = length
    with open(path, "rb") as handle:
        while remaining:
            chunk = handle.read(min(remaining, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest


def _load_resume(log: Path, idir: Path, options: ParseOptions) -> dict[str, Any] | None:
    """The saved resume point, if the log has only grown since it was written."""
    state_path = idir / PARSE_STATE_FILE
    if not state_path.exists():
        return None
    try:
        saved = orjson.loads(state_path.read_bytes())
    except orjson.JSONDecodeError:
        return None
    resume = saved.get("resume", {})
    state = resume.get("state", {})
    if (saved.get("format") != STATE_FORMAT or state.get("tool_version") != __version__
            or state.get("options") != options.to_json()):
        return None
    offset = resume.get("offset", 0)
    if offset <= 0 or log.stat().st_size < offset:  # nothing to resume from
        return None
    hasher = _hash_prefix(log, offset)
    if hasher.hexdigest() != resume.get("digest"):
        return None
    resume["hasher"] = hasher
    for name, (size, _count) in resume.get("streams", {}).items():
        path = idir / name
        if not path.exists() or path.stat().st_size < size:
            return None
    return resume


def _open_writers(idir: Path, resume: dict[str, Any] | None) -> tuple[dict[str, StreamWriter], ChromiumArrayWriter]:
    sizes = resume["streams"] if resume else {}
    writers = {}
    for name in JSONL_STREAMS:
        size, count = sizes.get(f"{name}.jsonl", (0, 0))
        writers[name] = StreamWriter(idir / f"{name}.jsonl", size, count)
    size, count = sizes.get("chromium_events.json", (0, 0))
    chromium = ChromiumArrayWriter(idir / "chromium_events.json", size, count)
    return writers, chromium


def parse_log(log: Path, out: Path, options: ParseOptions | None = None,
              stderr: TextIO | None = sys.stderr, progress: Any = None) -> ParseResult:
    """Parse `log` into `out/intermediate/`, resuming when the log has only grown."""
    options = options or ParseOptions()
    idir = intermediate_dir(out)
    idir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(idir)
    resume = _load_resume(log, idir, options)
    if resume is not None:
        state = resume["state"]
        offset, line, hasher = resume["offset"], state["line"], resume["hasher"]
    else:
        state = new_state(options)
        offset, line, hasher = 0, 0, hashlib.sha256()
    writers, chromium = _open_writers(idir, resume)
    all_writers = {**{f"{n}.jsonl": w for n, w in writers.items()}, "chromium_events.json": chromium}
    report = ProblemReporter(str(log), stderr, state["problems"])
    parser = LogParser(state, writers, chromium, report)
    try:
        with open(log, "rb") as handle:
            handle.seek(offset)
            pending = None
            for item in read_records(handle, offset, line, hasher):
                if pending is not None:
                    _process(parser, pending, progress)
                pending = item
            # Resume point: just before the last record, which a growing log may still extend.
            resume_offset, resume_line, resume_digest = offset, line, hasher
            if pending is not None:
                resume_offset, resume_line, resume_digest = pending[0].offset, pending[0].line - 1, pending[3]
            new_resume: dict[str, Any] = {
                "offset": resume_offset,
                "digest": resume_digest.hexdigest(),
                "state": orjson.loads(orjson.dumps({**state, "line": resume_line})),
                "streams": {n: (w.position(), w.count) for n, w in all_writers.items()},
            }
            if pending is not None:
                _process(parser, pending, progress)
            size = handle.tell()
    except BaseException:
        for writer in all_writers.values():
            writer.abandon()
        raise
    changed = [name for name, writer in all_writers.items() if writer.finish()]
    state["counter"] = parser.planner.counter
    manifest = build_manifest(log, size, hasher.hexdigest(), state,
                              {n: w.count for n, w in all_writers.items()})
    strings = orjson.dumps({"string_table": _string_table(state["strings"])},
                           option=orjson.OPT_APPEND_NEWLINE)
    if write_bytes(idir / "string_table.json", strings):
        changed.append("string_table.json")
    if write_bytes(idir / "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2)):
        changed.append("manifest.json")
    write_bytes(idir / PARSE_STATE_FILE, orjson.dumps({"format": STATE_FORMAT, "resume": new_resume}))
    if progress is not None:
        progress.close()
    return ParseResult(manifest, resume is not None, changed)


def _process(parser: LogParser, item: tuple[Record, int, int, Any], progress: Any) -> None:
    record, end_offset, end_line, _digest = item
    parser.process(record)
    parser.state["line"] = end_line
    if progress is not None:
        progress.update_to(end_offset)


def _string_table(strings: dict[str, str]) -> list[str | None]:
    """Index i holds intern id i; gaps are null; legacy writes `[null]` when empty."""
    if not strings:
        return [None]
    size = max(int(k) for k in strings) + 1
    table: list[str | None] = [None] * size
    for key, value in strings.items():
        table[int(key)] = value
    return table


def compile_status(metrics: dict[str, Any], directory: str) -> str:
    """Stack-trie colour of a compile id: the worst outcome of its metrics (attempt 0)."""
    cid = CompileId.from_directory(directory)
    statuses = metrics.get(cid.metrics_key().directory) if cid else None
    return worst_status(statuses or ())


def build_manifest(log: Path, size: int, digest: str, state: dict[str, Any],
                   counts: dict[str, int]) -> dict[str, Any]:
    """manifest.json v2.1: the summary every module may read without touching the JSONL."""
    strings = state["strings"]
    compile_ids = []
    for entry in state["compile_ids"].values():
        has = entry["has"]
        compile_ids.append({
            "id": entry["id"], "display_name": entry["display_name"],
            "first_line": entry["first_line"], "output_count": entry["outputs"],
            "status": compile_status(state["metrics"], entry["id"]),
            "cache_status": cache_status(entry["cache"]),
            "has_graphs": bool(has.get("graphs")), "has_codegen": bool(has.get("codegen")),
            "has_guards": bool(has.get("guards")), "has_metrics": bool(has.get("compilation_metrics")),
            "has_artifacts": bool(has.get("artifacts")), "has_cache": bool(has.get("cache")),
            "has_tensor_metadata": bool(has.get("tensor_metadata")), "has_export": bool(has.get("export")),
        })
    statuses = {terminal: compile_status(state["metrics"], terminal)
                for terminal in _terminals(state["stack_trie"])}
    stats = state["stats"]
    return {
        "version": MANIFEST_VERSION,
        "tool": {"name": "tlparse-tasks", "version": __version__},
        "source": {"path": str(log.resolve()), "name": log.name, "size": size,
                   "sha256": digest},
        "options": state["options"],
        "parse": {"offset": size, "lines": state["line"]},
        "totals": {"lines": state["line"], "envelopes": sum(state["envelope_counts"].values()),
                   "compile_ids": len(compile_ids), "outputs": state["counter"],
                   "strings": len(strings)},
        "envelope_counts": dict(sorted(state["envelope_counts"].items(), key=lambda kv: (-kv[1], kv[0]))),
        "artifact_counts": dict(sorted(state["artifact_counts"].items(), key=lambda kv: (-kv[1], kv[0]))),
        "ranks": state["ranks"],
        "stats": stats,
        "unknown_fields": dict(sorted(state["unknown_fields"].items())),
        "missing_compile_id": state["missing_compile_id"],
        "problems": state["problems"],
        "compile_ids": compile_ids,
        "stack_trie": stacks.resolve(state["stack_trie"], strings),
        "stack_statuses": statuses,
        "unknown_stack_trie": stacks.resolve(state["unknown_stack_trie"], strings),
        "failures_summary": {**state["failures"],
                             "total": state["failures"]["restarts"] + state["failures"]["failures"]},
        "cache_summary": state["cache"],
        "files": {name: {"path": name, "count": count} for name, count in sorted(counts.items())}
        | {"string_table.json": {"path": "string_table.json", "count": len(strings)}},
    }


def _terminals(trie: dict[str, Any]) -> Iterator[str]:
    yield from trie["terminals"]
    for child in trie["children"].values():
        yield from _terminals(child)
