"""What a reader of our default (lazy) report sees once every lazy block is open.

`modules.js` fills each element carrying `data-tlp-src`: it loads the shard script at that URL
(`TLP.register(module, shard, JSON.parse("…"))`, see `module_api.shard_script`; compile_directory's
`files-<n>.js` hold several such calls, and every shard a script registers counts as loaded),
checks that it registered the element's `data-tlp-module`/`data-tlp-shard`, and renders the data
with the `data-tlp-render` renderer into the element's first `.tlp-artifacts`/`.tlp-body`
descendant (the element itself when it has none). A `button.tlp-more` is replaced by what it
holds back when clicked: a stack-trie frame's further compile ids (`trie-links`) or further
callees (`trie-rows`, rows that may hold buttons of their own); a `tlp-more` of another tag never
loads.
What a renderer inserts may hold lazy blocks of its own (a compile-directory page's entries),
which open in turn.

`open_lazy_blocks` does the same in Python, so legacy-diff can compare a lazy page like a static
one: `read_shard` parses a shard with `json.loads` only (never eval), and `render` builds the HTML
that the renderer inserts (all text escaped). Only the renderers of modules.js are known (see
RENDERERS; `json` is its fallback for an empty name); any other name, an unreadable shard or data a
renderer would choke on is a `LazyError`, so the comparison cannot count words a browser would
not show. tests/test_legacy_diff.py checks the result against the DOM of a headless Chromium.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

BODY_CLASSES = frozenset({"tlp-artifacts", "tlp-body"})
MORE_CLASS = "tlp-more"  # a button replaced by what it loads (renderer `trie-links` or `trie-rows`)
MAX_NESTING = 4  # lazy blocks inside rendered lazy blocks (a directory page's entries: 1)
SHARD = re.compile(r'TLP\.register\((?P<module>"(?:[^"\\]++|\\.)*+"), (?P<shard>"(?:[^"\\]++|\\.)*+"), '
                   r'JSON\.parse\((?P<literal>"(?:[^"\\]++|\\.)*+")\)\);\s*', re.DOTALL)
# TLP.safeHref: control characters are refused; a scheme (after JavaScript's `\s`) must be http(s).
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
SCHEME = re.compile(rf"^[{JS_SPACE}]*([A-Za-z][A-Za-z0-9+.-]*):")
MAX_SAFE_INTEGER = 2**53


class LazyError(Exception):
    """A lazy block a browser could not show as legacy-diff reads it; the message says why."""


# --------------------------------------------------------------------------------------------
# JavaScript's view of JSON values (String(x), JSON.stringify, truthiness)


def js_number(value: float) -> str:
    """Number.prototype.toString: `1` for 1.0, `1e+21`, `1e-7`, `0.000001`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    parts = Decimal(repr(abs(value))).as_tuple()  # repr is the shortest round-trip form, as in JS
    digits = "".join(map(str, parts.digits)).rstrip("0")
    exponent = int(parts.exponent) + len(parts.digits) - len(digits)
    digits = digits.lstrip("0")
    k, n = len(digits), exponent + len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{sign}{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return f"{sign}0.{'0' * -n}{digits}"
    mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def _js_numeric(value: int | float) -> str:
    if isinstance(value, int) and abs(value) <= MAX_SAFE_INTEGER:
        return str(value)
    return js_number(float(value))  # JSON.parse makes every number a double


def js_string(value: Any) -> str:
    """String(value) for a value JSON.parse made."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _js_numeric(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness (an empty list or object is true)."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    return not (isinstance(value, str) and value == "")


def js_json(value: Any, indent: str = "", level: str = "") -> str:
    """JSON.stringify(value, null, indent) (compact without indent)."""
    if value is None or isinstance(value, bool):
        return js_string(value)
    if isinstance(value, (int, float)):
        return "null" if isinstance(value, float) and not math.isfinite(value) else _js_numeric(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    inner = level + indent
    if isinstance(value, list):
        items = [js_json(v, indent, inner) for v in value]
        opening, closing = "[", "]"
    elif isinstance(value, dict):
        colon = ": " if indent else ":"
        items = [json.dumps(str(k), ensure_ascii=False) + colon + js_json(v, indent, inner) for k, v in value.items()]
        opening, closing = "{", "}"
    else:
        raise LazyError(f"not a JSON value: {type(value).__name__}")
    if not items:
        return opening + closing
    if not indent:
        return opening + ",".join(items) + closing
    return f"{opening}\n{inner}" + f",\n{inner}".join(items) + f"\n{level}{closing}"


# --------------------------------------------------------------------------------------------
# Shards


def read_shard(path: Path) -> tuple[str, str, Any]:
    """(module, shard, data) of a shard script that registers one shard (`read_shards`)."""
    registered = read_shards(path)
    if len(registered) != 1:
        raise LazyError(f"{path.name} registers {len(registered)} shards, not one")
    return registered[0]


def read_shards(path: Path) -> list[tuple[str, str, Any]]:
    """(module, shard, data) of each call of a shard script, one or more calls in
    `module_api.shard_script`'s exact format, back to back.

    The literal is a JSON string except that `<!--` is written `<\\!--` (a JavaScript identity
    escape, which JSON lacks): that is undone before the two `json.loads`. Anything else is an error.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LazyError(f"cannot read {path.name}: {error}") from None
    registered: list[tuple[str, str, Any]] = []
    position = 0
    while position < len(text) or not registered:
        match = SHARD.match(text, position)
        if match is None:
            raise LazyError(f"{path.name} is not a TLP.register(module, shard, JSON.parse(string)) script")
        try:
            module, shard = json.loads(match["module"]), json.loads(match["shard"])
            payload = json.loads(match["literal"].replace("<\\!--", "<!--"))
            data = json.loads(payload)
        except (ValueError, TypeError, RecursionError) as error:
            raise LazyError(f"{path.name}: not valid JSON inside JSON.parse: {error}") from None
        registered.append((module, shard, data))
        position = match.end()
    return registered


# --------------------------------------------------------------------------------------------
# The renderers of modules.js, as HTML


def safe_href(url: Any) -> str | None:
    """TLP.safeHref: the URL if it cannot run script (relative, http, https), else None."""
    if not isinstance(url, str) or CONTROL.search(url):
        return None
    scheme = SCHEME.match(url)
    return url if scheme is None or scheme[1].lower() in ("http", "https") else None


def _text(value: Any) -> str:
    """el(tag, class, text): no text for null."""
    return "" if value is None else escape(js_string(value), quote=False)


def link_html(url: Any, text: Any, external: Any = False) -> str:
    """TLP.link: plain text without a URL, struck-through text for an unsafe one."""
    if url is None or url == "":
        return escape(js_string(text), quote=False)
    href = safe_href(url)
    if href is None:
        return f'<span class="tlp-unsafe-link" title="{escape(js_string(url))}">{_text(text)}</span>'
    rel = ' rel="noopener noreferrer"' if js_truthy(external) else ""
    return f'<a href="{escape(href)}"{rel}>{_text(text)}</a>'


def file_item_html(item: Any) -> str:
    """TLP.fileItem: one `listed_file` dict as a list item."""
    if not isinstance(item, dict):
        raise LazyError(f"a file-list item is not an object: {js_json(item)[:80]}")
    html = "<li>" + link_html(item.get("url"), item.get("name"), item.get("external"))
    if js_truthy(item.get("readable_url")):
        html += f" ({link_html(item['readable_url'], 'readable_html')})"
    if js_truthy(item.get("suffix")):
        html += f' <span class="tlp-suffix">{_text(item["suffix"])}</span>'
    if item.get("number") is not None:
        html += f' <span class="tlp-number">({escape(js_string(item["number"]), quote=False)})</span>'
    return html + "</li>"


def _artifacts(data: Any, into_list: bool) -> str:
    if not isinstance(data, list):
        raise LazyError("the artifacts renderer needs a list")
    items = "".join(file_item_html(item) for item in data)
    return items if into_list else f'<ul class="tlp-artifacts">{items}</ul>'


def compile_entry_html(entry: Any) -> str:
    """TLP.compileEntry: one compile-directory entry (compile_directory.entry_view); its own
    file list is a lazy block when it has `src`."""
    if not isinstance(entry, dict):
        raise LazyError(f"a compile-directory entry is not an object: {js_json(entry)[:80]}")
    lazy = ""
    if js_truthy(entry.get("src")):
        lazy = "".join(f' data-tlp-{name}="{escape(js_string(entry.get(key)))}"'
                       for name, key in (("module", "module"), ("shard", "shard"), ("src", "src")))
        lazy += ' data-tlp-render="artifacts"'
    summary = (f'<span class="tlp-cid status-{escape(js_string(entry.get("status")))}">{_text(entry.get("id"))}</span>'
               f' <span class="tlp-count">{_text(entry.get("count"))}</span>')
    if js_truthy(entry.get("cache_status")):
        summary += f' <span class="tlp-cache">cache {escape(js_string(entry["cache_status"]), quote=False)}</span>'
    items = entry.get("items") if js_truthy(entry.get("items")) else []
    if not isinstance(items, list):
        raise LazyError("a compile-directory entry's items are not a list")
    return (f'<li><details class="tlp-compile" id="{escape(js_string(entry.get("id")))}"{lazy}>'
            f'<summary>{summary}</summary><ul class="tlp-artifacts">{"".join(map(file_item_html, items))}</ul>'
            "</details></li>")


def _compile_page(data: Any, into_list: bool) -> str:
    if not isinstance(data, list):
        raise LazyError("the compile-page renderer needs a list")
    return "".join(compile_entry_html(entry) for entry in data)


def _cid_link(link: Any) -> str:
    """TLP.cidLink: a compile id linking to its directory entry."""
    return f'<a class="tlp-cid" href="#{escape(js_string(link.get("id")))}">{_text(link.get("id"))}</a>'


def _trie_links(data: Any, into_list: bool) -> str:
    """The links that take a `tlp-more` button's place, one space apart (TLP.cidLink)."""
    if not isinstance(data, list) or not all(isinstance(link, dict) for link in data):
        raise LazyError("the trie-links renderer needs a list of objects")
    return " ".join(_cid_link(link) for link in data)


def _frame(frame: Any) -> str:
    """TLP.frame: the location (a link when it has a safe href), ` in `, the function, the source line."""
    if not isinstance(frame, dict):
        raise LazyError("a stack-trie row's frame is not an object")
    href = safe_href(frame.get("href")) if js_truthy(frame.get("href")) else None
    location = _text(frame.get("location"))
    html = (f'<a class="tlp-frame" href="{escape(href)}">{location}</a>' if href is not None
            else f'<span class="tlp-frame">{location}</span>')
    html += f' in <span class="tlp-fn">{_text(frame.get("name"))}</span>'
    if js_truthy(frame.get("loc")):
        html += f'<br><code class="tlp-loc">{_text(frame["loc"])}</code>'
    return html


def _more_button(more: Any, renderer: str) -> str:
    """TLP.moreButton: a lazy block of its own (a button that loads what it holds back)."""
    if not isinstance(more, dict):
        raise LazyError("a stack-trie button is not an object")
    data = "".join(f' data-tlp-{key}="{escape(js_string(more.get(key)))}"' for key in ("module", "shard", "src"))
    label = _text(more.get("label"))
    return f'<button type="button" class="tlp-more"{data} data-tlp-render="{renderer}">{label}</button>'


def _trie_rows(data: Any, into_list: bool) -> str:
    """The frames that take a `tlp-more` button's place (stack_trie.row_data): a branching row
    opens a nested list, `closes` ends that many (never the list the button was in)."""
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise LazyError("the trie-rows renderer needs a list of objects")
    html: list[str] = []
    depth = 0
    for row in data:
        if js_truthy(row.get("more_frames")):
            html.append(f"<li>{_more_button(row['more_frames'], 'trie-rows')}</li>")
        else:
            links = row.get("links") or []
            if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
                raise LazyError("a stack-trie row's links are not a list of objects")
            inner = "".join(_cid_link(link) + " " for link in links)
            if js_truthy(row.get("more")):
                inner += _more_button(row["more"], "trie-links") + " "
            inner += _frame(row.get("frame"))
            if js_truthy(row.get("branching")):
                html.append(f'<li><details open class="tlp-branch"><summary>{inner}</summary><ul>')
                depth += 1
            else:
                html.append(f"<li>{inner}</li>")
        closes = row.get("closes")
        closing = min(closes, depth) if isinstance(closes, int) and not isinstance(closes, bool) else 0
        html.append("</ul></details></li>" * closing)
        depth -= closing
    return "".join(html) + "</ul></details></li>" * depth


def _plain_text(data: Any, into_list: bool) -> str:
    value = data if isinstance(data, str) else js_json(data)
    return f'<code class="cm-value">{escape(value, quote=False)}</code>'


def _json(data: Any, into_list: bool) -> str:
    return f'<pre class="tlp-json">{escape(js_json(data, "  "), quote=False)}</pre>'


RENDERERS: dict[str, Callable[[Any, bool], str]] = {
    "artifacts": _artifacts, "text": _plain_text, "json": _json, "compile-page": _compile_page,
    "trie-links": _trie_links, "trie-rows": _trie_rows}


def render(renderer: str, data: Any, into_list: bool) -> str:
    """The HTML that replaces the block's body (`into_list`: the body is a `ul.tlp-artifacts`)."""
    function = RENDERERS.get(renderer or "json")
    if function is None:
        raise LazyError(f"renderer {renderer!r} is not one of modules.js's ({', '.join(RENDERERS)})")
    return function(data, into_list)


# --------------------------------------------------------------------------------------------
# Pages


@dataclass(frozen=True)
class LazyBlock:
    """One element with `data-tlp-src`, and the span of the page its rendering replaces: its
    body's content, or (a `tlp-more` button) the whole element."""

    module: str
    shard: str
    src: str
    renderer: str
    start: int
    end: int
    into_list: bool


class _BlockFinder(HTMLParser):
    """Lazy blocks in document order (a block inside another block's content is its content)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[LazyBlock] = []
        self._html = html
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", html))]
        self._container: tuple[str, dict[str, str | None], int, int] | None = None  # tag, attrs, start, content
        self._container_depth = 0
        self._body: tuple[str, int, bool] | None = None  # tag, content start, is ul.tlp-artifacts
        self._body_depth = 0
        self._body_span: tuple[int, int, bool] | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        start = self._offset()
        end = start + len(self.get_starttag_text() or "")
        if self._container is None:
            classes = (attributes.get("class") or "").split()
            if "data-tlp-src" in attributes and (MORE_CLASS not in classes or tag == "button"):
                self._container, self._container_depth, self._body_span = (tag, attributes, start, end), 1, None
            return
        if tag == self._container[0]:
            self._container_depth += 1
        if self._body is not None:
            if tag == self._body[0]:
                self._body_depth += 1
        elif self._body_span is None and BODY_CLASSES & set((attributes.get("class") or "").split()):
            classes = (attributes.get("class") or "").split()
            self._body, self._body_depth = (tag, end, tag == "ul" and "tlp-artifacts" in classes), 1

    def handle_endtag(self, tag: str) -> None:
        if self._container is None:
            return
        start = self._offset()
        if self._body is not None and tag == self._body[0]:
            self._body_depth -= 1
            if not self._body_depth:
                self._body_span, self._body = (self._body[1], start, self._body[2]), None
        if tag == self._container[0]:
            self._container_depth -= 1
            if not self._container_depth:
                self._close_block(start)

    def _close_block(self, end: int) -> None:
        assert self._container is not None
        tag, attributes, start, content_start = self._container
        renderer = attributes.get("data-tlp-render") or ""
        span = self._body_span or (content_start, end, False)
        if tag == "button" and MORE_CLASS in (attributes.get("class") or "").split():
            renderer, span = renderer or "trie-links", (start, self._html.index(">", end) + 1, False)
        self.blocks.append(LazyBlock(attributes.get("data-tlp-module") or "", attributes.get("data-tlp-shard") or "",
                                     attributes.get("data-tlp-src") or "", renderer, *span))
        self._container, self._body, self._body_span = None, None, None

    def close(self) -> None:
        super().close()
        if self._container is not None:
            raise LazyError(f"a lazy <{self._container[0]}> is never closed")


def find_blocks(html: str) -> list[LazyBlock]:
    """The lazy blocks of a page, in document order."""
    finder = _BlockFinder(html)
    finder.feed(html)
    finder.close()
    return finder.blocks


def shard_path(src: str, page: Path, root: Path) -> Path:
    """The file a block's `data-tlp-src` (relative to its page) names; it must lie inside root."""
    parts = urlsplit(src)
    if parts.scheme or parts.netloc or parts.query or parts.fragment or not parts.path:
        raise LazyError(f"data-tlp-src {src!r} is not a relative file URL")
    path = (page.parent / unquote(parts.path)).resolve()
    if not path.is_relative_to(root.resolve()):
        raise LazyError(f"data-tlp-src {src!r} points outside the report")
    return path


ShardCache = dict[Path, list[tuple[str, str, Any]]]


@dataclass
class _Opener:
    """Opens the lazy blocks of one page (TLP.load: one load per module/shard key and page)."""

    page: Path
    root: Path
    cache: ShardCache
    loaded: dict[tuple[str, str], Any]

    def data(self, block: LazyBlock) -> Any:
        key = (block.module, block.shard)
        if key not in self.loaded:
            path = shard_path(block.src, self.page, self.root)
            if path not in self.cache:
                self.cache[path] = read_shards(path)
            registered = {(module, shard): data for module, shard, data in self.cache[path]}
            if key not in registered:
                names = ", ".join("/".join(k) for k in registered)
                raise LazyError(f"{block.src} registers {names}, the page waits for {'/'.join(key)}")
            self.loaded.update(registered)  # TLP.register keeps every shard a script registers
        return self.loaded[key]

    def open(self, html: str, depth: int = 0) -> str:
        if depth > MAX_NESTING:
            raise LazyError(f"lazy blocks nested more than {MAX_NESTING} deep")
        pieces: list[str] = []
        position = 0
        for block in find_blocks(html):
            fragment = render(block.renderer, self.data(block), block.into_list)
            if "data-tlp-src" in fragment:
                fragment = self.open(fragment, depth + 1)
            pieces += [html[position:block.start], fragment]
            position = block.end
        return "".join(pieces) + html[position:]


def open_lazy_blocks(html: str, page: Path, root: Path, cache: ShardCache | None = None) -> str:
    """The page with every lazy block rendered as modules.js renders it once opened.

    `page` is the file the HTML came from (shard URLs are relative to it) inside the report `root`;
    `cache` shares parsed shards between pages (each page still checks what it loads).
    """
    return _Opener(page, root, {} if cache is None else cache, {}).open(html)
