"""Why a cache lookup missed: the key components that differ from the closest earlier entry.

An FX graph (or AOT autograd) cache entry's payload lists its key `components`, each a line
`[digest] name: value` (`gm`, `example_inputs[0]`, `fx_kwargs[is_backward]`,
`inductor_config[…]`, …); the cache key is a hash of them all, so a miss means that at least
one component differs from every stored entry. For each miss we compare it with earlier
entries (hits and misses that logged components) and show only the components that differ.

- **Same graph**: an earlier entry of the same cache (`fx_graph_cache`, `aotautograd_cache`)
  that is either for the same frame in the same role (compiled-autograd id and frame id of the
  compile id, and the `fx_kwargs[is_backward]` / `fx_kwargs[is_inference]` components: a
  recompile of a frame's forward graph is compared with its earlier forward graphs), or has the
  identical graph (`gm` component digest), e.g. the same function compiled under another frame.
- **Closest**: of those, the entry with the fewest differing components; the latest on a tie.
  Only the last `CANDIDATES` entries of each group are kept, so memory stays bounded.
- Components compare by digest (by value when an entry gives no digest); a component present on
  one side only differs too (its other value is shown as absent).

Two streaming passes over cache.jsonl: the first keeps each entry's {name: digest} and picks the
closest entry for each miss; the second reads the values of just the differing components.
"""

from __future__ import annotations

import difflib
import re
import sys
from array import array
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress, count, filterfalse
from operator import not_
from typing import Any, cast

import orjson

from ..rules.compile_id import CompileId, display_of
from ..rules.status import cache_status_of_name
from .common import metadata_of, output_of

CANDIDATES = 16  # earlier entries kept per group
# Component lines repeat on every entry (a 1000-compile log: 150,000 lines, 1,200 distinct), so
# lines up to CACHED_CHARS long are parsed once per run, CACHED_LINES of them at most.
CACHED_CHARS = 512
CACHED_LINES = 100_000
SHOWN_CHARS = 160  # a value longer than this is cut, with the whole one behind a disclosure
WHOLE_CHARS = 20_000  # the disclosure holds at most this much; the artifact has the rest
ROLE_COMPONENTS = ("fx_kwargs[is_backward]", "fx_kwargs[is_inference]")
GRAPH_COMPONENT = "gm"
_COMPONENT = re.compile(r"\[([A-Za-z0-9]{1,128})\] ")


@dataclass(frozen=True)
class Component:
    """One key component: `[digest] name: value`."""

    name: str
    digest: str
    value: str


def parse_component(text: str) -> Component:
    """A component line; without a `[digest]` prefix the value itself is the digest."""
    match = _COMPONENT.match(text)
    digest = match.group(1) if match else ""
    body = text[match.end():] if match else text
    name, _sep, value = body.partition(": ")
    return Component(name, digest, value)


def component_lines(payload: Any) -> list[str] | None:
    """The component lines of a cache artifact's payload (JSON text or an object); None when it
    logs none (e.g. `aotautograd_cache_miss` in torch 2.13) or is not JSON."""
    if isinstance(payload, str):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(payload, dict):
        return None
    lines = payload.get("components")
    if not isinstance(lines, list) or not lines:
        return None
    if set(map(type, lines)) == {str}:
        return lines
    return [line for line in lines if isinstance(line, str)]


def components_of(payload: Any) -> list[Component] | None:
    """The parsed components of a payload (see `component_lines`)."""
    lines = component_lines(payload)
    return None if lines is None else [parse_component(line) for line in lines]


def compared(component: Component) -> tuple[str, str]:
    """(name, what compares): the digest, or the value when the line has none; interned, since
    thousands of entries repeat the same names and digests."""
    return sys.intern(component.name), sys.intern(component.digest) if component.digest else component.value


def signature(components: Iterable[Component]) -> dict[str, str]:
    """name → digest (the value when there is no digest); a repeated name gets `#2`, `#3`…"""
    return signature_of([compared(c) for c in components])


def signature_of(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """`signature` from (name, digest-or-value) pairs."""
    found = dict(pairs)
    if len(found) == len(pairs):  # no repeated name: the common case, all in C
        return found
    found = {}
    next_count: dict[str, int] = {}  # per name, the first `#N` not yet tried: linear in repeats
    for base, key in pairs:
        name = base
        number = next_count.get(base, 2)
        while name in found:
            name = f"{base}#{number}"
            number += 1
        next_count[base] = number
        found[sys.intern(name)] = key
    return found


def differing(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Component names whose digests differ or that only one side has, in the new entry's order
    (then the old one's)."""
    names = [n for n in new if old.get(n) != new[n]]
    return names + [n for n in old if n not in new]


@dataclass(frozen=True)
class Ref:
    """Which cache artifact: its log line, compile id, cache, status and report file."""

    line: int
    directory: str
    cache: str  # fx_graph_cache, aotautograd_cache, …
    status: str
    url: str | None

    @property
    def display(self) -> str:
        return display_of(self.directory)


@dataclass(frozen=True)
class SavedNumbers:
    """A restored entry's components as its state wrote them: its place among the state's
    entries, and its numbers (`MissFinder.to_json`) in the state's table of pairs."""

    index: int
    code: str
    text: str
    pairs: list[tuple[str, str]]

    def numbers(self) -> array[int]:
        return _numbers_of(self.code, self.text)


class Entry:
    """A cache artifact that logged key components (kept only while it may be compared). One
    restored from a state decodes its components when first asked: only the entries of the
    groups that new records reach are ever compared again."""

    __slots__ = ("_components", "ref", "saved")

    def __init__(self, ref: Ref, components: dict[str, str] | None = None, saved: SavedNumbers | None = None) -> None:
        self.ref = ref
        self._components = components
        self.saved = saved

    @property
    def components(self) -> dict[str, str]:
        if self._components is None:
            assert self.saved is not None, "an entry has its components or their saved numbers"
            self._components = dict(map(self.saved.pairs.__getitem__, self.saved.numbers()))
        return self._components


@dataclass
class Miss:
    """A miss and the closest earlier entry of the same graph (None: the first of its graph),
    with the names of the components that differ."""

    entry: Ref
    closest: Ref | None
    names: list[str] = field(default_factory=list)


def cache_of(name: str, status: str) -> str:
    """`fx_graph_cache_miss` → `fx_graph_cache`."""
    cache, _sep, _rest = name.partition(f"_{status}")
    return cache or name


def groups_of(entry: Entry) -> list[tuple[Any, ...]]:
    """The "same graph" groups an entry belongs to (see the module docstring)."""
    cid = CompileId.from_directory(entry.ref.directory)
    frame = (cid.compiled_autograd_id, cid.frame_id) if cid else (entry.ref.directory,)
    role = tuple(entry.components.get(n) for n in ROLE_COMPONENTS)
    groups: list[tuple[Any, ...]] = [(entry.ref.cache, "frame", *frame, *role)]
    graph = entry.components.get(GRAPH_COMPONENT)
    if graph is not None:
        groups.append((entry.ref.cache, "graph", graph))
    return groups


def closest(entry: Entry, candidates: Iterable[Entry]) -> tuple[Entry | None, list[str]]:
    """The candidate with the fewest differing components (the latest on a tie)."""
    best: Entry | None = None
    best_names: list[str] = []
    for candidate in candidates:
        names = differing(candidate.components, entry.components)
        if best is None or len(names) < len(best_names) or (
                len(names) == len(best_names) and candidate.ref.line > best.ref.line):
            best, best_names = candidate, names
    return best, best_names


class MissFinder:
    """Pass 1, fed one cache.jsonl record at a time: every miss that logged components, with
    its closest earlier entry (`misses`), and how many misses logged none (`bare`)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[Any, ...], deque[Entry]] = {}
        self.misses: list[Miss] = []
        self.bare = 0
        self.parsed: dict[str, tuple[str, str]] = {}  # component line → `compared` pair
        self.saved_pairs: list[tuple[str, str]] | None = None  # the table of the state restored

    def signature(self, lines: list[str]) -> dict[str, str]:
        """`signature` of these lines, each short line parsed once per run (lookups in C)."""
        parsed = self.parsed
        pairs: list[tuple[str, str] | None] = list(map(parsed.get, lines))
        for i in compress(count(), map(not_, pairs)):  # the lines not parsed yet
            line = lines[i]
            pair = pairs[i] = compared(parse_component(line))
            if len(line) <= CACHED_CHARS and len(parsed) < CACHED_LINES:
                parsed[line] = pair
        return signature_of(cast(list[tuple[str, str]], pairs))

    def feed(self, record: dict[str, Any]) -> None:
        name = str(metadata_of(record).get("name", ""))
        status = cache_status_of_name(name)
        if status not in ("hit", "miss"):
            return
        lines = component_lines(record.get("payload"))
        if lines is None:
            self.bare += status == "miss"
            return
        output = output_of(record)
        ref = Ref(int(record.get("line") or 0), str(record.get("compile_id")), cache_of(name, status),
                  status, output["url"] if output else None)
        entry = Entry(ref, self.signature(lines))
        keys = groups_of(entry)
        if status == "miss":
            seen = {id(e): e for key in keys for e in self.groups.get(key, ())}
            best, names = closest(entry, seen.values())
            self.misses.append(Miss(ref, best.ref if best else None, names))
        for key in keys:
            self.groups.setdefault(key, deque(maxlen=CANDIDATES)).append(entry)


    # -- a module state (record_state): the finder as JSON, and back -----------------------

    def to_json(self) -> dict[str, Any]:
        """The finder as JSON, its entries once each (a group shares them with others) and each
        entry's components as numbers in a table of (name, digest) pairs (an entry has hundreds,
        and most repeat from entry to entry), numbered as first met going through the groups.
        An entry's numbers are one string, the hex of an array of 16-bit (32 past 65,536 pairs)
        little-endian integers: array and hex do the work in C both ways, where a list of
        numbers, or a comma-separated string of them, had Python make an int object per
        component (a 99 MB log: 150,000). The line cache (`parsed`) only saves time and is left
        out, so the state depends on the records alone.

        As long as the groups lead to the restored entries in the order the saved state had them,
        the table so far is the saved one's beginning, and so are their numbers: their saved
        strings are written again as they were (`_Numbering`)."""
        numbering = _Numbering(self.saved_pairs)
        index: dict[int, int] = {}
        groups: list[list[Any]] = []
        for key, members in self.groups.items():
            numbers = []
            for entry in members:
                number = index.get(id(entry))
                if number is None:
                    number = index[id(entry)] = numbering.add(entry)
                numbers.append(number)
            groups.append([list(key), numbers])
        pairs, code, entries = numbering.result()
        misses = [[_ref_json(m.entry), _ref_json(m.closest) if m.closest else None, m.names] for m in self.misses]
        return {"pairs": pairs, "numbers": code, "entries": entries, "groups": groups, "misses": misses,
                "bare": self.bare}

    @staticmethod
    def from_json(data: dict[str, Any]) -> MissFinder:
        """The finder a state holds; its entries' components are decoded when first needed."""
        finder = MissFinder()
        pairs = finder.saved_pairs = [(str(name), str(digest)) for name, digest in data["pairs"]]
        code = data["numbers"]
        if code not in NUMBER_CODES:
            raise ValueError(f"numbers of an unknown width: {code!r}")
        entries = [Entry(_ref_of(ref), saved=SavedNumbers(number, code, str(text), pairs))
                   for number, (ref, text) in enumerate(data["entries"])]
        for key, numbers in data["groups"]:
            finder.groups[tuple(key)] = deque((entries[n] for n in numbers), maxlen=CANDIDATES)
        finder.misses = [Miss(_ref_of(entry), _ref_of(closest) if closest is not None else None,
                              [str(n) for n in names]) for entry, closest, names in data["misses"]]
        finder.bare = int(data["bare"])
        return finder


class _Numbering:
    """The entries of a state being written, numbered in order, and their table of pairs."""

    def __init__(self, saved_pairs: list[tuple[str, str]] | None) -> None:
        self.saved_pairs = saved_pairs
        self.in_step = saved_pairs is not None  # every entry so far is the saved one of its number
        self.used = 0  # while in step: the saved table's pairs numbered so far
        self.pairs: dict[tuple[str, str], int] = {}
        self.entries: list[tuple[Ref, SavedNumbers | array[int]]] = []

    def add(self, entry: Entry) -> int:
        number = len(self.entries)
        saved = entry.saved
        if self.in_step and saved is not None and saved.index == number and saved.pairs is self.saved_pairs:
            numbers = saved.numbers()
            self.used = max(self.used, max(numbers, default=-1) + 1)  # first met in order: the largest is the last
            self.entries.append((entry.ref, saved))
            return number
        if self.in_step:  # out of step from here: number the rest as they come
            self.in_step = False
            self.pairs = {pair: n for n, pair in enumerate((self.saved_pairs or [])[:self.used])}
        pairs = self.pairs
        items = entry.components.items()
        for pair in filterfalse(pairs.__contains__, items):  # the new ones, in order
            pairs[pair] = len(pairs)
        self.entries.append((entry.ref, array("I", map(pairs.__getitem__, items))))
        return number

    def result(self) -> tuple[list[tuple[str, str]], str, list[list[Any]]]:
        """The table, the numbers' type code and the entries as JSON."""
        pairs = list(self.pairs) if not self.in_step else (self.saved_pairs or [])[:self.used]
        code = NUMBER_CODES[0] if len(pairs) <= 1 << 16 else NUMBER_CODES[1]
        entries = []
        for ref, numbers in self.entries:
            if isinstance(numbers, SavedNumbers):
                text = numbers.text if numbers.code == code else _hex_numbers(array(code, numbers.numbers()))
            else:
                text = _hex_numbers(array(code, numbers))
            entries.append([_ref_json(ref), text])
        return pairs, code, entries


#: Array type codes of a state's component numbers: 16 bits, or 32 past 65,536 pairs.
NUMBER_CODES = ("H", "I")


def _hex_numbers(numbers: array[int]) -> str:
    if sys.byteorder != "little":
        numbers.byteswap()
    return numbers.tobytes().hex()


def _numbers_of(code: str, text: str) -> array[int]:
    numbers = array(code, bytes.fromhex(text))
    if sys.byteorder != "little":
        numbers.byteswap()
    return numbers


def _ref_json(ref: Ref) -> list[Any]:
    return [ref.line, ref.directory, ref.cache, ref.status, ref.url]


def _ref_of(data: list[Any]) -> Ref:
    line, directory, cache, status, url = data
    return Ref(int(line), str(directory), str(cache), str(status), None if url is None else str(url))


def find_misses(records: Iterable[dict[str, Any]]) -> MissFinder:
    finder = MissFinder()
    for record in records:
        finder.feed(record)
    return finder


# -- pass 2: the values shown ------------------------------------------------------------------

@dataclass(frozen=True)
class ShownValue:
    """A value as the page shows it: cut to `SHOWN_CHARS`, the whole (to `WHOLE_CHARS`) behind
    a disclosure when it was cut."""

    short: str
    whole: str | None
    absent: bool = False
    clipped: bool = False  # the whole value is longer still: see the artifact


def kept_value(value: str) -> str:
    """As much of a value as the page can show (`shown`, `line_diff`): one character past
    WHOLE_CHARS says it was longer."""
    return value[:WHOLE_CHARS + 1]


def shown(value: str | None) -> ShownValue:
    if value is None:
        return ShownValue("", None, absent=True)
    if len(value) <= SHOWN_CHARS and "\n" not in value:
        return ShownValue(value, None)
    first = value.split("\n", 1)[0][:SHOWN_CHARS]
    return ShownValue(first + " …", value[:WHOLE_CHARS], clipped=len(value) > WHOLE_CHARS)


@dataclass(frozen=True)
class DiffLine:
    """A line of a unified diff: `add`, `del`, `hunk` or `same`."""

    kind: str
    text: str


def line_diff(old: str | None, new: str | None) -> tuple[DiffLine, ...]:
    """A unified diff of two multi-line values (a graph's code), empty for one-line values."""
    if old is None or new is None or ("\n" not in old and "\n" not in new):
        return ()
    lines = difflib.unified_diff(old[:WHOLE_CHARS].splitlines(), new[:WHOLE_CHARS].splitlines(),
                                 "earlier", "this miss", n=2, lineterm="")
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    return tuple(DiffLine(kinds.get(line[:1], "same"), line) for line in lines
                 if not line.startswith(("--- ", "+++ ")))


@dataclass(frozen=True)
class Change:
    """One differing component: its name, old and new value, and a line diff of multi-line
    values."""

    name: str
    old: ShownValue
    new: ShownValue
    diff: tuple[DiffLine, ...] = ()


@dataclass(frozen=True)
class MissView:
    """A miss as the page shows it."""

    display: str
    cache: str
    url: str | None
    old_display: str | None
    old_url: str | None
    old_status: str | None
    changes: tuple[Change, ...]
    more: int  # differing components not shown


def needed_values(misses: Iterable[Miss], limit: int) -> dict[int, set[str]]:
    """log line → the component names whose values the page shows."""
    needed: dict[int, set[str]] = {}
    for miss in misses:
        if miss.closest is None:
            continue
        names = miss.names[:limit]
        needed.setdefault(miss.entry.line, set()).update(names)
        needed.setdefault(miss.closest.line, set()).update(names)
    return needed


def read_values(records: Iterable[dict[str, Any]], needed: dict[int, set[str]],
                parsed: dict[str, tuple[str, str]] | None = None) -> dict[tuple[int, str], str]:
    """Pass 2: (log line, component name) → value, for the needed ones only. `parsed` is pass
    1's `MissFinder.parsed`: the names of the lines it holds are known without parsing them."""
    known = parsed or {}
    values: dict[tuple[int, str], str] = {}
    for record in records:
        line = int(record.get("line") or 0)
        names = needed.get(line)
        if not names:
            continue
        texts = component_lines(record.get("payload")) or []
        bases = [pair[0] if (pair := known.get(text)) is not None else parse_component(text).name
                 for text in texts]
        where = {base: i for i, base in enumerate(bases)}
        if len(where) < len(bases):  # a repeated name: the later ones are `name#2`, `name#3`…
            seen: dict[str, int] = {}
            where = {}
            for i, base in enumerate(bases):
                number = seen[base] = seen.get(base, 0) + 1
                if number > 1:
                    where[f"{base}#{number}"] = i
                else:
                    where[base] = i
        for name in names:
            if name in where:
                values[(line, name)] = parse_component(texts[where[name]]).value
    return values


def change(name: str, old: str | None, new: str | None) -> Change:
    return Change(name, shown(old), shown(new), line_diff(old, new))


def miss_views(misses: Iterable[Miss], values: dict[tuple[int, str], str], limit: int) -> list[MissView]:
    """The misses that have an earlier entry of their graph, with their changes."""
    views = []
    for miss in misses:
        old = miss.closest
        if old is None:
            continue
        changes = tuple(change(n, values.get((old.line, n)), values.get((miss.entry.line, n)))
                        for n in miss.names[:limit])
        views.append(MissView(miss.entry.display, miss.entry.cache, miss.entry.url, old.display, old.url,
                              old.status, changes, max(0, len(miss.names) - limit)))
    return views
