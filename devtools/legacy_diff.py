"""legacy-diff: run legacy tlparse 0.4.3 and ours on a log and compare the two reports file by file.

Usage (from anywhere; `scripts/legacy-diff` is the same command)::

    python -m devtools.legacy_diff LOG [LOG...] [--mode eager|default|both] [--legacy PATH]
        [--ours-cmd CMD] [--allowlist legacy_allowlist.yaml] [--keep DIR] [--json] [-v]
    python -m devtools.legacy_diff --corpus [--large]      # what CI checks (see corpus_logs)
    python -m devtools.legacy_diff --legacy-out DIR --ours-out DIR   # compare, run nothing

Each log is copied (an `.xz` is decompressed) into a scratch directory, then both tools run on that
copy with `--no-browser --overwrite -o <dir>`: legacy once, ours once per mode (`--mode`, default
`both`), and each of our reports is compared with the same legacy report:

* `eager`: ours gets `--eager`, so every page is static HTML and is compared as it is.
* `default`: ours' default, lazy report. Lists (the compile directory, metrics pages, cache and
  guard lists…) and large logged values live in shards (`data/<module>/<shard>.js`) that
  `modules.js` renders when the reader opens them. Our HTML pages are compared as a reader sees
  them with every lazy block open: `devtools/lazy_view.py` reads each shard (`json.loads` only,
  never eval) and renders it as modules.js's renderer would (only what it shows counts), and that
  HTML takes the block's place before the words and links are read. A shard that cannot be read
  or rendered is an `error`. Code pages are plain text there, coloured by highlight.js: same words.

Files are matched by relative path:

* `MISSING path`: legacy wrote it, we did not.
* `EXTRA path`: we wrote it, legacy did not. Our own infrastructure (`OUR_INFRASTRUCTURE`) is ignored.
* `DIFFERENT path: detail`: the contents disagree.
  * Anything but HTML (`.txt`, `.json`, `.jsonl`, `.log`, …) must be byte-identical; the detail
    names the first differing line and column, showing both versions around that point.
  * HTML is compared by the information it shows, not by markup. `visible_words` extracts the
    text a browser shows (no script/style/title/head/noscript; block elements, `<br>` and legacy's
    `<span id="L12">` source lines separate words), splits it on whitespace, and `normalize`s each
    word: surrounding `,;:()"'` are stripped, then `[]` too unless the word is a compile id such as
    `[0/0]`, `[!0/1/2_1]` or `[-/-]`, which stays whole. Every legacy word must occur in our page at
    least as often as in legacy's (multiset containment: we may show more). The detail lists the
    first 20 missing words.
  * `index.html` is special, because we do not copy legacy's prose: see `compare_index`.

A finding named by `legacy_allowlist.yaml` (see `load_allowlist`) is allowlisted: it is counted but
does not fail the run, and `-v` prints it with its reason. Every run ends with one summary line
(one per log and a total when there are several logs). Exit status: 0 when every difference is
allowlisted, 1 otherwise, 2 for usage errors (bad allowlist, legacy binary not found).

`corpus_logs` decides what CI compares: every single-rank log, each in the mode it was made for
(`mode_flags`: export logs with `-e`, inductor provenance logs with `-i`, on both tools). The 99 MB
`11_large` log is left out by default: legacy alone needs ~8 s and 224 MB of output for it, ours
several times that, which is too slow for every test run. `--large` or `TLPARSE_LEGACY_DIFF_LARGE=1`
(which the pytest suite honours too) adds it. Logs named on the command line get the same flags
by name unless `--flags` says otherwise.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import lzma
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from itertools import zip_longest
from pathlib import Path
from typing import Any

import yaml

from devtools.lazy_view import LazyError, ShardCache, open_lazy_blocks

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_LEGACY = REPO / ".legacy-venv" / "bin" / "tlparse"
DEFAULT_OURS = REPO / ".venv" / "bin" / "tlparse"
DEFAULT_ALLOWLIST = REPO / "legacy_allowlist.yaml"
LARGE_ENV = "TLPARSE_LEGACY_DIFF_LARGE"
CWD_ENV = "LEGACY_DIFF_CWD"  # set by scripts/legacy-diff, which runs from the repo root
RUN_TIMEOUT_S = 900

KINDS = ("missing", "extra", "different")
# Files of ours that legacy has no counterpart for: the intermediate store, module records,
# lazy shards, the client scripts and stylesheet, doit's dependency database (and its side
# files) and the run lock (tlparse_tasks/lock.py).
OUR_INFRASTRUCTURE = ("intermediate/", ".modules/", "data/", "static/", "modules.js", "highlight.js",
                      "style.css", ".tlparse-doit.db", ".tlparse.lock")
MODES = ("eager", "default")  # ours with --eager, and without (lazy blocks opened for the comparison)
MAX_WORDS_SHOWN = 20
FLOAT_ROUNDING = "float-rounding"  # the item naming floats legacy printed a few ulp off
MAX_ULPS = 4
SNIPPET = 60

# <noscript> too: its text is hidden where script runs, and our lazy report is read with script on.
HIDDEN_TAGS = frozenset({"script", "style", "title", "head", "noscript"})
BLOCK_TAGS = frozenset({"p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "br",
                        "pre", "table", "ul", "ol", "dl", "dt", "dd", "details", "summary", "section"})
LINE_SPAN_ID = re.compile(r"L\d+")
COMPILE_ID = re.compile(r"\[!?[-\w]+(?:/[-\w]+)+\]")
EDGE_PUNCTUATION = ",;:()\"'"
# index.html: links that belong to legacy's explanatory prose. External documentation is not
# compared at all; for links to report files only the target is compared (and the numbers in
# the link text, e.g. "2 restart(s) and/or compilation failure(s)"), not the wording.
EXTERNAL_DOC_LINKS = frozenset({"https://ui.perfetto.dev/"})
PROSE_LINKS = frozenset({"chromium_events.json", "failures_and_restarts.html", "collectives_parity.json"})
# Link texts that say nothing of their target (export mode's "click here", "exported program:
# link"): only the target is compared.
PROSE_LINK_TEXTS = frozenset({"here", "link"})
BUILD_PRODUCTS_MARKER = "Build products below:"


# --------------------------------------------------------------------------------------------
# HTML: what a page shows


class _PageParser(HTMLParser):
    """Visible text of a page, its links and, for legacy's index, the data regions' text."""

    def __init__(self, regions: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.region_parts: list[str] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.anchor_labels: list[str] = []  # texts of <a id=...> and <a href="#...">
        self._hidden = 0
        self._regions = regions
        self._region: tuple[str, int] | None = None  # (tag, nesting depth)
        self._after_marker = False
        self._link: tuple[str | None, bool, list[str]] | None = None

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        if self._region is not None:
            self.region_parts.append(text)
        if self._link is not None:
            self._link[2].append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "body":
            self._hidden = 0  # a page without </head> must not hide its body
        if tag in HIDDEN_TAGS:
            self._hidden += 1
            return
        if self._regions:
            self._track_region_start(tag, attributes)
        if tag in BLOCK_TAGS or LINE_SPAN_ID.fullmatch(attributes.get("id") or ""):
            self._emit(" ")
        if tag == "a":
            href = attributes.get("href")
            self._link = (href, "id" in attributes or (href or "").startswith("#"), [])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HIDDEN_TAGS and (tag in BLOCK_TAGS or LINE_SPAN_ID.fullmatch(dict(attrs).get("id") or "")):
            self._emit(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
            return
        if tag in BLOCK_TAGS:
            self._emit(" ")
        if tag == "a" and self._link is not None:
            href, is_anchor, texts = self._link
            self._link = None
            text = " ".join("".join(texts).split())
            if is_anchor:
                self.anchor_labels.append(text)
            if href is not None:
                self.links.append((href, text))
        if self._region is not None and tag == self._region[0]:
            depth = self._region[1] - 1
            self._region = (tag, depth) if depth else None

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if self._regions and BUILD_PRODUCTS_MARKER in data:
            self._after_marker = True
        self._emit(data)

    def _track_region_start(self, tag: str, attributes: dict[str, str | None]) -> None:
        if self._region is not None:
            if tag == self._region[0]:
                self._region = (tag, self._region[1] + 1)
        elif tag == "div" and "stack-trie" in (attributes.get("class") or "").split():
            self._region = (tag, 1)
        elif tag == "ul" and self._after_marker:
            self._after_marker = False
            self._region = (tag, 1)


def parse_page(html: str, regions: bool = False) -> _PageParser:
    parser = _PageParser(regions)
    parser.feed(html)
    parser.close()
    return parser


def visible_words(html: str) -> list[str]:
    """The whitespace-separated words a browser shows for this page (raw, not normalized)."""
    return "".join(parse_page(html).parts).split()


def normalize(word: str) -> str:
    """Strip surrounding punctuation, keeping compile ids such as `[0/0]` whole ("" if nothing is left)."""
    word = word.strip(EDGE_PUNCTUATION)
    if COMPILE_ID.fullmatch(word):
        return word
    return word.strip(EDGE_PUNCTUATION + "[]")


def normalized(words: Iterable[str]) -> list[str]:
    return [n for n in map(normalize, words) if n]


def missing_items(legacy: Iterable[str], ours: Iterable[str]) -> list[tuple[str, int]]:
    """Items of `legacy` that `ours` lacks (multiset difference), in legacy's order, with counts."""
    legacy_list = list(legacy)
    short = Counter(legacy_list) - Counter(ours)
    result: list[tuple[str, int]] = []
    for item in legacy_list:
        if item in short:
            result.append((item, short.pop(item)))
    return result


def _as_float(word: str) -> float | None:
    try:
        return float(word) if any(c in word for c in ".e") else None
    except ValueError:
        return None


def merge_rounded_numbers(missing: list[tuple[str, int]], legacy: list[str], ours: list[str]) -> list[tuple[str, int]]:
    """A missing number that our page shows within a few ulp (legacy parses floats inexactly)
    becomes one `float-rounding` item, which the allowlist can name; other words stay."""
    spare = Counter(ours) - Counter(legacy)
    spare_numbers = [(value, word) for word in spare if (value := _as_float(word)) is not None]
    kept: list[tuple[str, int]] = []
    rounded = 0
    for word, count in missing:
        value = _as_float(word)
        match = None
        if value is not None:
            match = next((w for v, w in spare_numbers if v != value and spare[w] > 0
                          and abs(v - value) <= MAX_ULPS * math.ulp(max(abs(v), abs(value)))), None)
        if match is None:
            kept.append((word, count))
            continue
        used = min(count, spare[match])
        spare[match] -= used
        rounded += used
        if count > used:
            kept.append((word, count - used))
    return kept + ([(FLOAT_ROUNDING, rounded)] if rounded else [])


def compare_html(legacy: str, ours: str) -> list[tuple[str, int]]:
    """Words legacy's page shows that ours does not (normalized, with how many are missing)."""
    old, new = normalized(visible_words(legacy)), normalized(visible_words(ours))
    return merge_rounded_numbers(missing_items(old, new), old, new)


def compare_index(legacy: str, ours: str) -> list[tuple[str, int]]:
    """index.html: legacy's prose is not copied, so compare what it shows about this log.

    Missing items are reported as `href=<target>` (a link target of legacy's, `#` anchors and
    external documentation excepted), `link=<text>` (the text of such a link; for legacy's own
    prose links only the numbers in it count, and texts such as "here" are not compared), or a
    plain word: compile id labels (texts of `<a id=..>` and `<a href="#..">`) and the words of
    legacy's data regions, the stack tries and the "Build products" list (file names, cache
    markers, output numbers, frames).
    """
    old, new = parse_page(legacy, regions=True), parse_page(ours)
    new_words = normalized("".join(new.parts).split())
    kept = [(href, text) for href, text in old.links
            if not href.startswith("#") and href not in EXTERNAL_DOC_LINKS]
    items = missing_items([f"href={h}" for h, _ in kept],
                          [f"href={h}" for h, _ in new.links if not h.startswith("#")])
    items += missing_items([f"link={t}" for h, t in kept if h not in PROSE_LINKS and t not in PROSE_LINK_TEXTS],
                           [f"link={t}" for _, t in new.links])
    numbers = [w for h, t in kept if h in PROSE_LINKS for w in normalized(t.split()) if w.isdigit()]
    # The labels are also words of the data regions: check each list on its own, keep the worse.
    labels = missing_items(normalized(old.anchor_labels) + numbers, new_words)
    words = missing_items(normalized("".join(old.region_parts).split()), new_words)
    worst = dict(labels)
    for word, count in words:
        worst[word] = max(count, worst.get(word, 0))
    return items + list(worst.items())


# --------------------------------------------------------------------------------------------
# Text files: byte equality


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            chunk = fa.read(1 << 20)
            if chunk != fb.read(1 << 20):
                return False
            if not chunk:
                return True


def _snippet(text: str | None, column: int) -> str:
    if text is None:
        return "<end of file>"
    start = max(0, column - SNIPPET // 2)
    shown = repr(text[start:start + SNIPPET])[1:-1]
    return ("…" if start else "") + shown + ("…" if start + SNIPPET < len(text) else "")


def first_difference(legacy: Path, ours: Path) -> str | None:
    """None if the files are byte-identical, else where they first differ (line, column, both versions)."""
    if _same_bytes(legacy, ours):
        return None
    with open(legacy, "rb") as fa, open(ours, "rb") as fb:
        for number, (a, b) in enumerate(zip_longest(fa, fb), 1):
            if a != b:
                old, new = (None if x is None else x.decode("utf-8", errors="replace") for x in (a, b))
                column = 0
                if old is not None and new is not None:
                    column = next((i for i, (x, y) in enumerate(zip(old, new, strict=False)) if x != y),
                                  min(len(old), len(new)))
                return (f"line {number} col {column + 1}: legacy `{_snippet(old, column)}` "
                        f"vs ours `{_snippet(new, column)}`")
    return "contents differ"  # pragma: no cover (same lines but different bytes is impossible)


def _rounding_differences(old: Any, new: Any) -> int | None:
    """How many floats differ only in their last bits; None if anything else differs."""
    if isinstance(old, float) and isinstance(new, float):
        if old == new:
            return 0
        return 1 if abs(old - new) <= MAX_ULPS * math.ulp(max(abs(old), abs(new))) else None
    if type(old) is not type(new):
        return None
    if isinstance(old, dict):
        if list(old) != list(new):
            return None
        counts = [_rounding_differences(old[k], new[k]) for k in old]
    elif isinstance(old, list):
        if len(old) != len(new):
            return None
        counts = [_rounding_differences(a, b) for a, b in zip(old, new, strict=True)]
    else:
        return 0 if old == new else None
    return None if None in counts else sum(c for c in counts if c is not None)


def json_rounding_only(legacy: Path, ours: Path) -> int | None:
    """For JSON / JSON Lines files that differ: the number of floats that differ only by
    rounding (legacy's serde_json parses floats inexactly), or None for any other difference."""
    try:
        if legacy.suffix == ".jsonl":
            with open(legacy, "rb") as fa, open(ours, "rb") as fb:
                total = 0
                for a, b in zip_longest(fa, fb):
                    if a == b:
                        continue
                    if a is None or b is None:
                        return None
                    count = _rounding_differences(json.loads(a), json.loads(b))
                    if count is None:
                        return None
                    total += count
                return total
        return _rounding_differences(json.loads(legacy.read_bytes()), json.loads(ours.read_bytes()))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Findings and directory comparison


@dataclass
class Finding:
    """One file that is missing, extra or different (or a tool that failed: kind `error`)."""

    kind: str
    path: str
    detail: str = ""
    items: list[tuple[str, int]] = field(default_factory=list)  # HTML: missing words and counts
    allowed: list[str] = field(default_factory=list)  # reasons, when allowlisted
    allowed_items: int = 0  # how many missing words an allowlist entry accepted

    def line(self) -> str:
        text = f"{self.kind.upper()} {self.path}"
        if self.detail:
            text += f": {self.detail}"
        if self.allowed:
            text += f"  allowed ({'; '.join(self.allowed)})"
        return text

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "detail": self.detail,
                "missing": [{"word": w, "count": n} for w, n in self.items], "allowed": self.allowed}


def describe_missing(items: Sequence[tuple[str, int]], allowed: int = 0) -> str:
    total = sum(n for _, n in items)
    shown = ", ".join(w if n == 1 else f"{w} ×{n}" for w, n in items[:MAX_WORDS_SHOWN])
    more = f", … ({len(items) - MAX_WORDS_SHOWN} more)" if len(items) > MAX_WORDS_SHOWN else ""
    note = f" ({allowed} more allowlisted)" if allowed else ""
    return f"{total} missing from ours: {shown}{more}{note}"


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def is_infrastructure(path: str) -> bool:
    return any(path.startswith(prefix) for prefix in OUR_INFRASTRUCTURE)


@dataclass
class LazyReader:
    """Opens the lazy blocks of our pages (default mode), sharing parsed shards between pages."""

    root: Path
    cache: ShardCache = field(default_factory=dict)

    def open(self, html: str, page: Path) -> str:
        if "data-tlp-src" not in html:
            return html
        return open_lazy_blocks(html, page, self.root, self.cache)


def compare_file(path: str, legacy: Path, ours: Path, lazy: LazyReader | None = None) -> Finding | None:
    """A finding if ours shows less (HTML) or differs (other files); `lazy` opens our lazy blocks first."""
    if path.endswith((".html", ".htm")):
        old = legacy.read_text(encoding="utf-8", errors="replace")
        new = ours.read_text(encoding="utf-8", errors="replace")
        if lazy is not None:
            try:
                new = lazy.open(new, ours)
            except LazyError as error:
                return Finding("error", path, f"lazy block: {error}")
        items = compare_index(old, new) if path == "index.html" else compare_html(old, new)
        return Finding("different", path, describe_missing(items), items) if items else None
    detail = first_difference(legacy, ours)
    if detail and path.endswith((".json", ".jsonl")):
        rounded = json_rounding_only(legacy, ours)
        if rounded:
            return Finding("different", path, f"{rounded} float(s) differ only by rounding; first at {detail}",
                           [(FLOAT_ROUNDING, rounded)])
    return Finding("different", path, detail) if detail else None


def compare_dirs(legacy: Path, ours: Path, lazy: bool = False) -> tuple[int, list[Finding]]:
    """Compare two report directories: (number of files compared, findings sorted by path).

    `lazy`: ours is a default-mode report, read with every lazy block open."""
    reader = LazyReader(ours) if lazy else None
    old, new = _files(legacy), _files(ours)
    new -= {p for p in new - old if is_infrastructure(p)}
    findings: list[Finding] = []
    for path in sorted(old | new):
        if path not in new:
            findings.append(Finding("missing", path))
        elif path not in old:
            findings.append(Finding("extra", path))
        elif (finding := compare_file(path, legacy / path, ours / path, reader)) is not None:
            findings.append(finding)
    return len(old | new), findings


# --------------------------------------------------------------------------------------------
# Allowlist


class AllowlistError(Exception):
    """legacy_allowlist.yaml is malformed; the message names the entry."""


ENTRY_KEYS = ("path", "kind", "words", "reason", "logs")


@dataclass(frozen=True)
class AllowEntry:
    """One intentional difference: `path` and `logs` are fnmatch globs (`*` also matches `/`)."""

    number: int
    path: str
    kind: str
    reason: str
    words: tuple[str, ...] | None = None
    logs: tuple[str, ...] | None = None

    def matches(self, kind: str, path: str, log_name: str | None) -> bool:
        if self.kind not in ("any", kind) or not fnmatch.fnmatchcase(path, self.path):
            return False
        if self.logs is None:
            return True
        return log_name is not None and any(fnmatch.fnmatchcase(log_name, g) for g in self.logs)

    def allows_word(self, word: str) -> bool:
        return self.words is None or any(fnmatch.fnmatchcase(word, w) for w in self.words)

    def label(self) -> str:
        return f"entry {self.number} (path {self.path!r}, kind {self.kind})"


def _string_list(value: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise AllowlistError(f"{where}: '{key}' must be a non-empty list of non-empty strings")
    return tuple(value)


def parse_allowlist(data: Any, source: str = "allowlist") -> list[AllowEntry]:
    """Validate the loaded YAML (a list of entries) and return the entries."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise AllowlistError(f"{source}: the top level must be a list of entries, not {type(data).__name__}")
    entries = []
    for number, raw in enumerate(data, 1):
        where = f"{source}: entry {number}"
        if not isinstance(raw, dict):
            raise AllowlistError(f"{where}: must be a mapping with keys {', '.join(ENTRY_KEYS)}")
        if isinstance(raw.get("path"), str):
            where += f" (path {raw['path']!r})"
        unknown = sorted(str(k) for k in raw if k not in ENTRY_KEYS)
        if unknown:
            raise AllowlistError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(ENTRY_KEYS)})")
        for key in ("path", "kind", "reason"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise AllowlistError(f"{where}: '{key}' is required (a non-empty string)")
        if raw["kind"] not in (*KINDS, "any"):
            raise AllowlistError(f"{where}: 'kind' must be one of {', '.join((*KINDS, 'any'))}, not {raw['kind']!r}")
        words = _string_list(raw["words"], "words", where) if "words" in raw else None
        if words is not None and raw["kind"] not in ("different", "any"):
            raise AllowlistError(f"{where}: 'words' only applies to kind different (or any)")
        logs = _string_list(raw["logs"], "logs", where) if "logs" in raw else None
        entries.append(AllowEntry(number, raw["path"], raw["kind"], " ".join(raw["reason"].split()), words, logs))
    return entries


def load_allowlist(path: Path) -> list[AllowEntry]:
    """Read and validate an allowlist file (see `legacy_allowlist.yaml` for the format)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AllowlistError(f"{path}: cannot read ({error.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise AllowlistError(f"{path}: not valid YAML: {error}") from None
    return parse_allowlist(data, str(path.name))


def apply_allowlist(findings: Iterable[Finding], entries: Sequence[AllowEntry], log_name: str | None,
                    used: set[int] | None = None) -> list[Finding]:
    """Mark allowlisted findings; an HTML finding is allowed once every missing word is.

    An entry without `words` allows the whole finding. Entries with `words` accept the missing
    words matching one of their globs; if others remain, the finding stays, listing only those.
    """
    used = used if used is not None else set()
    result = []
    for finding in findings:
        matching = [e for e in entries if finding.kind in KINDS and e.matches(finding.kind, finding.path, log_name)]
        whole = [e for e in matching if e.words is None]
        if whole:
            used.update(e.number for e in whole)
            finding = replace(finding, allowed=[whole[0].reason])
        elif matching and finding.items:
            remaining, reasons = [], []
            for word, count in finding.items:
                entry = next((e for e in matching if e.allows_word(word)), None)
                if entry is None:
                    remaining.append((word, count))
                else:
                    used.add(entry.number)
                    if entry.reason not in reasons:
                        reasons.append(entry.reason)
            accepted = sum(n for _, n in finding.items) - sum(n for _, n in remaining)
            if not remaining:
                finding = replace(finding, allowed=reasons)
            elif accepted:
                finding = replace(finding, items=remaining, allowed_items=accepted,
                                  detail=describe_missing(remaining, accepted))
        result.append(finding)
    return result


# --------------------------------------------------------------------------------------------
# Reports


@dataclass
class LogReport:
    """The outcome for one log in one mode (or one pair of directories)."""

    name: str
    files: int
    findings: list[Finding]
    mode: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.mode})" if self.mode else self.name

    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.allowed]

    @property
    def ok(self) -> bool:
        return not self.failures()

    def counts(self) -> dict[str, int]:
        failing = Counter(f.kind for f in self.failures())
        return {kind: failing[kind] for kind in (*KINDS, "error")} | {
            "allowlisted": sum(1 for f in self.findings if f.allowed)}


def summary_line(reports: Sequence[LogReport], label: str = "legacy-diff") -> str:
    """One line: files compared, failing findings by kind, allowlisted ones, OK or FAIL."""
    total = Counter[str]()
    for report in reports:
        total.update(report.counts())
    text = (f"{label}: {sum(r.files for r in reports)} files compared, {total['missing']} missing, "
            f"{total['extra']} extra, {total['different']} different")
    if total["error"]:
        text += f", {total['error']} tool error{'s' if total['error'] > 1 else ''}"
    text += f" ({total['allowlisted']} allowlisted)"
    return text + (" — OK" if all(r.ok for r in reports) else " — FAIL")


def format_report(reports: Sequence[LogReport], verbose: bool = False) -> list[str]:
    lines = []
    for report in reports:
        lines += [f.line() for f in report.findings if verbose or not f.allowed]
        if len(reports) > 1:
            lines.append(summary_line([report], f"legacy-diff {report.label}"))
    logs = len({r.name for r in reports})
    modes = len({r.mode for r in reports})
    label = "legacy-diff"
    if len(reports) > 1:
        label += f" total ({logs} log{'s' if logs > 1 else ''}" + (f", {modes} modes)" if modes > 1 else ")")
    return [*lines, summary_line(reports, label)]


# --------------------------------------------------------------------------------------------
# Running both tools


def mode_flags(log: Path) -> tuple[str, ...]:
    """The flags a log was made for, given to both tools: `-e` for export logs (legacy's
    `export*.log` tests and torch-2.13's `08_export`), `-i` for inductor provenance logs."""
    if log.name.startswith("export") or log.parent.name == "08_export":
        return ("-e",)
    if log.name.startswith("inductor_provenance"):
        return ("-i",)
    return ()


def corpus_logs(large: bool | None = None, corpus: Path = CORPUS) -> list[Path]:
    """Every single-rank corpus log (CI compares all of them, each with its `mode_flags`).

    tlparse-0.4.3-tests: the top-level `*.log`/`*.txt`. torch-2.13: `*/*.log` except
    `10_multi_rank`; `11_large/*.log.xz` only if `large` (default: env TLPARSE_LEGACY_DIFF_LARGE=1).
    """
    if large is None:
        large = os.environ.get(LARGE_ENV, "") not in ("", "0")
    tests = corpus / "tlparse-0.4.3-tests"
    logs = [*tests.glob("*.log"), *tests.glob("*.txt")]
    logs += [p for p in (corpus / "torch-2.13").glob("*/*.log") if p.parent.name != "10_multi_rank"]
    if large:
        logs += (corpus / "torch-2.13" / "11_large").glob("*.log.xz")
    return sorted(p for p in logs if p.is_file())


def copy_log(log: Path, directory: Path) -> Path:
    """Copy (or decompress an `.xz`) into directory, keeping the name (without `.xz`)."""
    directory.mkdir(parents=True, exist_ok=True)
    if log.suffix == ".xz":
        target = directory / log.stem
        with lzma.open(log) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)
    else:
        target = directory / log.name
        shutil.copyfile(log, target)
    return target


def run_tool(name: str, command: Sequence[str], log: Path, out: Path, *extra: str) -> Finding | None:
    """Run one tool into out; a Finding of kind `error` if it fails."""
    argv = [*command, str(log), "-o", str(out), "--no-browser", "--overwrite", *extra]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Finding("error", name, f"`{shlex.join(argv)}` did not run: {error}")
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        return Finding("error", name, f"exit {result.returncode}: {tail}")
    return None


def default_ours_cmd() -> list[str]:
    return [str(DEFAULT_OURS)] if DEFAULT_OURS.exists() else [sys.executable, "-m", "tlparse_tasks"]


def diff_log(log: Path, legacy_cmd: Sequence[str], ours_cmd: Sequence[str], allowlist: Sequence[AllowEntry],
             keep: Path | None = None, used: set[int] | None = None,
             modes: Sequence[str] = MODES, flags: Sequence[str] | None = None) -> list[LogReport]:
    """Run legacy once and ours once per mode on (a copy of) log; one report per mode.

    `flags` go to both tools (default: the log's `mode_flags`). Reports go to `<work>/legacy`
    and `<work>/ours-<mode>`; a failure of legacy is reported in the first mode's report only."""
    flags = mode_flags(log) if flags is None else tuple(flags)
    reports: list[LogReport] = []
    with tempfile.TemporaryDirectory(prefix="legacy-diff-") as scratch:
        work = keep / log.name if keep is not None else Path(scratch)
        copy = copy_log(log, work / "input")
        legacy_error = run_tool("legacy", legacy_cmd, copy, work / "legacy", *flags)
        (work / "legacy").mkdir(exist_ok=True)
        for mode in modes:
            ours = work / f"ours-{mode}"
            ours_error = run_tool("ours", ours_cmd, copy, ours, *flags, *(["--eager"] if mode == "eager" else []))
            ours.mkdir(exist_ok=True)
            errors = [e for e in (None if reports else legacy_error, ours_error) if e]
            files, findings = compare_dirs(work / "legacy", ours, lazy=mode != "eager")
            reports.append(LogReport(log.name, files, errors + apply_allowlist(findings, allowlist, log.name, used),
                                     mode))
    return reports


def diff_dirs(legacy: Path, ours: Path, allowlist: Sequence[AllowEntry], log_name: str | None = None,
              used: set[int] | None = None, lazy: bool = True) -> LogReport:
    """Compare two existing report directories (allowlist entries with `logs` need log_name);
    `lazy`: open our lazy blocks first (a no-op on an --eager report)."""
    files, findings = compare_dirs(legacy, ours, lazy)
    return LogReport(log_name or ours.name, files, apply_allowlist(findings, allowlist, log_name, used))


# --------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="legacy-diff", description="Compare our tlparse report with legacy tlparse 0.4.3's, file by file.")
    parser.add_argument("logs", nargs="*", type=Path, metavar="LOG", help="TORCH_TRACE logs (.xz is decompressed)")
    parser.add_argument("--corpus", action="store_true", help="also every single-rank corpus log")
    parser.add_argument("--flags", help="flags for both tools, e.g. \"-e\" (default: by log name, see mode_flags)")
    parser.add_argument("--large", action="store_true", help=f"with --corpus, include 11_large (or {LARGE_ENV}=1)")
    parser.add_argument("--legacy", type=Path, default=DEFAULT_LEGACY, help="the legacy tlparse binary")
    parser.add_argument("--ours-cmd", help="our tlparse command (shell words; --eager is appended in eager mode)")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both",
                        help="run ours with --eager, without (lazy blocks opened to compare), or both (default); "
                             "with --legacy-out/--ours-out, `eager` leaves lazy blocks closed")
    parser.add_argument("--allowlist", type=Path, default=DEFAULT_ALLOWLIST, help="intentional differences")
    parser.add_argument("--keep", type=Path, help="keep the input and the reports in DIR/<log name>/")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print allowlisted findings and unused allowlist entries")
    parser.add_argument("--legacy-out", type=Path, metavar="DIR", help="compare this legacy report ...")
    parser.add_argument("--ours-out", type=Path, metavar="DIR", help="... with this one of ours (runs nothing)")
    parser.add_argument("--log-name", help="with --legacy-out/--ours-out: the log name for `logs:` entries")
    return parser


def _usage_error(args: argparse.Namespace) -> str | None:
    dirs = (args.legacy_out, args.ours_out)
    if any(dirs) and not all(dirs):
        return "--legacy-out and --ours-out go together"
    if all(dirs):
        if args.logs or args.corpus:
            return "give either logs or --legacy-out/--ours-out, not both"
        missing = [str(d) for d in dirs if not d.is_dir()]
        return f"not a directory: {', '.join(missing)}" if missing else None
    if not args.logs and not args.corpus:
        return "nothing to compare: give LOG(s), --corpus, or --legacy-out DIR --ours-out DIR"
    missing = [str(p) for p in args.logs if not p.is_file()]
    if missing:
        return f"no such log: {', '.join(missing)}"
    if not args.legacy.exists():
        return f"legacy tlparse not found at {args.legacy} (scripts/test installs it into .legacy-venv)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    if cwd := os.environ.pop(CWD_ENV, None):
        os.chdir(cwd)  # scripts/legacy-diff: relative paths are the caller's
    parser = build_parser()
    args = parser.parse_args(argv)
    if (problem := _usage_error(args)) is not None:
        parser.error(problem)
    logs = [*args.logs, *(corpus_logs(args.large or None) if args.corpus else [])]
    if not args.legacy_out and not logs:
        parser.error(f"no corpus logs found under {CORPUS}")
    try:
        allowlist = load_allowlist(args.allowlist)
    except AllowlistError as error:
        print(f"legacy-diff: error: {error}", file=sys.stderr)
        return 2
    used: set[int] = set()
    if args.legacy_out:
        reports = [diff_dirs(args.legacy_out, args.ours_out, allowlist, args.log_name, used, args.mode != "eager")]
    else:
        ours_cmd = shlex.split(args.ours_cmd) if args.ours_cmd else default_ours_cmd()
        modes = MODES if args.mode == "both" else (args.mode,)
        reports = [report for log in logs
                   for report in diff_log(log, [str(args.legacy)], ours_cmd, allowlist, args.keep, used, modes,
                                          None if args.flags is None else shlex.split(args.flags))]
    if args.json:
        print(json.dumps({"ok": all(r.ok for r in reports), "summary": summary_line(reports), "logs": [
            {"log": r.name, "mode": r.mode, "files_compared": r.files, "ok": r.ok, "counts": r.counts(),
             "findings": [f.as_json() for f in r.findings]} for r in reports]}, indent=2, ensure_ascii=False))
    else:
        lines = format_report(reports, args.verbose)
        if args.verbose:
            lines[-1:-1] = [f"unused allowlist {e.label()}: {e.reason}" for e in allowlist if e.number not in used]
        print("\n".join(lines))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
