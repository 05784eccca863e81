"""The Jinja2 environment every module and the index share: autoescaping, strict, and the
filters templates use instead of computing text themselves (`safe_href`, `url`, `plural`)."""

from __future__ import annotations

import functools
import os

import jinja2

from . import __version__
from .resources import user_cache_dir
from .rules.urls import path_href
from .safepath import safe_href


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 file`, `2 files`, `3 entries`: the count and the noun that agrees with it.

    One rule for every template (`{{ n|plural("file") }}`) and module, instead of hand-written
    endings; `plural_form` is for nouns that do not just take an `s`.
    """
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (like `__pycache__`): compiling ~30 templates is
    the biggest fixed cost of a run on a small log. Keyed by each template's source, so an
    edited template is recompiled; no cache when the user's cache folder is not writable."""
    directory = user_cache_dir() / f"jinja-{__version__}"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    if not os.access(directory, os.W_OK):
        return None
    return jinja2.FileSystemBytecodeCache(str(directory))


@functools.lru_cache(maxsize=8)
def jinja_env(template_dirs: tuple[str, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(template_dirs)),
        bytecode_cache=bytecode_cache(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # A run never edits a template, and a module renders thousands of pages: without this
        # every get_template stats each template file of the page's chain again.
        auto_reload=False,
    )
    env.filters["safe_href"] = safe_href
    env.filters["url"] = path_href  # a report path in an href: `{{ page|url }}`
    env.filters["plural"] = plural
    return env
