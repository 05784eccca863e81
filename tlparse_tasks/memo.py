"""Results a module worked out in its last run, kept by a digest of what they were made from.

After the log grew, most of what a module computes again comes from the same inputs as last
time: a table row's markup, the guards a recompile reason names. `Memo.get(inputs, make, valid)`
returns the result kept for `inputs` when the last run kept one, and `valid` accepts it, else
calls `make`. The digest is salted with the module's fingerprint (its code, templates and
options), the run's options and the source of the helper modules the results come from, so a
change to any of them makes everything anew.

`save()` writes exactly the results this run asked for, in the order first asked: a grown
report's memo equals a fresh one's byte for byte, and it never keeps what the report no longer
shows. Results are JSON values (markup as a string), so a kept one is the value `make` returned.
Markup that a page of the report holds as it is (table rows) is kept as where it stands in that
page (`save(within=...)`), not copied: the memo then names the page and its digest, and the next
run reads the rows back from the page, if it is unchanged. A memo file that does not read as one
is ignored, like a missing one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import orjson

from .module_api import RECORDS_DIR, ModuleContext, unit_digest

T = TypeVar("T")


def memo_path(module_id: str, name: str) -> str:
    return f"{RECORDS_DIR}/{module_id}.{name}.memo"


class Memo:
    """One kind of result of one module (see above), kept in `.modules/<module>.<name>.memo`."""

    def __init__(self, ctx: ModuleContext, name: str, helpers: Iterable[ModuleType] = ()) -> None:
        self.ctx = ctx
        self.path = memo_path(ctx.module_id, name)
        salt = hashlib.blake2b(orjson.dumps({"fingerprint": ctx.fingerprint, "run": ctx.run},
                                            option=orjson.OPT_SORT_KEYS), digest_size=16)
        for helper in helpers:  # not in the fingerprint, which covers the module's own file
            salt.update(Path(str(helper.__file__)).read_bytes())
        self.salt = salt.hexdigest()
        self.kept = self._load()
        self.used: dict[str, Any] = {}
        self.made = 0  # how many results this run made rather than found (tests, profiles)

    def _load(self) -> dict[str, Any]:
        raw = self.ctx.read_own(self.path)
        if raw is None:
            return {}
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict) or data.get("salt") != self.salt or not isinstance(data["results"], dict):
                return {}
            results: dict[str, Any] = data["results"]
            within = data.get("within")
            if within is not None:
                text = self._text_of(str(within["file"]), str(within["digest"]))
                if text is not None:  # else the rows it holds are made again
                    results.update((str(key), text[int(start):int(stop)])
                                   for key, (start, stop) in within["spans"].items())
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return {}
        return results

    def _text_of(self, relative: str, digest: str) -> str | None:
        """A report file's text, if it is still the one the memo points into."""
        data = self.ctx.read_own(relative)
        if data is None or file_digest(data) != digest:
            return None
        return data.decode("utf-8", "surrogateescape")

    def get(self, inputs: Any, make: Callable[[], T], valid: Callable[[Any], bool]) -> T:
        """The result made from `inputs` (anything unit digests take): kept, or `make()`, which
        returns a JSON value. A kept result is used only if `valid` accepts it: the memo is a
        file in OUT like any other, and one that was damaged or edited must not break the run."""
        key = unit_digest(self.salt, inputs)
        if key in self.used:
            result: T = self.used[key]
        elif key in self.kept and valid(self.kept[key]):
            result = self.kept[key]
        else:
            result = make()
            self.made += 1
        self.used[key] = result
        return result

    def save(self, within: tuple[str, str] | None = None) -> None:
        """Keep this run's results for the next run (written as a file of the module's own).
        `within`: a report file this run wrote or kept, and its text; the results found in that
        text in the order they were first asked for are kept as their place in it."""
        self.ctx.end_unit()
        results, spans = dict(self.used), {}
        if within is not None:
            at = 0
            for key, value in self.used.items():
                start = text_find(within[1], value, at)
                if start >= 0:
                    at = start + len(value)
                    spans[key] = [start, at]
                    del results[key]
        data: dict[str, Any] = {"salt": self.salt, "results": results}
        if spans and within is not None:
            data["within"] = {"file": within[0], "spans": spans,
                              "digest": file_digest(within[1].encode("utf-8", "surrogateescape"))}
        self.ctx.write_bytes(self.path, orjson.dumps(data))


def is_text(value: Any) -> bool:
    """`get`'s check of a kept piece of markup."""
    return isinstance(value, str)


def text_find(text: str, value: Any, start: int) -> int:
    """Where `value`, a non-empty string, stands in `text` from `start` on (-1: not there)."""
    return text.find(value, start) if isinstance(value, str) and value else -1


def file_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
