"""The presentation kit: the views every report page shares, built once here.

A stack frame (`Frame`), a logged stack (`StackView`) and counted nouns (`plural`) have one
Python shape each and one Jinja macro or filter each (`frame.html`: `frame`, `stack`;
`render.py`: `plural`), so a stack reads the same on a metrics page, a guard page, the
symbolic-shapes page and in the stack trie. File-list items are `module_api.listed_file` dicts
with their macro in `artifact_list.html` and their JS twin in `static/modules.js`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..parse.envelope import STACK
from ..parse.stacks import frame_filename, simplify_filename
from ..render import plural
from ..rules.names import eval_with_key_href
from .common import format_value

if TYPE_CHECKING:
    from markupsafe import Markup

    from ..module_api import ModuleContext

__all__ = ["Frame", "SharedStacks", "StackView", "frame_of", "frames", "plural", "stack_of", "stack_view"]


@dataclass(frozen=True)
class Frame:
    """One stack frame as every template shows it: `location in name`, then the source line.

    `href` (relative to the report root) points into the dump_file page of generated FX code.
    """

    filename: str
    line: Any
    name: str
    loc: str | None
    href: str | None

    @property
    def location(self) -> str:
        return f"{self.filename}:{format_value(self.line)}"


def frame_of(filename: str, line: Any, name: Any, loc: Any, *, simplify: bool = True) -> Frame:
    """A frame from a file name as logged; build prefixes are dropped for display only
    (`simplify=False` for names the parse already simplified, such as the stack trie's)."""
    shown = simplify_filename(filename) if simplify else filename
    return Frame(shown, line, "" if name is None else str(name), None if loc is None else str(loc),
                 eval_with_key_href(filename, format_value(line)))


@functools.lru_cache(maxsize=1 << 16, typed=True)  # typed: line 1 and line True show differently
def _shared_frame(filename: str, line: Any, name: Any, loc: Any) -> Frame:
    return frame_of(filename, line, name, loc)


def frames(stack: list[dict[str, Any]] | None, strings: dict[str, str]) -> list[Frame]:
    """A logged list of frames, file names resolved against the string table. Stacks repeat
    the same frames compile after compile (31k frames, a few hundred distinct, on a 99 MB
    log), so each distinct frame is made once (a Frame is immutable)."""
    result = []
    for f in stack or []:
        args = (frame_filename(f, strings), f.get("line"), f.get("name"), f.get("loc"))
        try:
            result.append(_shared_frame(*args))
        except TypeError:  # an unhashable value where a scalar belongs
            result.append(frame_of(*args))
    return result


@dataclass(frozen=True)
class StackView:
    """A logged stack ready for the `stack` macro: its frames, outermost first, or the value as
    text when it is not a list of frames (payloads are not validated as strictly as envelopes)."""

    frames: list[Frame]
    raw: str | None = None

    @property
    def last(self) -> Frame | None:
        """The innermost frame, the one the summary names."""
        return self.frames[-1] if self.frames else None


def stack_of(value: Any, strings: dict[str, str]) -> StackView:
    """Always a view (null or [] gives no frames): for pages that show every stack slot."""
    if value is None or value == []:
        return StackView([])
    if STACK(value) is None:
        return StackView(frames(value, strings))
    return StackView([], format_value(value))  # e.g. a filename that is not an index


def stack_view(value: Any, strings: dict[str, str]) -> StackView | None:
    """None when nothing (null or []) was logged, for tables that show "none" instead."""
    if value is None or value == []:
        return None
    return stack_of(value, strings)


class SharedStacks:
    """Logged stacks, each distinct value made into a view and rendered by frame.html's
    `stack` macro once: a framework stack repeats on every page of a shape environment, a
    dynamo_start stack on every recompile of its function, and their frames were most of the
    work of those pages. Pages get it as `stack` (the macro's signature and output).

    `make` is the module's rule for a value (`stack_of`, or `stack_view` where nothing
    logged shows as none); `keep` caches a view made another way. Renderings are kept by the
    view's identity, so only views made here are cached. At most MAX_VIEWS views are kept."""

    MAX_VIEWS = 50_000

    def __init__(self, strings: dict[str, str],
                 make: Callable[[Any, dict[str, str]], StackView | None] = stack_of) -> None:
        self.strings = strings
        self.make = make
        self.macro: Callable[..., Markup] | None = None
        self.views: dict[bytes, StackView | None] = {}  # the logged value (JSON) → its view
        self.owned: set[int] = set()  # ids of those views (kept alive by `views`)
        self.html: dict[tuple[int, str, str, bool], Markup] = {}

    def bind(self, ctx: ModuleContext) -> SharedStacks:
        """Render with the module's frame.html (Jinja loads when the first page renders)."""
        if self.macro is None:
            self.macro = ctx.macro("frame.html", "stack")
        return self

    def view(self, value: Any) -> StackView | None:
        # The logged value's JSON (the store's values are orjson's), kept as a 16-byte digest:
        # a stack's JSON is kilobytes, and hundreds of distinct ones are kept.
        key = hashlib.blake2b(orjson.dumps(value), digest_size=16).digest()
        if key in self.views:
            return self.views[key]
        return self.keep(key, self.make(value, self.strings))

    def view_of_json(self, data: bytes) -> StackView | None:
        """`view` of the value whose JSON (as orjson writes it) is `data`."""
        key = hashlib.blake2b(data, digest_size=16).digest()
        if key in self.views:
            return self.views[key]
        return self.keep(key, self.make(orjson.loads(data), self.strings))

    def forget(self) -> None:
        """Drop every view and rendering kept (views already handed out stay valid)."""
        self.views.clear()
        self.owned.clear()
        self.html.clear()

    def keep(self, key: bytes, view: StackView | None) -> StackView | None:
        """`view` under `key` from now on (other kinds of key must not be 16 bytes long)."""
        if len(self.views) >= self.MAX_VIEWS:
            self.forget()
        self.views[key] = view
        if view is not None:
            self.owned.add(id(view))
        return view

    def __call__(self, view: StackView | None, caption: str, root: str, open: bool = False) -> Markup:
        assert self.macro is not None, "bind() first"
        if view is None or id(view) not in self.owned:
            return self.macro(view, caption, root, open=open)
        key = (id(view), caption, root, open)
        html = self.html.get(key)
        if html is None:
            html = self.html[key] = self.macro(view, caption, root, open=open)
        return html

