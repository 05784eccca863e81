"""File names that torch's log implies: generated FX modules (`<eval_with_key>.N`), and the
suffix that keeps two different logged names from sharing one cleaned file name."""

from __future__ import annotations

import hashlib
import re

from .urls import file_href

EVAL_WITH_KEY = re.compile(r"<eval_with_key>\.([0-9]+)")
#: The dump_file pages of generated FX modules, which stack frames link to by number.
GENERATED_MODULE_PAGE = re.compile(r"dump_file/eval_with_key_[0-9]+\.html")
SUFFIX_DIGITS = 8


def eval_with_key_number(filename: str) -> str | None:
    """`<eval_with_key>.12` anywhere in a filename → `12`."""
    match = EVAL_WITH_KEY.search(filename)
    return match.group(1) if match else None


def eval_with_key_page(number: str) -> str:
    """Where the dump_file page of generated module N lives."""
    return f"dump_file/eval_with_key_{number}.html"


def eval_with_key_href(filename: str, line: object) -> str | None:
    """A link to the line of a generated FX module a stack frame points into, if it is one."""
    number = eval_with_key_number(filename)
    return file_href(eval_with_key_page(number), f"L{line}") if number is not None else None


def name_digest(name: str) -> str:
    """A stable digest of a name as logged: who owns a cleaned file name (16 hex digits)."""
    return hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def suffixed(path: str, name: str, attempt: int = 1) -> str:
    """`dump_file/a_b.html` → `dump_file/a_b-1a2b3c4d.html`: the file of `name` when the cleaned
    path belongs to another name. The suffix is 8 hex digits of a digest of the name (and of
    `attempt`, past the first), so it is the same on every run of the same log."""
    key = name if attempt == 1 else f"{attempt}\0{name}"
    suffix = "-" + name_digest(key)[:SUFFIX_DIGITS]
    head, slash, base = path.rpartition("/")
    stem, dot, ext = base.rpartition(".")
    new = f"{stem}{suffix}.{ext}" if dot and stem else base + suffix
    return head + slash + new
