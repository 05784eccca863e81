"""Source code as HTML lines: Pygments token classes, one `<span id="L{n}">` per line.

Line anchors let stack frames link to `page.html#L12`; line numbers come from CSS counters so
that copying code copies only code. Very large inputs are escaped without highlighting, which
keeps a huge log's report fast to build and to open.
"""

from __future__ import annotations

import functools

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name

HIGHLIGHT_LIMIT_BYTES = 2 << 20
PYGMENTS_STYLE = "default"
CSS_FILE = "pygments.css"


@functools.lru_cache(maxsize=8)
def _lexer(name: str) -> Lexer:
    return get_lexer_by_name(name, stripnl=False, ensurenl=False)


def highlighted_lines(code: str, language: str = "python") -> list[Markup]:
    """Each source line as safe HTML (spans never cross a line end)."""
    if len(code) > HIGHLIGHT_LIMIT_BYTES:
        return [escape(line) for line in code.split("\n")]
    formatter = HtmlFormatter(nowrap=True)
    html = highlight(code, _lexer(language), formatter)
    lines = html.split("\n")
    if lines and lines[-1] == "" and not code.endswith("\n"):
        lines.pop()
    return [Markup(line) for line in lines]


def pygments_css() -> str:
    """Token colours for `.highlight` blocks, written once per report."""
    return HtmlFormatter(style=PYGMENTS_STYLE).get_style_defs(".highlight") + "\n"
