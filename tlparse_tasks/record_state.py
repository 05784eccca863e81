"""A module state at the parse's resume point, for modules whose files for a record depend on
that record alone (compile_artifacts): after the log grew, the records before the point are not
read again, and the files and units they made carry over.

The module reads each stream through `RecordState.records`, which yields the records the saved
state does not cover (from where it stopped up to the point, then the rest), replays the files
and units of those it covers first, in the order they were written, and notes what the records
up to the point wrote. What else the module keeps across records (pages still being filled) it
hands over at the point (`at_point`) and gets back with `extra`. `save()` then writes the state
(`.modules/<module>.state`).

A report updated from a state equals a fresh one file for file, the state included: the state is
made from the records up to the point alone. It is used only with the same key (the module's
fingerprint and the run's options) while the parse's history holds its point
(store/stable.py) and while every file it lists is still there; else the module reads everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from .module_api import ModuleContext, Unit
from .safepath import inside
from .store.stable import StablePoint, stable_point

FORMAT = 1


@dataclass
class StreamPart:
    """What a stream's records up to the point made: the bytes read, the files in the order they
    were written, the units (key → digest and files)."""

    size: int
    files: list[str]
    units: dict[str, Unit]

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "files": self.files, "units": {k: asdict(u) for k, u in self.units.items()}}

    @staticmethod
    def from_json(data: dict[str, Any]) -> StreamPart:
        units = {str(k): Unit(str(u["digest"]), [str(f) for f in u["files"]]) for k, u in data["units"].items()}
        return StreamPart(int(data["size"]), [str(f) for f in data["files"]], units)


class RecordState:
    """One run's view of the module's state: the saved one if it holds, and the new one."""

    def __init__(self, ctx: ModuleContext, streams: tuple[str, ...]) -> None:
        self.ctx = ctx
        self.streams = streams
        self.point: StablePoint | None = stable_point(ctx.store)
        self.key = {"format": FORMAT, "fingerprint": ctx.fingerprint, "run": ctx.run, "streams": list(streams)}
        self.saved: dict[str, StreamPart] = {}
        self.extra: Any = None  # what the module handed over at the saved point
        self.parts: dict[str, dict[str, Any]] = {}  # the new state's parts, as JSON when made
        self.handed: Any = None
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
            parts = {stream: StreamPart.from_json(data["parts"][stream]) for stream in self.streams}
            if not point.continues(data["point"], {stream: part.size for stream, part in parts.items()}):
                return
            for part in parts.values():  # plain paths inside OUT only (ValueError otherwise)
                for relative in (*part.files, *(f for unit in part.units.values() for f in unit.files)):
                    inside(self.ctx.out, relative)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError):
            return
        if not all((self.ctx.out / f).is_file() for part in parts.values() for f in part.files):
            return  # a file it counts on is gone: a fresh build would write it
        self.saved, self.extra = parts, data.get("extra")

    def records(self, stream: str, at_point: Callable[[], Any] | None = None) -> Iterator[dict[str, Any]]:
        """The stream's records to read (see the module docstring); `at_point` is called when
        those up to the point are read, and what it returns is saved as `extra`."""
        ctx = self.ctx
        start = 0
        part = self.saved.get(stream)
        if part is not None:
            ctx.end_unit()
            ctx.units.update(part.units)
            ctx.written.extend(part.files)
            start = part.size
        if self.point is not None:
            stop = self.point.sizes.get(stream, 0)
            written, units = len(ctx.written), set(ctx.units)
            yield from ctx.read_jsonl(stream, start=start, stop=stop)
            new_units = {k: u for k, u in ctx.units.items() if k not in units}
            self.parts[stream] = StreamPart(stop, [*(part.files if part else ()), *ctx.written[written:]],
                                            {**(part.units if part else {}), **new_units}).to_json()
            if at_point is not None:
                self.handed = at_point()
            start = stop
        yield from ctx.read_jsonl(stream, start=start)

    def save(self) -> None:
        """Write the new state (none when the parse saved no point)."""
        if self.point is None or set(self.parts) != set(self.streams):
            return
        self.ctx.end_unit()
        data = {"key": self.key, "point": [self.point.offset, self.point.digest],
                "parts": {stream: self.parts[stream] for stream in self.streams}, "extra": self.handed}
        self.ctx.write_bytes(self.path, orjson.dumps(data))
