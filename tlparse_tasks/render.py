"""The Jinja2 environment every module and the index share: autoescaping, strict."""

from __future__ import annotations

import functools

import jinja2

from .safepath import safe_href


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
    return env
