"""The Jinja2 environment every module and the index share: autoescaping, strict, and the
filters templates use instead of computing text themselves (`safe_href`, `plural`)."""

from __future__ import annotations

import functools

import jinja2

from .safepath import safe_href


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 file`, `2 files`, `3 entries`: the count and the noun that agrees with it.

    One rule for every template (`{{ n|plural("file") }}`) and module, instead of hand-written
    endings; `plural_form` is for nouns that do not just take an `s`.
    """
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


@functools.lru_cache(maxsize=8)
def jinja_env(template_dirs: tuple[str, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(template_dirs)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_href"] = safe_href
    env.filters["plural"] = plural
    return env
