"""File names that torch's log implies: generated FX modules (`<eval_with_key>.N`)."""

from __future__ import annotations

import re

EVAL_WITH_KEY = re.compile(r"<eval_with_key>\.([0-9]+)")


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
    return f"{eval_with_key_page(number)}#L{line}" if number is not None else None
