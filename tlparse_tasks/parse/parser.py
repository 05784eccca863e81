"""Stage 1: one streaming pass over a TORCH_TRACE log into the intermediate store.

Memory stays flat: the log is read in chunks and cut into records (`records.py`), each record
is written out at once, and only per-compile-id summaries are kept (`state.py`). A record
goes through small steps in legacy order (spec §1.8): decode, glog prefix, envelope, string
table, payload and md5, rank, compile id, outputs, summaries, then the typed stream, the
raw.jsonl line and the index. `parse_log` runs the whole pass, resuming when the log has only
grown (`resume.py`), and writes the manifest (`manifest.py`).
"""

from __future__ import annotations

import errno
import hashlib
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

import orjson

from ..atomic import make_dir, write_bytes
from ..fserrors import FsError
from ..rules.compile_id import UNKNOWN_DISPLAY, UNKNOWN_GROUP, CompileId, unknown_directory
from ..rules.status import cache_status_of_name, metrics_status, note_metrics, note_start
from ..store.streams import intermediate_dir, stream_for
from ..store.writers import (
    MAX_RECORD_DEPTH,
    ChromiumArrayWriter,
    RawJsonlWriter,
    RecordTooDeep,
    StoreWriters,
    StreamWriter,
    limit_depth,
    raw_line,
    remove_stale_temps,
)
from . import stacks
from .digests import LogDigests, LogHasher, log_hasher
from .envelope import STACK, envelope_type, optional, unknown_keys, validate
from .glog import GlogLine, parse_glog
from .manifest import build_manifest, string_table
from .outputs import OutputPlanner, PlannedOutput
from .problems import ProblemReporter
from .records import Record, RecordReader
from .resume import PrefixChanged, ResumePoint, load_resume, save_resume
from .state import CompileEntry, ParseOptions, ParseState

__all__ = ["MAX_STRING_INDEX", "LogParser", "ParseOptions", "ParseResult", "parse_log"]

RAW_EXTRA_KEYS = ("timestamp", "thread", "pathname", "lineno")
#: The largest string-table index accepted: the table is a list, so the index is its size.
MAX_STRING_INDEX = 999_999
_CID_KEYS = frozenset(("compiled_autograd_id", "frame_id", "frame_compile_id", "attempt"))
_INVALID = object()
_ID_PART_TYPES = frozenset((int, type(None)))


@dataclass
class ParseResult:
    """What a parse made: the manifest, whether it resumed, and the store files it changed."""

    manifest: dict[str, Any]
    resumed: bool
    changed_files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Where:
    """Where an accepted entry belongs: its file directory and its compile-id group."""

    cid: CompileId | None
    directory: str
    group: str
    display: str


class LogParser:
    """Turns records into intermediate-store entries and keeps the running summaries."""

    def __init__(self, state: ParseState, writers: dict[str, StreamWriter],
                 chromium: ChromiumArrayWriter, raw: RawJsonlWriter, report: ProblemReporter) -> None:
        self.state = state
        self.stats = state.stats
        self.writers = writers
        self.chromium = chromium
        self.raw = raw
        self.report = report
        self.planner = OutputPlanner(state.options.plain_text, state.options.export, state.counter,
                                     state.file_owners)
        self._places: dict[tuple[Any, ...], Where] = {}
        self._cut_line = 0  # the last line whose entry had to be cut (counted once)

    # -- the per-record pipeline (legacy order, spec §1.8) --------------------------------
    def process(self, record: Record) -> None:
        if record.text is None:
            self._count_lines(record, "payload line without an envelope before it")
            return
        text = self._decode(record, record.text)
        if text is None:
            return
        glog = self._glog(record, text)
        if glog is None:
            return
        envelope = self._envelope(record, glog)
        if envelope is None:
            return
        if envelope.get("str") is not None:
            self._intern(record, glog, envelope)
            return
        has_payload = envelope.get("has_payload")
        payload, md5 = self._payload(record, has_payload)
        rank = envelope.get("rank")
        if not self._same_rank(rank):
            self.stats["other_rank"] += 1
            self._index(record, glog, envelope, "other_rank", None, [], None)
            return
        self.stats["ok"] += 1
        kind = envelope_type(envelope) or "empty"
        self.state.envelope_counts[kind] = self.state.envelope_counts.get(kind, 0) + 1
        where = self._where(envelope, record.line)
        entry = self._compile_entry(where, record.line)
        outputs = self._outputs(record, envelope, where.directory, payload)
        entry.outputs += len(outputs)
        metadata = envelope.get(kind)
        stream = stream_for(kind, metadata)
        entry.has.add(stream)
        self._summaries(record, envelope, kind, metadata, where, entry)
        if kind == "chromium_event":  # events live in chromium_events.json only
            self._chromium(record.line, payload, has_payload is not None)
            return
        payload_file = _payload_file(self.planner, outputs, payload, has_payload)
        listed = [output.to_json() for output in outputs]
        self._write_entry(record, glog, envelope, kind, stream, where.directory, listed, payload,
                          payload_file)
        self._index(record, glog, envelope, "ok", where.directory, listed, payload_file, kind,
                    md5 if payload_file is not None else None)

    # -- steps ------------------------------------------------------------------------------
    def _count_lines(self, record: Record, message: str) -> None:
        """Payload lines that belong to no envelope: each one is a glog failure."""
        for line, _ in record.payload_lines():
            self.stats["fail_glog"] += 1
            self.report(line, message)

    def _decode(self, record: Record, data: bytes) -> str | None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            self.stats["fail_utf8"] += 1
            self.report(record.line, f"invalid UTF-8 at byte {error.start}; line skipped")
            return None

    def _glog(self, record: Record, text: str) -> GlogLine | None:
        glog = parse_glog(text, self.state.year)
        if glog is None:
            # Its tab lines belong to the broken line: counted once, not once per line.
            self.stats["fail_glog"] += 1
            self.report(record.line, "failed to parse glog prefix")
        return glog

    def _envelope(self, record: Record, glog: GlogLine) -> dict[str, Any] | None:
        """The envelope object, when legacy would accept its JSON and shape."""
        try:
            envelope = orjson.loads(glog.payload)
        except orjson.JSONDecodeError as error:
            self.stats["fail_json"] += 1  # legacy counts 2 here (typed + raw.jsonl attempt)
            self.report(record.line, f"invalid envelope JSON: {error}")
            return None
        if not isinstance(envelope, dict):
            self.stats["fail_json"] += 1
            self.report(record.line, "envelope JSON is not an object")
            return None
        unknown = unknown_keys(envelope)
        if unknown:
            self.stats["unknown"] += len(unknown)
            fields = self.state.unknown_fields
            for key in unknown:
                fields[key] = fields.get(key, 0) + 1
        wrong = validate(envelope)
        if wrong is not None:
            self._reject(record, glog, envelope, f"envelope has the wrong shape ({wrong})")
            return None
        return envelope

    def _reject(self, record: Record, glog: GlogLine, envelope: dict[str, Any], message: str) -> None:
        self.stats["fail_json"] += 1
        self.report(record.line, message)
        self._index(record, glog, envelope, "invalid", None, [], None)

    def _intern(self, record: Record, glog: GlogLine, envelope: dict[str, Any]) -> None:
        """A string-table entry; its index sizes the table, so it is capped."""
        string, index = envelope["str"]
        if index > MAX_STRING_INDEX:
            self._reject(record, glog, envelope, f"string table index {index} is above the limit "
                                                 f"{MAX_STRING_INDEX}; entry left out")
            return
        self.state.strings[str(index)] = string

    def _payload(self, record: Record, has_payload: str | None) -> tuple[str, str | None]:
        """The payload text and the md5 of its bytes, checked against `has_payload`; payload
        lines after an envelope that announces none are counted instead."""
        if has_payload is None:
            if record.body_start < len(record.segment):
                self._count_lines(record, "payload line after an envelope without has_payload")
            return "", None
        raw = record.payload()
        try:
            payload = str(raw, "utf-8")
        except UnicodeDecodeError as error:
            self.stats["fail_utf8"] += 1
            self.report(record.line, f"payload is not valid UTF-8 (byte {error.start}); "
                                     "undecodable bytes replaced")
            payload = str(raw, "utf-8", "replace")
        # A match means `has_payload` is 32 hex digits, unless it holds non-ASCII letters.
        md5 = hashlib.md5(raw).hexdigest()
        if md5 != has_payload.lower() or not has_payload.isascii():
            self.stats["fail_payload_md5"] += 1
            self.report(record.line, "payload md5 mismatch (truncated or corrupted payload)")
        return payload, md5

    def _same_rank(self, rank: int | None) -> bool:
        """The first rank seen is this log's; entries of any other rank are set aside."""
        state = self.state
        if not state.rank_detected:
            if rank is not None:
                state.rank_detected, state.expected_rank, state.ranks = True, rank, [rank]
            return True
        return rank == state.expected_rank

    def _where(self, envelope: dict[str, Any], line: int) -> Where:
        """Compile id, directory and group; remembered per id, as a log repeats a few ids."""
        key = (envelope.get("compiled_autograd_id"), envelope.get("frame_id"),
               envelope.get("frame_compile_id"), envelope.get("attempt"))
        # Only None and int parts are remembered: 1, 1.0 and True are equal keys.
        cacheable = set(map(type, key)) <= _ID_PART_TYPES
        where = self._places.get(key) if cacheable else None
        if where is None:
            cid = CompileId.from_envelope(envelope)
            if cid is None:
                self.state.missing_compile_id += 1
                return Where(None, unknown_directory(line), UNKNOWN_GROUP, UNKNOWN_DISPLAY)
            grouped = cid.grouped()
            where = Where(cid, cid.directory, grouped.directory, grouped.display)
            if cacheable:
                self._places[key] = where
        return where

    def _compile_entry(self, where: Where, line: int) -> CompileEntry:
        entries = self.state.compile_ids
        entry = entries.get(where.group)
        if entry is None:
            entry = CompileEntry(where.group, where.display, line)
            entries[where.group] = entry
        return entry

    def _outputs(self, record: Record, envelope: dict[str, Any], directory: str,
                 payload: str) -> list[PlannedOutput]:
        guards_ok = True
        if envelope.get("dynamo_guards") is not None:
            guards_ok = _guards_json_ok(payload)
            if not guards_ok:
                self.stats["fail_dynamo_guards_json"] += 1
                self.report(record.line, "dynamo_guards payload is not a JSON list of guards")
        outputs, errors = self.planner.plan(envelope, directory, payload, guards_ok)
        self.state.counter = self.planner.counter
        for message in errors:
            self.stats["fail_parser"] += 1
            self.report(record.line, message)
        return outputs

    def _summaries(self, record: Record, envelope: dict[str, Any], kind: str, metadata: Any,
                   where: Where, entry: CompileEntry) -> None:
        """Artifact and cache counts, compile outcomes, and the stack tries."""
        state = self.state
        if kind == "artifact" and metadata is not None:
            name = metadata["name"]
            state.artifact_counts[name] = state.artifact_counts.get(name, 0) + 1
            cache = cache_status_of_name(name)
            if cache is not None:
                state.cache.add(cache)
                entry.cache[cache] = entry.cache.get(cache, 0) + 1
        if kind == "compilation_metrics" and metadata is not None:
            if where.cid is not None:
                note_metrics(state.open_starts, where.cid)
                statuses = state.metrics.setdefault(where.cid.metrics_key().directory, [])
                status = metrics_status(metadata)
                if status not in statuses:
                    statuses.append(status)
            state.failures.restarts += len(metadata.get("restart_reasons") or [])
            if metadata.get("fail_type") is not None:
                state.failures.failures += 1
        if envelope.get("stack") is not None:
            # Legacy files every top-level stack as "(unknown)": these entries lack compile context.
            self._insert_stack(record, state.unknown_stack_trie, envelope["stack"], UNKNOWN_GROUP)
        dynamo_start = envelope.get("dynamo_start")
        if dynamo_start is not None and where.cid is not None:
            note_start(state.open_starts, where.cid, record.line)
        if dynamo_start is not None and dynamo_start.get("stack") is not None:
            frames = stacks.strip_convert_frame_suffix(dynamo_start["stack"], state.strings)
            self._insert_stack(record, state.stack_trie, frames,
                               where.directory if where.cid is not None else UNKNOWN_GROUP)

    def _insert_stack(self, record: Record, trie: stacks.StackTrie, frames: list[dict[str, Any]],
                      terminal: str) -> None:
        trie.insert(frames, terminal)
        if len(frames) > stacks.MAX_TRIE_DEPTH:
            self.report(record.line, f"stack of {len(frames)} frames: the stack trie shows its first "
                                     f"{stacks.MAX_TRIE_DEPTH}")

    def _chromium(self, line: int, payload: str, md5_checked: bool) -> None:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            event = _loads_lenient(payload)
            if event is _INVALID:
                if not md5_checked or self.stats["fail_payload_md5"] == 0:
                    self.report(line, "chromium_event payload is not JSON; event dropped")
                return
        try:
            try:
                self.chromium.write(event)
            except RecordTooDeep:
                self._too_deep(line)
                self.chromium.write(limit_depth(event))
        except TypeError as error:  # an integer beyond a double's range, from the lenient reader
            if line != self._cut_line:  # counted once per line, like a cut
                self.stats["fail_json_serialization"] += 1
            self.report(line, f"chromium_event cannot be written ({error}); event dropped")

    def _too_deep(self, line: int) -> None:
        """Counted once per log line, however many store files it reaches."""
        if line != self._cut_line:
            self._cut_line = line
            self.stats["fail_json_serialization"] += 1
            self.report(line, f"JSON nested more than {MAX_RECORD_DEPTH} levels deep; "
                              "the deeper parts are left out of the store")

    def _write_entry(self, record: Record, glog: GlogLine, envelope: dict[str, Any], kind: str,
                     stream: str, directory: str, outputs: list[dict[str, Any]], payload: str,
                     payload_file: str | None) -> None:
        """The entry in its typed stream (envelope fields, metadata, payload, outputs)."""
        entry: dict[str, Any] = {
            "type": kind, "compile_id": directory, "rank": envelope.get("rank"),
            "timestamp": glog.timestamp, "thread": glog.thread, "pathname": glog.pathname,
            "lineno": glog.lineno, "line": record.line,
            "metadata": envelope.get(kind), "outputs": outputs,
        }
        extra = {k: v for k, v in envelope.items()
                 if k != kind and k != "rank" and k != "has_payload" and k not in _CID_KEYS}
        if extra:
            entry["extra"] = extra
        if envelope.get("has_payload") is not None:
            entry["payload"] = payload
        if payload_file is not None and payload_file.startswith("payloads/"):
            entry["payload_file"] = payload_file
        self._write(record.line, stream, entry)

    def _write(self, line: int, stream: str, entry: dict[str, Any]) -> None:
        """Write to a JSONL stream, cutting what nests too deeply for the store's readers."""
        try:
            self.writers[stream].write(entry)
        except RecordTooDeep:
            self._too_deep(line)
            self.writers[stream].write(limit_depth(entry))

    def _index(self, record: Record, glog: GlogLine, envelope: dict[str, Any], status: str,
               directory: str | None, outputs: list[dict[str, Any]], payload_file: str | None,
               kind: str | None = None, payload_md5: str | None = None) -> None:
        """The line in index.jsonl, and its raw.jsonl line."""
        self._raw(record, glog, envelope, payload_file)
        self._write(record.line, "index", {
            "line": record.line, "status": status, "type": kind or envelope_type(envelope) or "empty",
            "compile_id": directory, "outputs": outputs,
            "payload_file": payload_file, "payload_md5": payload_md5,
        })

    def _raw(self, record: Record, glog: GlogLine, envelope: dict[str, Any], payload_file: str | None) -> None:
        """The raw.jsonl line: the envelope plus the glog fields, unless one of them conflicts."""
        conflict = next((k for k in (*RAW_EXTRA_KEYS, "payload_filename") if k in envelope), None)
        if conflict is not None:
            self.stats["fail_key_conflict"] += 1
            self.report(record.line, f"key conflict: '{conflict}' already in the envelope; "
                                     "line left out of raw.jsonl")
            return
        raw = dict(envelope)
        raw.update(timestamp=glog.timestamp, thread=glog.thread, pathname=glog.pathname,
                   lineno=glog.lineno)
        if payload_file is not None:
            raw["payload_filename"] = payload_file
        try:
            line = raw_line(raw)
        except RecordTooDeep:
            self._too_deep(record.line)
            line = raw_line(limit_depth(raw))
        self.raw.write(line)


def _payload_file(planner: OutputPlanner, outputs: list[PlannedOutput], payload: str,
                  has_payload: str | None) -> str | None:
    """The file that shows the payload: its payload output, else `payloads/<md5>.txt`."""
    payload_file = None
    for output in outputs:
        if output.kind in ("payload", "reformat_json"):
            payload_file = output.url
    if payload_file is None and payload:
        payload_file = planner.payload_file(str(has_payload))
    return payload_file


def _loads_lenient(text: str) -> Any:
    """Python's json accepts NaN/Infinity, which torch can emit and orjson refuses."""
    import json

    try:
        return json.loads(text)
    except (ValueError, RecursionError):
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

@dataclass
class Snapshot:
    """The resume point taken before the last record: a growing log may still extend it."""

    offset: int
    state: dict[str, Any]
    streams: dict[str, tuple[int, int]]


#: Records between two looks at whether the log's digests are known (`PrefixCheck.poll`).
POLL_RECORDS = 1024


def parse_log(log: Path, out: Path, options: ParseOptions | None = None,
              stderr: TextIO | None = sys.stderr, progress: Any = None) -> ParseResult:
    """Parse `log` into `out/intermediate/`, resuming when the log has only grown."""
    options = options or ParseOptions()
    idir = intermediate_dir(out)
    make_dir(idir, root=out)  # nothing inside OUT is followed (safepath)
    remove_stale_temps(idir, root=out)
    resume = load_resume(log, idir, options)
    hasher, owned = log_hasher(log, resume.length if resume is not None else 0)
    try:
        if resume is not None:
            try:
                return _parse(log, out, resume, resume.state, hasher, stderr, progress)
            except PrefixChanged:  # replaced by a log at least as long: nothing was committed
                if progress is not None:
                    progress.restart()
        return _parse(log, out, None, ParseState(options), hasher, stderr, progress)
    finally:
        if owned:
            hasher.close()


class PrefixCheck:
    """A parse's look at the log's digests: a resumed one must find that the log still starts
    with the bytes its point was saved after (PrefixChanged otherwise), and holds back what it
    prints until then (what is written to this goes where it may at the time)."""

    def __init__(self, hasher: LogHasher, resume: ResumePoint | None, stderr: TextIO | None) -> None:
        self.hasher = hasher
        self.expected = resume.digest if resume is not None else None
        self.length = resume.length if resume is not None else None
        self.passed = resume is None
        self.target = stderr
        self.held = io.StringIO()
        self.stream: TextIO | None = stderr if self.passed else self.held

    def poll(self) -> None:
        """Check now if the digests are known (the sooner a replaced log is found, the less
        work is thrown away)."""
        if not self.passed and self.hasher.ready():
            self.digests()

    def digests(self) -> LogDigests:
        found = self.hasher.digests(self.length)
        if not self.passed:
            if found.prefix != self.expected:
                raise PrefixChanged()
            self.passed = True
            if self.target is not None:
                self.target.write(self.held.getvalue())
                self.stream = self.target
        return found

    def write(self, text: str) -> int:
        return self.stream.write(text) if self.stream is not None else len(text)

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()


def _parse(log: Path, out: Path, resume: ResumePoint | None, state: ParseState, hasher: LogHasher,
           stderr: TextIO | None, progress: Any) -> ParseResult:
    """One parse from `resume` (None: the start) up to the hashed size. A resumed one commits
    nothing before its prefix is known to be the same."""
    idir = intermediate_dir(out)
    offset = resume.offset if resume is not None else 0
    check = PrefixCheck(hasher, resume, stderr)
    writers = StoreWriters(idir, resume.streams if resume else {}, root=out)
    problems = cast(TextIO, check) if stderr is not None else None
    parser = LogParser(state, writers.streams, writers.chromium, writers.raw,
                       ProblemReporter(str(log), problems, state.problems))
    try:
        with hasher.open() as handle:
            handle.seek(offset)
            snapshot = _parse_records(parser, handle, offset, hasher.size, writers, progress, check)
            if handle.tell() < hasher.size:  # cut after it was hashed: the digests are not of what was read
                raise FsError("cannot read", errno.EIO, f"it got shorter while it was read ({handle.tell():,} of "
                              f"{hasher.size:,} bytes)", log)
        table = orjson.dumps({"string_table": string_table(state.strings)}, option=orjson.OPT_APPEND_NEWLINE)
        writers.close(table)  # the string table is raw.jsonl's first line, as in legacy
        digest = check.digests().whole  # a resumed parse learns here, at the latest, that its prefix matched
    except BaseException:
        writers.abandon()
        raise
    changed = writers.finish(table)
    manifest = build_manifest(log, hasher.size, digest, state, writers.counts())
    if write_bytes(idir / "string_table.json", table, root=out):
        changed.append("string_table.json")
    if write_bytes(idir / "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2), root=out):
        changed.append("manifest.json")
    save_resume(idir, snapshot.offset, hasher.size, digest, snapshot.state, snapshot.streams,
                resume.history if resume else [], root=out)
    if progress is not None:
        progress.close()
    return ParseResult(manifest, resume is not None, changed)


def _parse_records(parser: LogParser, handle: Any, offset: int, end: int, writers: StoreWriters,
                   progress: Any, check: PrefixCheck) -> Snapshot:
    """Process every record from `offset` to `end`; the resume point before the last one."""
    state = parser.state
    start_line = state.line
    pending: Record | None = None
    for count, record in enumerate(RecordReader(handle, offset, state.line, end)):
        if pending is not None:
            _process(parser, pending, progress)
        if count % POLL_RECORDS == 0:
            check.poll()
        pending = record
    if pending is None:
        return Snapshot(offset, {**state.to_json(), "line": start_line}, writers.positions())
    snapshot = Snapshot(pending.offset, {**state.to_json(), "line": pending.line - 1}, writers.positions())
    _process(parser, pending, progress)
    return snapshot


def _process(parser: LogParser, record: Record, progress: Any) -> None:
    parser.process(record)
    parser.state.line = record.end_line
    if progress is not None:
        progress.update_to(record.end_offset)
