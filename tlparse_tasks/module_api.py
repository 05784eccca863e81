"""What a report module receives (ModuleContext) and returns (ModuleOutput).

A module is a function `render(ctx) -> ModuleOutput`. It reads only the intermediate files it
subscribes to, writes files only through the context (which keeps them inside OUT, atomic
and change-only), and describes what the index page should show; `assemble` reads nothing
else.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .atomic import DirCache, SafeDir, link_or_copy, write_bytes, write_chunks
from .rules.urls import report_href
from .safepath import inside
from .store.reader import StoreReader

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

SECTION_KINDS = ("html", "hybrid")
RECORDS_DIR = ".modules"


def record_path(out: Path, module_id: str) -> Path:
    """Where a module records what it wrote (`assemble`, `doit clean` and re-runs read it)."""
    return out / RECORDS_DIR / f"{module_id}.json"


@dataclass
class IndexEntry:
    """A block of the index page.

    kind: `html` (rendered markup) or `hybrid` (an html summary plus a shard that modules.js
    loads and renders with `renderer` when the reader opens it).
    """

    section: str
    title: str
    kind: str = "html"
    html: str = ""
    shard: str = ""
    shard_module: str = ""
    renderer: str = ""
    order: int = 0  # page position: lower first; notices < 0 < main content < 90 diagnostics


def listed_file(url: str | None, name: str, number: int | None, suffix: str = "",
                readable_url: str | None = None, external: bool = False) -> dict[str, Any]:
    """One item of a file list, as the `artifacts` renderer (modules.js) and the
    `artifact_list.html` macro both show it. A report file's path (`url` unless `external`,
    and `readable_url`) is percent-encoded here, once, so both show the same working link."""
    if url and not external:
        url = report_href(url)
    if readable_url:
        readable_url = report_href(readable_url)
    return {"url": url, "name": name, "number": number, "suffix": suffix,
            "readable_url": readable_url, "external": external}


@dataclass
class ModuleOutput:
    """What a module made: its files (also those it did not list: the context adds every write)
    and its blocks on the index page."""

    files: list[str] = field(default_factory=list)
    index_entries: list[IndexEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Unit:
    """A slice of a module's work (one compile id, one page) that a re-run may skip.

    `digest` covers exactly the data the slice's templates saw; `files` are what it wrote.
    """

    digest: str
    files: list[str] = field(default_factory=list)


@dataclass
class ModuleContext:
    """What one module's run sees and may do: its options, the run's, its subscriptions and
    templates, and writes kept inside OUT (see the module docstring)."""

    module_id: str
    out: Path
    options: dict[str, Any]
    run: dict[str, Any]
    template_dirs: list[str]
    templates: tuple[str, ...] | None = None  # those declared in modules.yaml (None: any)
    subscriptions: tuple[str, ...] | None = None  # those declared in modules.yaml (None: any)
    strategy: str = "eager"
    fingerprint: str = ""  # the task's own digest (code, templates, options): salts unit digests
    written: list[str] = field(default_factory=list)
    units: dict[str, Unit] = field(default_factory=dict)
    _unit: Unit | None = None

    @property
    def lazy(self) -> bool:
        """Defer costly rendering to the browser: a lazy or hybrid module, unless `--eager`."""
        return self.strategy in ("lazy", "hybrid") and not self.eager

    @functools.cached_property
    def previous_units(self) -> dict[str, Unit]:
        """The units the last run of this module recorded (none when its record is unreadable)."""
        try:
            record = orjson.loads(record_path(self.out, self.module_id).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        units = record.get("units") if isinstance(record, dict) else None
        if not isinstance(units, dict):
            return {}
        return {key: Unit(str(u.get("digest")), [str(f) for f in u.get("files", ())])
                for key, u in units.items() if isinstance(u, dict)}

    def unit(self, key: str, data: Any) -> bool:
        """Start the unit `key` whose templates will see `data`; True when it must be rendered.

        When the last run rendered the same data with the same code and its files are still
        there, the files carry over and the caller skips the work (returns False). Otherwise
        every write until the next `unit()` or `end_unit()` call is attributed to this unit, so
        a module calls `end_unit()` after rendering one before it writes files of its own: a
        skipped unit gets none of them, and an updated report must record what a fresh one does.
        """
        digest = unit_digest(self.fingerprint, data)
        previous = self._previous(key)
        if self._carries_over(previous, digest):
            assert previous is not None
            self.units[key] = previous
            self.written.extend(previous.files)
            self._unit = None
            return False
        self._unit = self.units[key] = Unit(digest)
        return True

    def unit_is_current(self, key: str, data: Any) -> bool:
        """Whether `unit(key, data)` would carry the last run's files over (it changes nothing):
        a module that cannot render a unit again from what it holds asks first."""
        return self._carries_over(self._previous(key), unit_digest(self.fingerprint, data))

    def _previous(self, key: str) -> Unit | None:
        """The last run's unit `key`, unless this run has had a unit `key` already: two
        records may make the same file (a dump_file logged twice), and the later one's files
        must be written again over what the earlier one wrote in this run."""
        return None if key in self.units else self.previous_units.get(key)

    def _carries_over(self, previous: Unit | None, digest: str) -> bool:
        return previous is not None and previous.digest == digest and all(
            (self.out / f).is_file() for f in previous.files)

    @functools.cached_property
    def dirs(self) -> DirCache:
        """The folders this module writes into, kept open while it runs (`close()`)."""
        return DirCache(self.out)

    def close(self) -> None:
        """Close what the module's writes kept open (run_module calls this when it ends)."""
        if "dirs" in self.__dict__:
            self.dirs.close()

    @functools.cached_property
    def store(self) -> StoreReader:
        """The intermediate store, limited to this module's subscriptions."""
        return StoreReader(self.out, self.module_id, self.subscriptions)

    @property
    def eager(self) -> bool:
        """`--eager`: everything rendered statically, readable without JavaScript."""
        return bool(self.run.get("eager"))

    @property
    def manifest(self) -> dict[str, Any]:
        return self.store.manifest

    def read_json(self, name: str) -> Any:
        return self.store.read_json(name)

    def read_jsonl(self, name: str, keep: Callable[[bytes], bool] | None = None, start: int = 0,
                   stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Stream the records of a subscribed JSONL file (only the lines `keep` keeps, between
        byte offsets `start` and `stop`: StoreReader.read_jsonl)."""
        return self.store.read_jsonl(name, keep, start, stop)

    def end_unit(self) -> None:
        """Writes from here on belong to the module as a whole, not to the last unit."""
        self._unit = None

    def render(self, template: str, **data: Any) -> str:
        """Render a template the module declared: undeclared ones would not be file_deps, and
        editing them would leave stale pages."""
        return self._template(template, "renders").render(**data)

    def macro(self, template: str, name: str) -> Callable[..., Markup]:
        """A macro of a template the module declared, to call from Python: a module rendering
        the same part on many pages (a stack, a table row) renders it once and keeps the
        output by value, and its page template puts the pieces in place."""
        macro: Callable[..., Markup] = getattr(self._template(template, "uses").module, name)
        return macro

    def _template(self, template: str, verb: str) -> jinja2.Template:
        if self.templates is not None and template not in self.templates:
            raise ValueError(f"module {self.module_id} {verb} {template}, which modules.yaml does not declare")
        from .render import jinja_env  # Jinja loads only in processes that render

        return jinja_env(tuple(self.template_dirs)).get_template(template)

    def write_bytes(self, relative: str, data: bytes) -> str:
        """Write a report file at `relative` (inside OUT only, never through a symbolic link:
        see atomic.py) and remember it."""
        write_bytes(inside(self.out, relative), data, root=self.out, dirs=self.dirs)
        self._wrote(relative)
        return relative

    def read_own(self, relative: str) -> bytes | None:
        """A file of OUT a module wrote itself (a state it keeps between runs), read without
        following a link; None when it is missing, not a regular file or unreadable."""
        try:
            path = inside(self.out, relative)
            with SafeDir(self.out, path.parent, create=False) as directory, \
                    directory.open_read(path.name) as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    return None
                return handle.read()
        except (OSError, ValueError):
            return None

    def write_chunks(self, relative: str, chunks: Iterable[bytes]) -> str:
        """Stream a large file (inside OUT only) without holding it in memory."""
        write_chunks(inside(self.out, relative), chunks, root=self.out, dirs=self.dirs)
        self._wrote(relative)
        return relative

    def write_static(self, relative: str, name: str) -> str:
        """Copy a static asset (`static/x.js`, declared in the module's templates, so editing it
        re-runs the module) from the template folders, a custom one first, to `relative`."""
        for directory in self.template_dirs:
            path = Path(directory) / name
            if path.is_file():
                return self.write_bytes(relative, path.read_bytes())
        raise FileNotFoundError(f"{name} is missing from the template folders")

    def link_file(self, relative: str, source: Path) -> str:
        """Put `source` (a store file, the log) at `relative` as a hard link where possible:
        the same bytes are not stored twice."""
        link_or_copy(source, inside(self.out, relative), root=self.out)
        self._wrote(relative)
        return relative

    def _wrote(self, relative: str) -> None:
        self.written.append(relative)
        if self._unit is not None:
            self._unit.files.append(relative)

    def record(self, output: ModuleOutput, spec: dict[str, Any], version: str) -> dict[str, Any]:
        """`OUT/.modules/<id>.json`: the module, every file it wrote, its index blocks, its units."""
        files = list(dict.fromkeys([*output.files, *self.written]))
        return {"module": spec, "tool_version": version, "files": files,
                "index_entries": [asdict(e) for e in output.index_entries],
                "units": {k: asdict(u) for k, u in sorted(self.units.items())}}

    def write_text(self, relative: str, text: str) -> str:
        return self.write_bytes(relative, text.encode("utf-8", "surrogateescape"))

    def write_shard(self, shard: str, data: Any) -> str:
        """A lazy-data file `data/<module>/<shard>.js` that registers `data` with modules.js."""
        relative = f"data/{self.module_id}/{shard}.js"
        self.write_bytes(relative, shard_script(self.module_id, shard, data))
        return relative


def unit_digest(fingerprint: str, data: Any) -> str:
    """A digest of what a unit's templates see (dataclasses, dicts, strings…)."""
    digest = hashlib.blake2b(fingerprint.encode(), digest_size=16)
    digest.update(orjson.dumps(data, default=_fallback, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def _fallback(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def file_chunks(path: Path, limit: int | None = None, size: int = 1 << 20) -> Iterator[bytes]:
    """A file's bytes in chunks (the first `limit` bytes only, when given)."""
    remaining = limit
    with open(path, "rb") as handle:
        while remaining is None or remaining > 0:
            chunk = handle.read(size if remaining is None else min(size, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def shard_script(module: str, shard: str, data: Any) -> bytes:
    """`TLP.register(module, shard, JSON.parse("…"))`: a classic script, so it loads from
    file:// where fetch() is refused. JSON.parse of a string literal is faster than a literal
    object and cannot execute anything."""
    return json_shard_script(module, shard, orjson.dumps(data))


def json_shard_script(module: str, shard: str, payload: bytes) -> bytes:
    """`shard_script` of a value already serialized as JSON (`payload`)."""
    literal = orjson.dumps(payload.decode("utf-8"))
    literal = literal.replace(b"</", b"<\\/").replace(b"<!--", b"<\\!--")
    return (b"TLP.register(" + orjson.dumps(module) + b", " + orjson.dumps(shard)
            + b", JSON.parse(" + literal + b"));\n")
