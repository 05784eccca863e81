"""recompiles (hybrid): per frame, each recompile with its reasons, on the index.

Two streaming passes. artifacts.jsonl gives the `recompile_reasons` artifacts (one per
recompile; rules/recompile.py splits them into `F/C: why` entries, each naming the cached compile
that failed). guards.jsonl then gives the guards of exactly those failed compiles (the last
attempt that logged them), and only the guards each entry names are kept. Both passes decode
only the lines that can matter (found by their bytes). The manifest's stack trie names each
frame. Memory grows with the recompiles, not with the log.

The first `SHOWN_PER_FRAME` recompiles of the first `SHOWN_FRAMES` frames are on the index; the
rest are written as text shards that load when opened (all inline with --eager).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from ..memo import Memo
from ..module_api import IndexEntry, ModuleContext, ModuleOutput
from ..rules import recompile as recompile_rules
from ..rules.compile_id import CompileId, display_of
from ..rules.recompile import (
    Guard,
    RecompileEntry,
    cpp_guards,
    decode_payload,
    failed_guards,
    json_guards,
    reason_entries,
)
from ..store.reader import open_lines
from .common import metadata_of, output_of
from .kit import Frame
from .stack_trie import read_node

ARTIFACT = "recompile_reasons"
REASONS_NAME = b'"recompile_reasons"'  # ARTIFACT as a JSON line spells it
GUARD_TYPES = ("dynamo_cpp_guards_str", "dynamo_guards")
BLOCK = 1 << 18  # measured: faster than 1 MB blocks (which leave the cache)
GUARD_HEAD = re.compile(rb'\{"type":"(?:dynamo_cpp_guards_str|dynamo_guards)","compile_id":"([^"\\]*)"')
SHOWN_PER_FRAME = 5
SHOWN_FRAMES = 20
FrameKey = tuple[int | None, int | None]  # (compiled autograd id, frame id)
CompileKey = tuple[int | None, int | None, int | None]  # … and frame compile id
ORDER = -5  # on the first screen: after notices (-10), before the stack trie (0)


@dataclass
class GuardCheck:
    """The guards of the failed compile that a reason names, and where they are logged."""

    display: str  # the compile whose guards these are, e.g. [3/0_1]
    url: str | None
    guards: list[Guard]


@dataclass
class EntryView:
    """One `F/C: why` of a recompile."""

    failed: str  # `[3/0]`, or "" when the reason does not say
    text: str
    check: GuardCheck | None = None


@dataclass
class RecompileView:
    """One recompile: its compile id and reasons."""

    display: str
    reason_url: str | None
    entries: list[EntryView]
    line: int

    @property
    def anchor(self) -> str:
        return f"#{self.display}"


@dataclass
class FrameView:
    """The recompiles of one frame (frame id, compiled autograd id)."""

    label: str
    frame: Frame | None
    recompiles: list[RecompileView] = field(default_factory=list)
    more_shard: str = ""
    more_inline: bool = False  # eager: every recompile inline

    @property
    def shown(self) -> list[RecompileView]:
        return self.recompiles if not self.more_shard else self.recompiles[:SHOWN_PER_FRAME]

    @property
    def hidden(self) -> int:
        return len(self.recompiles) - len(self.shown)


@dataclass
class RecompilesView:
    """The recompiles section: every frame's recompiles, the first frames on the index."""

    total: int
    frames: list[FrameView]
    more_frames: int = 0
    more_frames_shard: str = ""
    module_id: str = ""


def frame_label(key: FrameKey) -> str:
    autograd, frame = key
    text = f"Frame {'-' if frame is None else frame}"
    return text if autograd is None else f"{text} (compiled autograd {autograd})"


def entry_view(entry: RecompileEntry, autograd: int | None) -> EntryView:
    failed = ""
    if entry.frame is not None:
        failed = CompileId(autograd, entry.frame, entry.compile, None).display
    return EntryView(failed, entry.text)


def collect(records: Any) -> dict[FrameKey, FrameView]:
    """Pass 1: the recompiles of each frame, in log order."""
    frames: dict[FrameKey, FrameView] = {}
    for record in records:
        if metadata_of(record).get("name") != ARTIFACT:
            continue
        directory = str(record.get("compile_id"))
        cid = CompileId.from_directory(directory)
        key: FrameKey = (cid.compiled_autograd_id, cid.frame_id) if cid else (None, None)
        autograd = cid.compiled_autograd_id if cid else None
        entries = [entry_view(e, autograd) for e in reason_entries(decode_payload(str(record.get("payload") or "")))]
        output = output_of(record, "artifact")
        view = frames.setdefault(key, FrameView(frame_label(key), None))
        view.recompiles.append(RecompileView(display_of(directory), output["url"] if output else None,
                                             entries, int(record.get("line") or 0)))
    return frames


def failed_compile(view: EntryView, autograd: int | None) -> CompileKey | None:
    cid = _display_key(view.failed)
    return None if cid is None else (autograd, cid[0], cid[1])


def _display_key(display: str) -> tuple[int, int] | None:
    """`[3/0]` or `[!1/3/0]` → (3, 0)."""
    frame, _, compile_ = display.strip("[]").rpartition("/")
    frame = frame.rpartition("/")[2]
    return (int(frame), int(compile_)) if frame.isdigit() and compile_.isdigit() else None


def guards_of(record: dict[str, Any]) -> list[Guard]:
    payload = str(record.get("payload") or "")
    if record["type"] == "dynamo_cpp_guards_str":
        return list(cpp_guards(payload))
    try:
        return list(json_guards(orjson.loads(payload)))
    except orjson.JSONDecodeError:
        return []


Needing = list[tuple[EntryView, RecompileEntry]]  # the reasons naming one failed compile


def wanted_compiles(frames: dict[FrameKey, FrameView]) -> dict[CompileKey, Needing]:
    """The compiles that reasons say failed, each with the reasons that name it."""
    wanted: dict[CompileKey, Needing] = {}
    for (autograd, _frame), view in frames.items():
        for recompile in view.recompiles:
            for entry in recompile.entries:
                key = failed_compile(entry, autograd)
                parsed = _display_key(entry.failed)
                if key is not None and parsed is not None:
                    wanted.setdefault(key, []).append((entry, RecompileEntry(parsed[0], parsed[1], entry.text)))
    return wanted


def compile_key(directory: str) -> CompileKey | None:
    cid = CompileId.from_directory(directory)
    return None if cid is None else (cid.compiled_autograd_id, cid.frame_id, cid.frame_compile_id)


def attach_guards(wanted: dict[CompileKey, Needing], records: Iterable[tuple[bytes, dict[str, Any]]],
                  memo: Memo | None = None) -> None:
    """Pass 2: for each reason, the guards it names among those of the compile that failed: of
    the last attempt that logged guards the reason names, else of the last attempt that logged
    any. The attempts are kept per failed compile and tried from the last, so an earlier one's
    guards are read only when the later ones name none. `records` are guards.jsonl's lines with
    their records; with a `memo`, the checks of a failed compile whose reasons and attempts'
    lines are those of the last run are kept, not worked out again (most guards to parse)."""
    if not wanted:
        return
    logged: dict[CompileKey, list[tuple[bytes, dict[str, Any]]]] = {}
    for line, record in records:
        if record.get("type") not in GUARD_TYPES:
            continue
        key = compile_key(str(record.get("compile_id")))
        if key is not None and key in wanted:
            logged.setdefault(key, []).append((line, record))
    for key, attempts in logged.items():
        needing = wanted[key]

        def checks(attempts: list[tuple[bytes, dict[str, Any]]] = attempts,
                   needing: Needing = needing) -> list[dict[str, Any]]:
            guards: dict[int, list[Guard]] = {}  # an attempt's guards, read once
            records = [record for _, record in attempts]
            return [check_json(last_check(reason, records, guards)) for _, reason in needing]

        if memo is None:
            found = checks()
        else:
            inputs = ([[r.frame, r.compile, r.text] for _, r in needing],
                      [hashlib.blake2b(line, digest_size=16).hexdigest() for line, _ in attempts])
            found = memo.get(inputs, checks, partial(are_checks, len(needing)))
        for (shown, _), check in zip(needing, found, strict=True):
            shown.check = check_from_json(check)


def check_json(check: GuardCheck) -> dict[str, Any]:
    return {"display": check.display, "url": check.url,
            "guards": [[g.kind, g.code, g.comment, g.manager] for g in check.guards]}


def are_checks(count: int, value: Any) -> bool:
    """Whether a kept result is `count` checks as `check_json` writes them."""
    return isinstance(value, list) and len(value) == count and all(
        isinstance(check, dict) and isinstance(check.get("display"), str)
        and isinstance(check.get("url"), (str, type(None))) and isinstance(check.get("guards"), list)
        and all(isinstance(g, list) and len(g) == 4 and all(isinstance(part, str) for part in g[:3])
                and isinstance(g[3], bool) for g in check["guards"])
        for check in value)


def check_from_json(data: dict[str, Any]) -> GuardCheck:
    return GuardCheck(data["display"], data["url"], [Guard(*guard) for guard in data["guards"]])


def last_check(reason: RecompileEntry, attempts: list[dict[str, Any]], guards: dict[int, list[Guard]]) -> GuardCheck:
    """The check of the last attempt whose guards `reason` names; the last attempt's if none."""
    last: GuardCheck | None = None
    for number in range(len(attempts) - 1, -1, -1):
        record = attempts[number]
        if number not in guards:
            guards[number] = guards_of(record)
        output = output_of(record)
        check = GuardCheck(display_of(str(record["compile_id"])), output["url"] if output else None,
                           failed_guards(reason, guards[number]))
        if check.guards:
            return check
        last = last or check
    assert last is not None, "a failed compile is kept with at least one attempt"
    return last


def reason_records(path: Path, block: int = BLOCK) -> Iterator[dict[str, Any]]:
    """The records of artifacts.jsonl that may be recompile reasons: a line is decoded only when
    it holds the artifact's name (as JSON writes it; `collect` checks the record)."""
    for line in lines_holding(path, REASONS_NAME, block):
        yield orjson.loads(line)


def lines_holding(path: Path, needle: bytes, block: int = BLOCK) -> Iterator[bytes]:
    """The lines of a file that hold `needle` (no newline in it), in order. Found with
    `bytes.find` in blocks cut after a newline: the artifacts are a few thousand long lines, and
    iterating them in Python cost more than finding the few that matter."""
    rest = b""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(block)
            data = rest + chunk if rest else chunk
            end = data.rfind(b"\n") + 1 if chunk else len(data)
            at = data.find(needle, 0, end)
            while at >= 0:
                stop = data.find(b"\n", at, end)
                stop = end if stop < 0 else stop
                yield data[data.rfind(b"\n", 0, at) + 1:stop]
                at = data.find(needle, stop, end)
            if not chunk:
                return
            rest = data[end:]


def guard_records(path: Path, wanted: dict[CompileKey, Needing]) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """The records of guards.jsonl that may be guards of a failed compile (`attach_guards`
    checks each): a line is decoded only when it names a guard type and, when it starts as the
    store writes records (`{"type":…,"compile_id":…`), its compile id is one of them. Most of
    the file is guards of compiles that no recompile failed, and shape-environment entries.
    Each comes with its line (`attach_guards` keeps results by it)."""
    if not wanted:
        return
    kinds = tuple(f'"{kind}"'.encode() for kind in GUARD_TYPES)
    with open_lines(path) as handle:
        for line in handle:
            if not any(kind in line for kind in kinds):
                continue
            head = GUARD_HEAD.match(line)
            if head is not None and compile_key(head[1].decode()) not in wanted:
                continue
            yield line, orjson.loads(line)


def frame_names(manifest: dict[str, Any]) -> dict[FrameKey, Frame]:
    """The frame each compile's stack ends in (the stack trie's terminals), by frame key."""
    names: dict[FrameKey, Frame] = {}
    work = [manifest.get("stack_trie") or {}]
    while work:
        node = read_node(work.pop())
        for directory in node.terminals:
            cid = CompileId.from_directory(str(directory))
            if cid is not None:
                names.setdefault((cid.compiled_autograd_id, cid.frame_id), node.frame)
        work.extend(node.children)
    return names


def hidden_text(recompiles: list[RecompileView]) -> str:
    """Recompiles past the first few of a frame, as plain text for the `text` renderer."""
    parts = []
    for recompile in recompiles:
        lines = [f"{recompile.display}"]
        for entry in recompile.entries:
            head = f"  {entry.failed} failed: " if entry.failed else "  "
            lines.append(head + entry.text.replace("\n", "\n    "))
            if entry.check is not None:
                for guard in entry.check.guards:
                    lines.append(f"    failed guard of {entry.check.display}: {guard_text(guard)}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def guard_text(guard: Guard) -> str:
    if guard.manager:
        return f"{guard.kind} of {guard.code}"
    return f"{guard.kind}: {guard.code}" if guard.kind else guard.code


def build_view(ctx: ModuleContext, frames: dict[FrameKey, FrameView]) -> RecompilesView:
    """Frames with the most recompiles first; long lists deferred unless eager."""
    names = frame_names(ctx.manifest)
    ordered = sorted(frames.items(), key=lambda item: (-len(item[1].recompiles), item[1].recompiles[0].line))
    views = []
    for key, view in ordered:
        view.frame = names.get(key)
        views.append(view)
    total = sum(len(v.recompiles) for v in views)
    result = RecompilesView(total, views, module_id=ctx.module_id)
    if not ctx.lazy:
        return result
    for number, view in enumerate(views[:SHOWN_FRAMES]):
        if len(view.recompiles) > SHOWN_PER_FRAME:
            view.more_shard = f"frame-{number}"
            ctx.write_shard(view.more_shard, hidden_text(view.recompiles[SHOWN_PER_FRAME:]))
    if len(views) > SHOWN_FRAMES:
        rest = views[SHOWN_FRAMES:]
        result.frames = views[:SHOWN_FRAMES]
        result.more_frames = len(rest)
        result.more_frames_shard = "frames"
        ctx.write_shard("frames", "\n\n".join(f"{v.label}{frame_suffix(v.frame)}\n" + hidden_text(v.recompiles)
                                              for v in rest))
    return result


def frame_suffix(frame: Frame | None) -> str:
    return "" if frame is None else f": {frame.name} at {frame.location}"


def render(ctx: ModuleContext) -> ModuleOutput:
    """The recompiles section of the index."""
    frames = collect(reason_records(ctx.store.path("artifacts.jsonl")))
    wanted = wanted_compiles(frames)
    memo = Memo(ctx, "checks", helpers=(recompile_rules,))
    attach_guards(wanted, guard_records(ctx.store.path("guards.jsonl"), wanted), memo)
    memo.save()
    view = build_view(ctx, frames)
    html = ctx.render("recompiles.html", view=view)
    entry = IndexEntry(section="recompiles", title="Recompiles", html=html, order=ORDER)
    return ModuleOutput(index_entries=[entry])
