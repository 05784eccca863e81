"""What a report module receives (ModuleContext) and returns (ModuleOutput).

A module is a function `render(ctx) -> ModuleOutput`. It reads only the intermediate files it
subscribes to, writes files only through the context (which keeps them inside OUT, atomic
and change-only), and describes what the index page should show; `assemble` reads nothing
else.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .atomic import write_bytes, write_chunks
from .render import jinja_env
from .safepath import inside
from .store.reader import StoreReader

SECTION_KINDS = ("html", "link", "lazy", "hybrid")


@dataclass
class DirectoryEntry:
    """One item under a compile id in the compile directory."""

    compile_id: str
    name: str
    url: str
    number: int | None = None
    suffix: str = ""
    cache_status: str | None = None
    readable_url: str | None = None
    lazy_loader: str | None = None


@dataclass
class IndexEntry:
    """A block of the index page.

    kind: `html` (rendered markup), `link` (href + text), `lazy` (a shard that modules.js
    loads and renders with `renderer` when opened) or `hybrid` (html summary plus lazy detail).
    """

    section: str
    title: str
    kind: str = "html"
    html: str = ""
    href: str = ""
    shard: str = ""
    shard_module: str = ""
    renderer: str = ""
    order: int = 0  # page position: lower first; notices < 0 < main content < 90 diagnostics


def listed_file(url: str | None, name: str, number: int | None, suffix: str = "",
                readable_url: str | None = None, external: bool = False) -> dict[str, Any]:
    """One item of a file list, as the `artifacts` renderer (modules.js) and the
    `artifact_list.html` macro both show it."""
    return {"url": url, "name": name, "number": number, "suffix": suffix,
            "readable_url": readable_url, "external": external}


@dataclass
class ModuleOutput:
    files: list[str] = field(default_factory=list)
    directory_entries: list[DirectoryEntry] = field(default_factory=list)
    index_entries: list[IndexEntry] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModuleContext:
    module_id: str
    out: Path
    options: dict[str, Any]
    run: dict[str, Any]
    template_dirs: list[str]
    templates: tuple[str, ...] | None = None  # those declared in modules.yaml (None: any)
    subscriptions: tuple[str, ...] | None = None  # those declared in modules.yaml (None: any)
    written: list[str] = field(default_factory=list)

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

    def read_jsonl(self, name: str) -> Iterator[dict[str, Any]]:
        """Stream the records of a subscribed JSONL file."""
        return self.store.read_jsonl(name)

    def render(self, template: str, **data: Any) -> str:
        """Render a template the module declared: undeclared ones would not be file_deps, and
        editing them would leave stale pages."""
        if self.templates is not None and template not in self.templates:
            raise ValueError(f"module {self.module_id} renders {template}, which modules.yaml does not declare")
        return jinja_env(tuple(self.template_dirs)).get_template(template).render(**data)

    def write_bytes(self, relative: str, data: bytes) -> str:
        """Write a report file at `relative` (inside OUT only) and remember it."""
        write_bytes(inside(self.out, relative), data)
        self.written.append(relative)
        return relative

    def write_chunks(self, relative: str, chunks: Iterable[bytes]) -> str:
        """Stream a large file (inside OUT only) without holding it in memory."""
        write_chunks(inside(self.out, relative), chunks)
        self.written.append(relative)
        return relative

    def write_text(self, relative: str, text: str) -> str:
        return self.write_bytes(relative, text.encode("utf-8", "surrogateescape"))

    def write_shard(self, shard: str, data: Any) -> str:
        """A lazy-data file `data/<module>/<shard>.js` that registers `data` with modules.js."""
        relative = f"data/{self.module_id}/{shard}.js"
        self.write_bytes(relative, shard_script(self.module_id, shard, data))
        return relative


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
    payload = orjson.dumps(data)
    literal = orjson.dumps(payload.decode("utf-8"))
    literal = literal.replace(b"</", b"<\\/").replace(b"<!--", b"<\\!--")
    return (b"TLP.register(" + orjson.dumps(module) + b", " + orjson.dumps(shard)
            + b", JSON.parse(" + literal + b"));\n")
