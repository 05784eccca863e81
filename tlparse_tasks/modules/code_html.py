"""Source code as the `<pre>` body of a code page: one `<span id="L{n}">` per source line.

Each line span is inline and followed by the source's own newline, so the page is
single-spaced and selecting the code copies the source text. Line anchors let stack frames link to
`page.html#L12`; line numbers come from CSS counters, which copying skips.

Two ways to fill the lines, both with Pygments' token classes in the end:
- `plain_code_body`: escaped text only (lazy pages). `static/highlight.js` adds the token
  spans in the browser, so building a report costs no more than writing the files.
- `highlighted_code_body`: Pygments at build time (`--eager`: readable and coloured without JS).
"""

from __future__ import annotations

import functools
import posixpath
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

if TYPE_CHECKING:  # Pygments loads only in the process that highlights or writes its CSS
    from pygments.lexer import Lexer

    from ..module_api import ModuleContext

HIGHLIGHT_LIMIT_BYTES = 2 << 20
CHUNK_LINES = 200  # lines per block inside the <pre>
PYGMENTS_STYLE = "default"
PYGMENTS_DARK_STYLE = "github-dark"  # under prefers-color-scheme: dark, like style.css
SCOPE = ".highlight"
CSS_FILE = "pygments.css"
SCRIPT_FILE = "highlight.js"  # where the browser highlighter goes, relative to OUT
SCRIPT_SOURCE = f"static/{SCRIPT_FILE}"  # the same file among the templates

# File name endings of C and C++ sources; everything else on a code page is Python.
CPP_SUFFIXES = frozenset({".c", ".cc", ".cpp", ".cxx", ".cu", ".h", ".hh", ".hpp", ".hxx", ".cuh"})


def language_of(filename: str | None) -> str:
    """`cpp` for C/C++ file names, `python` otherwise (inductor output code, FX graphs)."""
    suffix = posixpath.splitext((filename or "").lower())[1]
    return "cpp" if suffix in CPP_SUFFIXES else "python"


@functools.lru_cache(maxsize=8)
def _lexer(name: str) -> Lexer:
    from pygments.lexers import get_lexer_by_name

    return get_lexer_by_name(name, stripnl=False, ensurenl=False)


def _numbered(html: str, code: str) -> Markup:
    """Wrap each line of `html` (safe markup whose lines are the lines of `code`) in its
    numbered span, each followed by the source's own newline, so the text of the `<pre>` is
    the source itself (a final newline starts no empty numbered line). Lines are grouped into
    block chunks so that the browser re-lays out only the chunk it just coloured."""
    lines = html.split("\n")
    if code.endswith("\n"):
        lines.pop()
    last = len(lines)
    ending = "\n" if code.endswith("\n") else ""
    spans = [f'<span id="L{n}" class="tlp-line">{line}</span>' + ("\n" if n < last else ending)
             for n, line in enumerate(lines, 1)]
    chunks = ("".join(spans[i:i + CHUNK_LINES]) for i in range(0, len(spans), CHUNK_LINES))
    return Markup("".join(f'<span class="tlp-chunk">{chunk}</span>' for chunk in chunks))


def plain_code_body(code: str) -> Markup:
    """The source escaped once as a whole, then cut into numbered lines (no highlighting).
    A carriage return is written as a character reference: a raw one would turn into a
    line break when the browser reads the page."""
    return _numbered(str(escape(code)).replace("\r", "&#13;"), code)


def highlighted_code_body(code: str, language: str = "python") -> Markup:
    """Pygments' HTML per line (its spans never cross a line end). Very large inputs are
    escaped without highlighting, which keeps a huge log's report fast to build and to open.
    The same code is highlighted once per process (`_HIGHLIGHTED`)."""
    if len(code) > HIGHLIGHT_LIMIT_BYTES:
        return plain_code_body(code)
    return _HIGHLIGHTED.get(code, language)


def _highlight(code: str, language: str) -> Markup:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    code = code.replace("\r\n", "\n").replace("\r", "\n")  # what the lexer does anyway
    html = highlight(code, _lexer(language), HtmlFormatter(nowrap=True))
    if not code.endswith("\n") and html.endswith("\n"):
        html = html[:-1]  # the formatter ends its output with a newline the code does not have
    return _numbered(html, code)


class HighlightCache:
    """Highlighted bodies by (code, language), the most recent up to `budget` characters of code
    and HTML: a log repeats its output code (11_large: 242 output-code entries, 125 distinct),
    and Pygments is nearly all of an --eager build's extra time."""

    def __init__(self, budget: int = 64 << 20) -> None:
        self.budget = budget
        self.size = 0
        self.bodies: OrderedDict[tuple[str, str], Markup] = OrderedDict()

    def get(self, code: str, language: str) -> Markup:
        key = (language, code)
        body = self.bodies.get(key)
        if body is not None:
            self.bodies.move_to_end(key)
            return body
        body = self.bodies[key] = _highlight(code, language)
        self.size += len(code) + len(body)
        while self.size > self.budget and len(self.bodies) > 1:
            (_, old_code), old_body = self.bodies.popitem(last=False)
            self.size -= len(old_code) + len(old_body)
        return body


_HIGHLIGHTED = HighlightCache()


def write_pygments_css(ctx: ModuleContext, relative: str = CSS_FILE) -> None:
    """Write `pygments_css()` at `relative`, as a unit of its own: the bytes change only with
    Pygments' version, and importing its formatters and styles to make them costs a module's
    re-run ~20 ms (only the package's `__init__` is imported to read the version)."""
    from pygments import __version__ as pygments_version

    if ctx.unit(relative, {"pygments": pygments_version, "styles": [PYGMENTS_STYLE, PYGMENTS_DARK_STYLE]}):
        ctx.write_text(relative, pygments_css())
    ctx.end_unit()


def pygments_css() -> str:
    """Token colours for `.highlight` blocks, written once per report: Pygments' light style,
    then its dark one for readers whose system asks for a dark theme."""
    return (_style_defs(PYGMENTS_STYLE) + "\n@media (prefers-color-scheme: dark) {\n"
            + _dark_rules() + "}\n")


def _style_defs(style: str) -> str:
    from pygments.formatters import HtmlFormatter

    formatter: Any = HtmlFormatter(style=style)  # get_style_defs is untyped in pygments
    return str(formatter.get_style_defs(SCOPE)) + "\n"


def _dark_rules() -> str:
    """The dark style's `.highlight` rules (its unscoped `pre`/line-number rules are left to the
    light part), plus `color: inherit` for each token the light style colours and the dark one
    does not, so no light colour is left on a dark background."""
    dark = [line for line in _style_defs(PYGMENTS_DARK_STYLE).splitlines() if line.startswith(SCOPE)]
    coloured = {_selector(line) for line in dark if "color:" in line.replace("background-color:", "")}
    light = [_selector(line) for line in _style_defs(PYGMENTS_STYLE).splitlines()
             if line.startswith(SCOPE + " ") and " color:" in " " + line.split("{", 1)[-1]]
    reset = [f"{selector} {{ color: inherit }}" for selector in light if selector not in coloured]
    return "".join(f"  {line}\n" for line in dark + reset)


def _selector(rule: str) -> str:
    return rule.split("{", 1)[0].strip()
