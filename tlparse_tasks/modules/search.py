"""search (lazy): an `input#search` on the index that finds pages and compile ids as you type.

The index is a token → postings map in JS scripts that `static/search.js` loads when a word is
typed, so it works from file:// (`data/search/…`; `search/…` in an `--eager` report, which has
no lazy `data/` but whose search box still works when JavaScript is on). Tokens are grouped by
their first two characters (a shard, named `t-<prefix>`), and consecutive shards share a token
file up to `TOKEN_FILE_BYTES`, named after its first shard: creating a file costs more than
writing its bytes, so a small log gets one token file, not one per prefix. The page lists the
files; a word loads the last one whose name is <= its shard name and binary-searches its rows.
Documents (a page, or a compile id's entry in the compile directory) rank by where they come
from (compile ids, then output code, graphs, guards, artifacts, cache entries, other pages) and
are numbered by rank, in log order within one. A rank's full chunks of rows (`docs-<rank>-<n>`)
never change; the rows still being filled, and the compile ids' (whose notes change), share one
`docs-open` shard. A result loads only its row's chunk.

Incremental: the index as it stood at the parse's resume point is saved (search_state.py), so
after the log grew only the records after that point are read, and a rank's full chunks carry
over as units. A grown log only adds document numbers, so the saved postings stay valid.

What is indexed, from one streaming pass per subscribed file:
- every compile id of the manifest (its key `0/0` links to `#[0/0]`);
- every report file a typed record planned (`outputs`): its name words and compile id key, and
  the identifiers inside its payload (graphs, generated code, guards, artifacts such as graph
  break and recompile reasons, cache entries); index.jsonl adds the files of streams this module
  does not read (metrics pages).

Tokens are identifiers (`[A-Za-z_][A-Za-z0-9_]*`, lower-cased, deduplicated per document).
Bounds: `MAX_TOKENS_PER_DOC` content words per document, `MAX_POSTINGS` documents per token
(the true count is kept, so the page can say results were cut) and `MAX_TOKENS` distinct tokens
in all; payloads are not held past their own record. Memory while building is therefore bounded
by the caps, not by the log (and a chunk's rows, once it is full, by its digest).
"""

from __future__ import annotations

import hashlib
import re
from array import array
from bisect import bisect_right, insort
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from ..module_api import IndexEntry, ModuleContext, ModuleOutput, json_shard_script
from ..render import plural
from ..rules.compile_id import UNKNOWN_DISPLAY, group_of_directory
from ..rules.graph_break import parse_graph_break
from ..rules.recompile import decode_payload, reason_entries
from ..rules.status import cache_status_of_name
from ..rules.urls import fragment_href, report_href
from ..store.stable import StablePoint, stable_point
from ..store.streams import streams_of_type
from .common import metadata_of
from .search_state import Found, SavedIndex, SavedRank, load_state, save_state, state_key

ORDER = -20  # the very top of the index: before notices (-10) and the first-screen answers (-5)
SCRIPT = "search.js"  # written at the report root
SCRIPT_SOURCE = f"static/{SCRIPT}"
#: Streams whose payload words are indexed, in ranking order (earlier streams rank first on ties):
#: a kernel name finds its output code before the graphs that mention it.
CONTENT_STREAMS = ("codegen.jsonl", "graphs.jsonl", "guards.jsonl", "artifacts.jsonl", "cache.jsonl")
INDEX_STREAM = "index.jsonl"  # adds the files of streams this module does not read
#: Documents rank by where they come from: compile ids (0), then these streams (1 on). A document's
#: number is its rank and its place among that rank's documents (doc_number).
RANKED_STREAMS = (*CONTENT_STREAMS, INDEX_STREAM)
COMPILE_ID_RANK = 0
RANKS = 1 + len(RANKED_STREAMS)
RANK_SHIFT = 22  # up to 4M documents of a rank; a posting (number << 1 | in_name) fits 32 bits
OPEN_CHUNK = "docs-open"
PREFIX_CHARS = 2  # a shard holds the tokens starting with the same two characters
#: Consecutive shards share a token file up to this much JSON. A file costs ~0.5 ms to create
#: (more than the rest of a small report's search), a typed word loads one file, and 64 KB
#: parses in about a millisecond: a small log gets one file, a 100 MB log a few dozen.
TOKEN_FILE_BYTES = 64 << 10
MIN_TOKEN = 2
MAX_TOKEN = 80  # longer identifiers (blobs, not names) are skipped
MAX_TOKENS_PER_DOC = 2000  # distinct content words per document
MAX_POSTINGS = 100  # documents listed per token (the count stays exact)
MAX_TOKENS = 100_000  # distinct tokens in all
MAX_SCAN_CHARS = 4 << 20  # of one payload
MAX_NAME_PARTS = 8  # `_`-suffixes of a name word also indexed (`output_code…` in `inductor_output_code…`)
#: Documents per `docs-<n>` chunk: ~55 KB, about a token file's size. Not raised: a query loads the
#: chunks of the up to 50 results it shows, often spread over several, and only a big log has more
#: than one chunk (large.log: 15 of its 47 files).
DOCS_PER_SHARD = 500
RECENT_TEXTS = 256  # payloads whose words are remembered: at most RECENT_TEXTS * RECENT_CHARS characters
RECENT_CHARS = 16 << 10
NOTE_CHARS = 160
ESCAPE = re.compile(rb"\\[ntr]")  # JSON's escaped newlines: `\nfoo` is not the word `nfoo`
SLICE_CHARS = 64 << 10  # of a payload, tokenized at a time
WORD_END = re.compile(r"[^A-Za-z0-9_\\]")  # a safe place to cut a payload: no word, no escape
WORD_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789_"
#: Byte → itself inside an identifier (`[a-z0-9_]`), its lower case for `A-Z`, a space for any other
#: byte. Every byte of a non-ASCII character's UTF-8 is >= 0x80, so such a character separates
#: words, as it does for the pattern `[A-Za-z_][A-Za-z0-9_]*` that defines a word.
WORD_TABLE = bytes(c if c in WORD_BYTES else c + 32 if 65 <= c <= 90 else 32 for c in range(256))
DIGITS = b"0123456789"
SHARD_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
GRAPH_BREAK = "dynamo_graph_break_reason"
RECOMPILE = "recompile_reasons"

STREAM_KINDS = {"codegen.jsonl": "output code", "graphs.jsonl": "graph", "guards.jsonl": "guards"}
ARTIFACT_KINDS = {GRAPH_BREAK: "graph break", RECOMPILE: "recompile", "dynamo_error": "error"}


# -- words ---------------------------------------------------------------------------------------

def tokens(text: str, limit: int = MAX_TOKENS_PER_DOC) -> list[str]:
    """The distinct identifiers (`[A-Za-z_][A-Za-z0-9_]*`) of `text`, lower-cased, in order of
    first appearance, at most `limit` of them (the first `MAX_SCAN_CHARS` characters are read).

    Payloads reach megabytes, so no Python code runs per occurrence: one byte translation lower-cases
    and blanks every non-word byte, `split` gives the runs of word characters, and the runs are
    deduplicated before the per-word work (an identifier starts at a run's first letter or `_`,
    so its leading digits go; then the length bounds)."""
    runs: dict[bytes, None] = {}
    for piece in (text,) if len(text) <= SLICE_CHARS else slices(text[:MAX_SCAN_CHARS]):
        data = ESCAPE.sub(b" ", piece.encode("utf-8", "surrogatepass"))
        runs.update(dict.fromkeys(data.translate(WORD_TABLE).split()))
    words = dict.fromkeys(run.lstrip(DIGITS) for run in runs)  # `2abc` holds the word `abc`
    kept = [word for word in words if MIN_TOKEN <= len(word) <= MAX_TOKEN][:limit]
    return b" ".join(kept).decode("ascii").split(" ") if kept else []


def slices(text: str) -> Iterator[str]:
    """`text` in pieces of about `SLICE_CHARS`, each cut before a character that can neither be
    in a word nor start an escape (`\\n`), so the pieces hold the same words as the whole: the
    copies a piece is tokenized through stay small however large the payload (a guard dump
    reaches megabytes)."""
    start = 0
    while len(text) - start > SLICE_CHARS:
        cut = WORD_END.search(text, start + SLICE_CHARS)
        if cut is None:
            break
        yield text[start:cut.start()]
        start = cut.start()
    yield text[start:] if start else text


def name_tokens(name: str) -> list[str]:
    """Words of a file or artifact name, each also from every `_` inside it, so that
    `output_code` finds `inductor_output_code_x_14.html` (a query matches word prefixes)."""
    found: dict[str, None] = {}
    for word in tokens(name, limit=64):
        found[word] = None
        starts = [i + 1 for i, ch in enumerate(word) if ch == "_"][:MAX_NAME_PARTS]
        for start in starts:
            part = word[start:].lstrip("_")
            if len(part) >= MIN_TOKEN and part[0].isalpha():  # not `14` from `…_14`
                found[part] = None
    return list(found)


def compile_key(display: str) -> str | None:
    """`[0/0_1]` → `0/0_1`, the word a reader types for a compile id; None for `(unknown)`."""
    if display == UNKNOWN_DISPLAY or not display.startswith("["):
        return None
    return display.strip("[]").lower()


def shard_of(token: str) -> str:
    """The shard holding `token`: `t-` and its first two characters, those outside
    `[a-z0-9_]` as `-<hex>` (`0/` → `t-0-2f`); static/search.js computes the same."""
    return shard_of_prefix(token[:PREFIX_CHARS])


@lru_cache(maxsize=4096)
def shard_of_prefix(prefix: str) -> str:
    """`shard_of` by a token's first characters: tens of thousands of tokens, a few hundred prefixes."""
    return "t-" + "".join(c if c in SHARD_SAFE else f"-{ord(c):02x}" for c in prefix)


# -- documents -----------------------------------------------------------------------------------

class Doc(NamedTuple):
    """One search result: a link, what it is, its compile id, a line of context (a row of a
    `docs-<n>` chunk, in this order)."""

    href: str
    title: str
    kind: str
    cid: str
    note: str = ""


class IndexFull(Exception):
    """The index reached MAX_TOKENS in a resumed build: which words get in then depends on the
    order records come in, so the build starts again from the start of the store."""


@dataclass
class Postings:
    """Token → its postings (`Found`)."""

    lists: dict[str, Found] = field(default_factory=dict)
    dropped_tokens: int = 0  # (document, word) pairs left out because the index was full
    resumed: bool = False  # a resumed build raises IndexFull instead of dropping words
    ascending: bool = True  # every document so far came after the ones before it

    def add(self, number: int, words: dict[str, int]) -> None:
        """Document `number` holds `words` (word → 1 if in its name, in first-seen order). One
        loop with the lookups bound locally: this runs for every word of every document.

        A fresh build meets documents in ascending order (a rank at a time, up to the parse's
        resume point) and appends them. Afterwards (the records after the point, or a resumed
        build) an earlier rank's document may come after later ones': it is inserted in place,
        pushing the last one out of a full list (`place`)."""
        lists, ascending = self.lists, self.ascending
        base = number << 1
        for word, in_name in words.items():
            found = lists.get(word)
            if found is None:
                if len(lists) >= MAX_TOKENS:
                    if self.resumed:
                        raise IndexFull()
                    self.dropped_tokens += 1
                    continue
                lists[word] = base | in_name
                continue
            if isinstance(found, int):  # a second document: the array form
                found = lists[word] = array("I", (1, found))
            found[0] += 1
            if ascending:
                if len(found) <= MAX_POSTINGS:
                    found.append(base | in_name)
            else:
                place(found, base | in_name)

    @property
    def cut_tokens(self) -> int:
        return sum(1 for found in self.lists.values() if not isinstance(found, int) and found[0] >= len(found))

    def drain_rows(self, starts: list[int]) -> Iterator[list[Any]]:
        """`[token, count, [postings…]]` of every token, sorted by token, one at a time, each
        token leaving the postings as its row is made: the rows of a 100 MB log as a list would
        be ~10 MB of Python ints, and the postings ~8 MB more.

        The page numbers documents densely, a rank's from its start in `starts` on (the
        numbers stay short; the order is the same): a posting's rank picks what to add."""
        shift = RANK_SHIFT + 1
        deltas = [(start << 1) - (rank << shift) for rank, start in enumerate(starts)]
        lists = self.lists
        for token in sorted(lists):
            found = lists.pop(token)
            if isinstance(found, int):
                yield [token, 1, [found + deltas[found >> shift]]]
            else:
                yield [token, found[0], [posting + deltas[posting >> shift] for posting in found[1:]]]


def place(found: array[int], posting: int) -> None:
    """Put `posting` in its place in a token's count-then-postings array, kept to the first
    MAX_POSTINGS."""
    if len(found) > MAX_POSTINGS:  # full: only an earlier document gets in
        if posting < found[-1]:
            insort(found, posting, 1)
            found.pop()
    elif len(found) == 1 or posting > found[-1]:
        found.append(posting)
    else:
        insort(found, posting, 1)


def doc_number(rank: int, position: int) -> int:
    """A document's number: its rank (RANKED_STREAMS), then its place among that rank's
    documents in log order. Ties in the page rank by number, so output code comes before the
    graphs that mention the same kernel, and a grown log only adds numbers."""
    return rank << RANK_SHIFT | position


def chunk_name(rank: int, chunk: int) -> str:
    """The `docs-<rank>-<n>` shard of a rank's full chunk n (its documents from n * DOCS_PER_SHARD);
    a rank's other documents are in OPEN_CHUNK."""
    return f"docs-{rank}-{chunk}"


@dataclass
class RankDocs:
    """One rank's documents so far: how many, the rows of the chunk being filled, and the digest
    of each full chunk (the data of its unit: full chunks never change)."""

    count: int = 0
    rows: list[list[str]] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)


@dataclass
class SearchIndex:
    """Builds the shards while records stream by: full document chunks go out as they fill."""

    ctx: ModuleContext
    postings: Postings = field(default_factory=Postings)
    ranks: list[RankDocs] = field(default_factory=lambda: [RankDocs() for _ in range(RANKS)])
    compile_ids: int = 0  # manifest entries indexed (their documents' rows are made each run)
    docs_cut: int = 0  # documents whose content words were capped
    recent: OrderedDict[str, list[str]] = field(default_factory=OrderedDict)  # short text → its words

    @property
    def docs(self) -> int:
        return sum(rank.count for rank in self.ranks)

    def words_of(self, text: str) -> list[str]:
        """`tokens(text)`, remembered for the last `RECENT_TEXTS` short texts: artifacts repeat
        theirs compile after compile (a fifth of large.log's payload characters). Read only."""
        if len(text) > RECENT_CHARS:
            return tokens(text)
        found = self.recent.get(text)
        if found is None:
            found = self.recent[text] = tokens(text)
            if len(self.recent) > RECENT_TEXTS:
                self.recent.popitem(last=False)
        else:
            self.recent.move_to_end(text)
        return found

    def add(self, rank: int, doc: Doc | None, names: Iterable[str], content: Iterable[str] = ()) -> None:
        """Index one document of `rank`: its name words rank above its content words. A compile
        id's row (`doc` None) is made from the manifest when the chunks are written."""
        docs = self.ranks[rank]
        number = doc_number(rank, docs.count)
        docs.count += 1
        in_name = dict.fromkeys(names, 1)
        words = in_name | dict.fromkeys(content, 0)  # names first, then the other content words…
        words.update(in_name)  # … and a word in both is a name word
        self.postings.add(number, words)
        if doc is not None:
            docs.rows.append(list(doc))
            if len(docs.rows) == DOCS_PER_SHARD:
                self.close_chunk(rank)

    def close_chunk(self, rank: int) -> None:
        """A full chunk: a unit whose data is its rows' digest, so an updated report carries it
        over without holding its rows."""
        docs = self.ranks[rank]
        json = orjson.dumps(docs.rows)
        digest = hashlib.blake2b(json, digest_size=16).hexdigest()
        name = chunk_name(rank, len(docs.digests))
        docs.digests.append(digest)
        if self.ctx.unit(name, digest):
            write_shard_json(self.ctx, name, json)
        self.ctx.end_unit()
        docs.rows = []

    def write_open_chunks(self, compile_docs: list[Doc]) -> None:
        """One `docs-open` shard: by rank, the rows of the chunk still being filled, and every
        compile id's row (their notes change as the log grows, so they are made every run). A
        small log's documents are all in it: one file, not one per rank."""
        rows = [[list(doc) for doc in compile_docs], *(docs.rows for docs in self.ranks[1:])]
        write_shard(self.ctx, OPEN_CHUNK, rows)

    @property
    def starts(self) -> list[int]:
        """The page's number of each rank's first document (drain_rows)."""
        counts = [docs.count for docs in self.ranks]
        return [sum(counts[:rank]) for rank in range(len(counts))]

    @property
    def full_chunks(self) -> list[int]:
        """Each rank's count of full `docs-<rank>-<n>` chunks (the page needs it to find a row)."""
        return [len(docs.digests) for docs in self.ranks]


def pack(rows: Iterable[list[Any]], target: int) -> dict[str, bytes]:
    """Token files: file name (its first shard name) → the JSON of its rows, sorted by token.
    Consecutive shards (by name) share a file while it stays within `target` bytes; a shard is
    never split, so a file can exceed `target` only by holding one shard alone. The page finds
    a token's file as the last file name <= the token's shard name.

    `rows` come sorted by token, so each shard's rows are one run of them: each run is turned
    into JSON as it ends, and only JSON is kept (a tenth of the rows' size in Python objects)."""
    shards: dict[str, tuple[str, str, bytes]] = {}  # shard → its first token, last token, rows' JSON
    run: list[list[Any]] = []
    run_shard = ""
    for row in rows:
        shard = shard_of(row[0])
        if shard != run_shard:
            if run:
                shards[run_shard] = shard_rows(run)
            run, run_shard = [], shard
        run.append(row)
    if run:
        shards[run_shard] = shard_rows(run)
    groups: dict[str, list[tuple[str, str, bytes]]] = {}
    current: list[tuple[str, str, bytes]] = []
    size = 0
    for name in sorted(shards):
        grown = len(shards[name][2]) + 1  # `[a]` + `[b]` is `[a,b]`: one byte less than both
        if current and size + grown <= target:
            size += grown
        else:
            current = groups[name] = []
            size = grown + 1
        current.append(shards[name])
    return {name: joined_rows(group) for name, group in groups.items()}


def shard_rows(rows: list[list[Any]]) -> tuple[str, str, bytes]:
    """A shard's first and last token, and its rows' JSON without the enclosing brackets. The
    slice is also a copy of the right size: orjson's result keeps a 4 KB buffer however short."""
    return rows[0][0], rows[-1][0], orjson.dumps(rows)[1:-1]


def joined_rows(group: list[tuple[str, str, bytes]]) -> bytes:
    """One JSON list of the rows of consecutive shards, sorted by token. Shard names mostly sort
    as their tokens do, so the shards' JSON is joined as it is; where they do not (`t--21`, of
    `!1/0`, sorts before `t-00`), the file's rows are sorted again."""
    if all(before[1] < after[0] for before, after in pairwise(group)):
        return b"[" + b",".join(json for _, _, json in group) + b"]"
    rows = [row for _, _, json in group for row in orjson.loads(b"[" + json + b"]")]
    return orjson.dumps(sorted(rows, key=itemgetter(0)))


def shard_folder(ctx: ModuleContext) -> str:
    """Where the shards go: `data/<module>/` as every module's lazy data, but `search/` in an
    --eager report (it holds no lazy data; search is interactive either way)."""
    return f"{ctx.module_id}/" if ctx.eager else f"data/{ctx.module_id}/"


def write_shard(ctx: ModuleContext, shard: str, data: Any) -> None:
    """A shard script registering `data` as (module, shard) for TLP.load."""
    write_shard_json(ctx, shard, orjson.dumps(data))


def write_shard_json(ctx: ModuleContext, shard: str, json: bytes) -> None:
    """A shard script registering the JSON value `json` as (module, shard) for TLP.load."""
    ctx.write_bytes(shard_folder(ctx) + shard + ".js", json_shard_script(ctx.module_id, shard, json))


# -- records → documents -------------------------------------------------------------------------

def basename(path: str) -> str:
    return path.rpartition("/")[2]


def short(text: str) -> str:
    """One line of context for a result."""
    line = " ".join(text.split())
    return line if len(line) <= NOTE_CHARS else line[:NOTE_CHARS - 1] + "…"


def artifact_kind(record: dict[str, Any]) -> str:
    name = str(metadata_of(record).get("name") or "")
    status = cache_status_of_name(name)
    if status is not None:
        return f"cache {status}"
    return ARTIFACT_KINDS.get(name, "artifact")


def reason_note(record: dict[str, Any], payload: str) -> tuple[str, str]:
    """(the text whose words are indexed, a note) of graph break and recompile reasons, which
    are shown decoded; other payloads as they are with no note."""
    name = metadata_of(record).get("name")
    if name == GRAPH_BREAK:
        parsed = parse_graph_break(payload)
        headline = "; ".join(parsed.headlines) or parsed.context
        where = f"{parsed.location}: " if parsed.location else ""
        return payload, short(where + headline)
    if name == RECOMPILE:
        entries = reason_entries(decode_payload(payload))
        text = "\n".join(entry.text for entry in entries)
        return text, short(text)
    return payload, ""


@lru_cache(maxsize=4096)
def compile_id_words(directory: str) -> tuple[str, tuple[str, ...]]:
    """A record's compile id as shown, and the word it is found by (none for `(unknown)`);
    remembered, as many records share one."""
    cid = group_of_directory(directory)[1]
    key = compile_key(cid)
    return cid, (key,) if key else ()


@lru_cache(maxsize=256)
def type_words(record_type: str) -> tuple[str, ...]:
    """The name words of a record type (a few types, many records)."""
    return tuple(name_tokens(record_type))


def record_docs(record: dict[str, Any], kind: str) -> Iterator[tuple[Doc, list[str]]]:
    """A document per planned output of a record (the readable page too), with its name words."""
    cid, key = compile_id_words(str(record.get("compile_id")))
    for output in record.get("outputs") or ():
        for url in (output.get("url"), output.get("readable_url")):
            if not url:
                continue
            name = basename(str(url))
            yield Doc(report_href(str(url)), name, kind, cid), [
                *name_tokens(name), *type_words(str(record.get("type") or "")), *key]


def index_content(index: SearchIndex, stream: str, record: dict[str, Any]) -> None:
    """The record's files; the first carries the payload's words."""
    kind = artifact_kind(record) if stream in ("artifacts.jsonl", "cache.jsonl") else STREAM_KINDS[stream]
    payload = str(record.get("payload") or "")
    text, note = reason_note(record, payload) if stream == "artifacts.jsonl" else (payload, "")
    content = index.words_of(text) if text else []
    if len(content) >= MAX_TOKENS_PER_DOC:
        index.docs_cut += 1
    rank = RANKED_STREAMS.index(stream) + 1
    for position, (doc, names) in enumerate(record_docs(record, kind)):
        if note:
            doc = doc._replace(note=note)
        index.add(rank, doc, names, content if position == 0 else ())


def index_page(index: SearchIndex, record: dict[str, Any]) -> None:
    """An index.jsonl record: its files, when no content stream lists them."""
    if not listed_elsewhere(str(record.get("type"))):
        kind = "metrics" if "metrics" in str(record.get("type")) else "page"
        for doc, names in record_docs(record, kind):
            index.add(len(RANKED_STREAMS), doc, names)


@lru_cache(maxsize=256)
def listed_elsewhere(record_type: str) -> bool:
    """Whether a content stream holds entries of this type (their files are indexed there)."""
    return any(f"{stream}.jsonl" in CONTENT_STREAMS for stream in streams_of_type(record_type))


def compile_id_doc(entry: dict[str, Any]) -> tuple[Doc, str] | None:
    """A manifest compile id's document and the word it is found by; None for `(unknown)`."""
    display = str(entry.get("display_name") or "")
    key = compile_key(display)
    if not key:
        return None
    return Doc("#" + fragment_href(display), display, "compile id", display,
               f"{entry.get('status', '')}, {plural(int(entry.get('output_count') or 0), 'file')}"), key


def index_compile_ids(index: SearchIndex, entries: list[dict[str, Any]], end: int) -> None:
    """The manifest's compile ids up to `end` not indexed yet (their rows are made later)."""
    for entry in entries[index.compile_ids:end]:
        made = compile_id_doc(entry)
        if made is not None:
            index.add(COMPILE_ID_RANK, None, [made[1]])
    index.compile_ids = max(index.compile_ids, end)


def index_streams(index: SearchIndex, start: dict[str, int], stop: dict[str, int] | None) -> None:
    """Every record of the ranked streams between byte offsets `start` and `stop` (the end)."""
    for stream in RANKED_STREAMS:
        records = index.ctx.read_jsonl(stream, start=start.get(stream, 0), stop=stop[stream] if stop else None)
        for record in records:
            if stream == INDEX_STREAM:
                index_page(index, record)
            else:
                index_content(index, stream, record)


def prefix_end(entries: list[dict[str, Any]], line: int) -> int | None:
    """How many compile ids the manifest lists before log line `line` + 1 (it lists them in the
    order the log first names them); None if that order does not hold."""
    firsts = [int(entry.get("first_line") or 0) for entry in entries]
    end = bisect_right(firsts, line)
    return end if firsts == sorted(firsts) else None


def build_index(ctx: ModuleContext) -> SearchIndex:
    """The index of the whole store. Up to the parse's resume point (stable.py) it is what the
    last run saved, when that still holds; then its state at the point is saved for the next
    run, and the rest of the store is read. A resumed build that fills the index starts again."""
    entries = list(ctx.manifest.get("compile_ids") or ())
    point = stable_point(ctx.store)
    split = prefix_end(entries, point.line) if point is not None else None
    if point is None or split is None:
        return _build(ctx, entries, None, 0, None)
    key = state_key(ctx, shard_folder(ctx))
    saved = load_state(ctx, key, point, RANKED_STREAMS)
    if saved is not None and not carries_over(ctx, saved, split):
        saved = None
    try:
        return _build(ctx, entries, point, split, saved)
    except IndexFull:
        return _build(ctx, entries, point, split, None)


def carries_over(ctx: ModuleContext, saved: SavedIndex, split: int) -> bool:
    """The saved state fits this run: no more compile ids than the manifest lists before the
    point, every full chunk it counts still there as the last run recorded it."""
    return len(saved.ranks) == RANKS and saved.compile_ids <= split and all(
        ctx.unit_is_current(chunk_name(rank, number), digest)
        for rank, docs in enumerate(saved.ranks) for number, digest in enumerate(docs.digests))


def restore(index: SearchIndex, saved: SavedIndex) -> None:
    """Put the saved state in `index`; its full chunks carry over (carries_over checked them)."""
    index.postings.lists = saved.postings
    index.postings.resumed = True
    index.postings.ascending = False  # the new documents of each rank come after later ranks'
    index.compile_ids, index.docs_cut = saved.compile_ids, saved.docs_cut
    index.ranks = [RankDocs(docs.count, docs.rows, docs.digests) for docs in saved.ranks]
    for rank, docs in enumerate(index.ranks):
        for number, digest in enumerate(docs.digests):
            index.ctx.unit(chunk_name(rank, number), digest)
    index.ctx.end_unit()


def _build(ctx: ModuleContext, entries: list[dict[str, Any]], point: StablePoint | None, split: int,
           saved: SavedIndex | None) -> SearchIndex:
    """Up to the point (from `saved` on), its state, then the rest."""
    index = SearchIndex(ctx)
    start: dict[str, int] = {}
    if saved is not None:
        restore(index, saved)
        start = saved.sizes
    if point is not None:
        index_compile_ids(index, entries, split)
        sizes = {stream: point.sizes.get(stream, 0) for stream in RANKED_STREAMS}
        index_streams(index, start, sizes)
        if not index.postings.dropped_tokens:  # which words got in would depend on the order
            save_state(ctx, state_key(ctx, shard_folder(ctx)), point, sizes, index.compile_ids, index.docs_cut,
                       [SavedRank(d.count, d.rows, d.digests) for d in index.ranks], index.postings.lists)
        start = sizes
    index.postings.ascending = False  # the rest of each rank comes after the later ranks' first part
    index_compile_ids(index, entries, len(entries))
    index_streams(index, start, None)
    ctx.end_unit()
    index.write_open_chunks([made[0] for made in map(compile_id_doc, entries) if made is not None])
    return index


# -- the block -----------------------------------------------------------------------------------

@dataclass
class SearchView:
    """What search.html shows and hands to search.js."""

    module_id: str
    root: str  # the shard folder
    docs: int
    tokens: int
    files: list[str]  # the token files (each named after its first shard), sorted
    cut_tokens: int
    dropped_tokens: int
    docs_cut: int
    eager: bool
    max_postings: int
    docs_per_shard: int
    full_chunks: list[int]
    rank_starts: list[int]
    script: str = SCRIPT


def render(ctx: ModuleContext) -> ModuleOutput:
    """Write the shards and search.js; the index block holds the box and the results list."""
    index = build_index(ctx)
    tokens_count, cut_tokens = len(index.postings.lists), index.postings.cut_tokens
    files = pack(index.postings.drain_rows(index.starts), TOKEN_FILE_BYTES)
    for name, json in files.items():
        write_shard_json(ctx, name, json)
    ctx.write_static(SCRIPT, SCRIPT_SOURCE)
    view = SearchView(ctx.module_id, shard_folder(ctx), index.docs, tokens_count, sorted(files),
                      cut_tokens, index.postings.dropped_tokens, index.docs_cut, ctx.eager,
                      MAX_POSTINGS, DOCS_PER_SHARD, index.full_chunks, index.starts)
    html = ctx.render("search.html", view=view)
    return ModuleOutput(index_entries=[IndexEntry(section="search", title="Search", html=html, order=ORDER)])
