"""Link targets for report files: a path inside OUT becomes a URL by percent-encoding.

File names come from the log and may hold `#`, `%`, `?` or spaces, which a browser would read
as a fragment, an escape or a query: `a#b%c.txt` must be linked as `a%23b%25c.txt`. Every
link to a report file is made here, once, in Python; templates and modules.js show the result
unchanged (so the Jinja macro and its JS twin cannot disagree). `compile_directory.json` keeps
legacy's unencoded paths: it is a machine format, not a link.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from ..safepath import safe_href

#: Left unencoded in a path segment besides letters, digits and `_.-~`: RFC 3986's sub-delims
#: and `@`, which mean nothing special in a path. `:` is encoded: in a first segment it would
#: read as a scheme (`javascript:`).
SEGMENT_SAFE = "!$&'()*+,;=@"
#: A path of these characters only is its own link target: nothing in it is encoded, and it has
#: no scheme and no control character. Most report paths are; a module links thousands of them
#: a run, and `quote` costs several times this match.
PLAIN_PATH = re.compile(r"[A-Za-z0-9_.~/!$&'()*+,;=@-]*")


def path_href(path: str) -> str:
    """A relative report path as a link target: `/` kept, each segment percent-encoded.

    Names of ordinary files (letters, digits, `._-`) come out unchanged, so the links of legacy
    paths stay as legacy writes them.
    """
    if PLAIN_PATH.fullmatch(path):
        return path
    return quote(path, safe="/" + SEGMENT_SAFE, errors="surrogateescape")


def fragment_href(fragment: str) -> str:
    """The text after `#`, percent-encoded the same way (`L42` stays `L42`)."""
    return quote(fragment, safe=SEGMENT_SAFE + "/?:", errors="surrogateescape")


def file_href(path: str, fragment: str | None = None) -> str:
    """`path` (and `#fragment`, when given) as one link target."""
    href = path_href(path)
    return href if fragment is None else f"{href}#{fragment_href(fragment)}"


def report_href(url: str) -> str:
    """A report file's path (relative to the page) as a link target.

    A value that is no such path is returned unchanged for `safe_href` to judge: one with a
    scheme (a colon in its first segment, `javascript:x`) or with control characters. Report
    paths have neither: the names in them come through `safe_component`.
    """
    if PLAIN_PATH.fullmatch(url):
        return url
    if safe_href(url) != url or ":" in url.partition("/")[0]:
        return url
    return path_href(url)
