"""A module state at the parse's resume point, for modules whose files for a record depend on
that record and those before it (compile_artifacts, cache, compilation_metrics): after the log
grew, the records before the point are not read again, and the files and units they made carry
over.

The module reads each stream through `RecordState.records`, which yields the records the saved
state does not cover (from where it stopped up to the point, then the rest), replays the files
and units of those it covers first, in the order they were written, and notes what the records
up to the point wrote. A module that merges several streams by log line (compilation_metrics)
reads them together through `RecordState.spans`, which gives the byte spans to read instead:
the streams' records before the point are exactly those of the log lines before it.

What else the module keeps across records (pages still being filled) it hands over at the point
(`at_point`), taken as JSON there and then, and gets back with `extra`. `save(late)` then writes
the state (`.modules/<module>.state`); `late` is what the module worked out after the point from
the records up to it alone (cache: the values its second pass read for the misses before the
point), and comes back as `late`.

A report updated from a state equals a fresh one file for file, the state included: the state is
made from the records up to the point alone. It is used only with the same key (the module's
fingerprint and the run's options) while the parse's history holds its point
(store/stable.py), while every file it lists is still there and, for a module that resolves
file names through the intern table, while the table resolves every index as it did
(`StringTable.keeps`); else the module reads everything.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .module_api import ModuleContext, Unit
from .safepath import plain_parts
from .store.stable import StablePoint, stable_point

if TYPE_CHECKING:
    from .modules.common import StringTable

FORMAT = 2
MERGED = "*"  # the part of the streams read together (`spans`)


@dataclass
class StreamPart:
    """What the records of a stream (or of streams read together) up to the point made: the
    bytes read of each stream, the files in the order they were written, the units (key →
    digest and files)."""

    sizes: dict[str, int]
    files: list[str]
    units: dict[str, Unit]

    def to_json(self) -> dict[str, Any]:
        return {"sizes": self.sizes, "files": self.files,
                "units": {k: {"digest": u.digest, "files": list(u.files)} for k, u in self.units.items()}}

    @staticmethod
    def from_json(data: dict[str, Any]) -> StreamPart:
        units = {str(k): Unit(str(u["digest"]), [str(f) for f in u["files"]]) for k, u in data["units"].items()}
        return StreamPart({str(k): int(v) for k, v in data["sizes"].items()}, [str(f) for f in data["files"]], units)


Spans = dict[str, tuple[int, int | None]]  # stream → (start, stop) byte offsets; None: to the end


#: Names in one folder from which one listing of it is cheaper than a stat of each (measured:
#: a listing ~19 µs, a stat ~2 µs).
LIST_FOLDER_FROM = 10


def all_files(root: str, relatives: Iterable[str]) -> bool:
    """Whether every path (plain, relative to `root`) is a regular file, followed as
    Path.is_file does. A state counts thousands of files in a few hundred folders: a folder
    holding many of them is listed once, the others' files are looked at one by one."""
    by_folder: dict[str, set[str]] = {}
    for relative in relatives:
        folder, _, name = relative.rpartition("/")
        by_folder.setdefault(folder, set()).add(name)
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return all(_folder_has_files(root, root_fd, folder, names) for folder, names in by_folder.items())
    finally:
        os.close(root_fd)


def _folder_has_files(root: str, root_fd: int, folder: str, names: set[str]) -> bool:
    try:
        if len(names) < LIST_FOLDER_FROM:
            prefix = f"{folder}/" if folder else ""
            return all(stat.S_ISREG(os.stat(prefix + name, dir_fd=root_fd).st_mode) for name in names)
        with os.scandir(os.path.join(root, folder) if folder else root) as entries:
            return sum(1 for entry in entries if entry.name in names and entry.is_file()) == len(names)
    except (OSError, ValueError):
        return False


def tuple_as_array(value: Any) -> list[Any]:
    """orjson writes a tuple but not a subclass of one: a NamedTuple the module kept is an array."""
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class RecordState:
    """One run's view of the module's state: the saved one if it holds, and the new one."""

    def __init__(self, ctx: ModuleContext, streams: tuple[str, ...], strings: StringTable | None = None) -> None:
        self.ctx = ctx
        self.streams = streams
        self.strings = strings  # the intern table the module resolves file names with, if it does
        self.point: StablePoint | None = stable_point(ctx.store)
        self.key = {"format": FORMAT, "fingerprint": ctx.fingerprint, "run": ctx.run, "streams": list(streams)}
        self.saved: dict[str, StreamPart] = {}
        self.extra: Any = None  # what the module handed over at the saved point
        self.late: Any = None  # and what it saved with it at the end
        self.parts: dict[str, dict[str, Any]] = {}  # the new state's parts, as JSON when made
        self.handed: bytes | None = None  # the JSON of what the module hands over at the point
        if self.point is not None:
            self._load(self.point)

    @property
    def path(self) -> str:
        return f".modules/{self.ctx.module_id}.state"

    def _load(self, point: StablePoint) -> None:
        raw = self.ctx.read_own(self.path)
        if raw is None:
            return
        try:
            data = orjson.loads(raw)
            if data["key"] != self.key:
                return
            if self.strings is not None and not self.strings.keeps(data["strings"]):
                return
            parts = {name: StreamPart.from_json(part) for name, part in data["parts"].items()}
            if set(parts) not in ({MERGED}, set(self.streams)) or not all(
                    set(part.sizes) <= set(self.streams) and point.continues(data["point"], part.sizes)
                    for part in parts.values()):
                return
            for part in parts.values():  # plain paths inside OUT only (ValueError otherwise)
                for relative in (*part.files, *(f for unit in part.units.values() for f in unit.files)):
                    plain_parts(relative)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError):
            return
        if not all_files(os.fspath(self.ctx.out), (f for part in parts.values() for f in part.files)):
            return  # a file it counts on is gone: a fresh build would write it
        self.saved, self.extra, self.late = parts, data.get("extra"), data.get("late")
        if self.strings is not None:  # the records not read again missed these
            self.strings.missed.update(str(key) for key in data["strings"]["missed"])

    def _replay(self, name: str) -> StreamPart | None:
        """Bring back the files and units of the records the saved part `name` covers."""
        part = self.saved.get(name)
        if part is not None:
            ctx = self.ctx
            ctx.end_unit()
            ctx.units.update(part.units)
            ctx.written.extend(part.files)
        return part

    def _note(self, name: str, part: StreamPart | None, sizes: dict[str, int], written: int, units: dict[str, Unit],
              at_point: Callable[[], Any] | None) -> None:
        """What the records up to the point made, on top of the saved part."""
        ctx = self.ctx
        # units started since, a key met again included (two records making one file)
        new_units = {k: u for k, u in ctx.units.items() if units.get(k) is not u}
        self.parts[name] = StreamPart(sizes, [*(part.files if part else ()), *ctx.written[written:]],
                                      {**(part.units if part else {}), **new_units}).to_json()
        if at_point is not None:  # as JSON at once: the module goes on changing what it handed
            self.handed = orjson.dumps(at_point(), default=tuple_as_array)

    def records(self, stream: str, at_point: Callable[[], Any] | None = None,
                keep: Callable[[bytes], bool] | None = None) -> Iterator[dict[str, Any]]:
        """The stream's records to read (see the module docstring); `at_point` is called when
        those up to the point are read, and what it returns is saved as `extra`. `keep`:
        read_jsonl's (the lines to parse)."""
        part = self._replay(stream)
        start = part.sizes.get(stream, 0) if part else 0
        if self.point is not None:
            stop = self.point.sizes.get(stream, 0)
            written, units = len(self.ctx.written), dict(self.ctx.units)
            yield from self.ctx.read_jsonl(stream, keep, start=start, stop=stop)
            self._note(stream, part, {stream: stop}, written, units, at_point)
            start = stop
        yield from self.ctx.read_jsonl(stream, keep, start=start)

    def spans(self, at_point: Callable[[], Any] | None = None) -> Iterator[Spans]:
        """The byte spans of all the streams to read together, at most twice: up to the point
        (unless the saved state covers it), then the rest. Read each span whole before asking
        for the next: `at_point` is called in between (see `records`)."""
        part = self._replay(MERGED)
        starts = {stream: part.sizes.get(stream, 0) if part else 0 for stream in self.streams}
        if self.point is not None:
            stops = {stream: self.point.sizes.get(stream, 0) for stream in self.streams}
            written, units = len(self.ctx.written), dict(self.ctx.units)
            if starts != stops:
                yield {stream: (starts[stream], stops[stream]) for stream in self.streams}
            self._note(MERGED, part, stops, written, units, at_point)
            starts = stops
        yield {stream: (starts[stream], None) for stream in self.streams}

    def save(self, late: Any = None) -> None:
        """Write the new state (none when the parse saved no point), with `late` (see the
        module docstring). What the module handed over is written as taken, not copied into one
        more buffer: it is most of the state."""
        if self.point is None or set(self.parts) not in ({MERGED}, set(self.streams)):
            return
        self.ctx.end_unit()
        head = orjson.dumps({"key": self.key, "point": [self.point.offset, self.point.digest],
                             "parts": {name: self.parts[name] for name in (MERGED, *self.streams)
                                       if name in self.parts},
                             # every index not found so far, after the point too: at worst a
                             # state is dropped that would have held
                             "strings": self.strings.to_json() if self.strings is not None else None})
        self.ctx.write_chunks(self.path, [head[:-1], b',"extra":', self.handed or b"null",
                                          b',"late":', orjson.dumps(late, default=tuple_as_array), b"}"])
