"""Search: the words taken from names and payloads, the index built from a corpus report (every
word in the token file the page picks for it, few files, every link an existing page or compile
id), the packing of shards into files, and the caps that keep it small, said on the page when
they cut."""

from __future__ import annotations

import bisect
import json
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.browser_support import build_report
from tests.conftest import TORCH_213, corpus_copy
from tests.test_module_graph_breaks import render_module
from tlparse_tasks.modules import search
from tlparse_tasks.modules.search import compile_key, name_tokens, pack, shard_of, tokens

GRAPH_BREAKS = TORCH_213 / "03_graph_breaks"
SIMPLE = TORCH_213 / "01_simple"
FILES = re.compile(r'data-tlp-search-files="([^"]*)"')
KERNEL = re.compile(r"\bcpp_fused_\w+")
SHARD = re.compile(r'^TLP\.register\("search", "([^"]+)", JSON\.parse\((".*")\)\);\n$', re.S)


def read_shard(path: Path) -> Any:
    """The data a shard script registers (its JSON.parse string literal, decoded)."""
    found = SHARD.match(path.read_text())
    assert found, f"{path} is not a TLP.register shard"
    assert found.group(1) == path.stem
    return json.loads(json.loads(found.group(2).replace("<\\!--", "<!--")))


def jsonl(out: Path, name: str) -> list[dict[str, Any]]:
    with open(out / "intermediate" / name) as handle:
        return [json.loads(line) for line in handle]


class Index:
    """A built report's search index, read back as the browser would."""

    def __init__(self, out: Path, folder_name: str = "data/search", page: str | None = None) -> None:
        folder = out / folder_name
        page = page if page is not None else (out / "index.html").read_text()
        starts = [int(n) for n in re.search(r'data-tlp-search-rank-starts="([^"]*)"', page).group(1).split()]
        full = [int(n) for n in re.search(r'data-tlp-search-full-chunks="([^"]*)"', page).group(1).split()]
        self.by_number: dict[int, list[str]] = {}  # document number → its row
        for path in folder.glob("docs-*-*.js"):
            _, rank, chunk = path.stem.split("-")
            first = starts[int(rank)] + int(chunk) * search.DOCS_PER_SHARD
            self.by_number.update((first + i, row) for i, row in enumerate(read_shard(path)))
            assert int(chunk) < full[int(rank)]
        for rank, rows in enumerate(read_shard(folder / "docs-open.js")):
            first = starts[rank] + full[rank] * search.DOCS_PER_SHARD
            self.by_number.update((first + i, row) for i, row in enumerate(rows))
        assert sorted(self.by_number) == list(range(len(self.by_number)))  # dense
        self.docs = [self.by_number[n] for n in sorted(self.by_number)]
        self.files = {p.stem: read_shard(p) for p in folder.glob("t-*.js")}
        self.starts = sorted(self.files)
        self.rows = {row[0]: row for rows in self.files.values() for row in rows}

    def pages(self, token: str) -> list[list[str]]:
        """The documents listing `token` (in name or content), in posting order."""
        return [self.by_number[posting >> 1] for posting in self.rows[token][2]]


def file_of(starts: list[str], token: str) -> str | None:
    """static/search.js's fileOf: the last file start <= the token's shard name."""
    at = bisect.bisect_right(starts, shard_of(token))
    return starts[at - 1] if at else None


def prefixed(rows: list[list[Any]], term: str) -> list[str]:
    """static/search.js's matching: binary search for `term`, then the rows starting with it."""
    tokens_ = [row[0] for row in rows]
    at = bisect.bisect_left(tokens_, term)
    found = []
    while at < len(tokens_) and tokens_[at].startswith(term):
        found.append(tokens_[at])
        at += 1
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search")
    log = corpus_copy(next(GRAPH_BREAKS.glob("*.log")), root)
    build_report(log, root / "out")
    return root / "out"


@pytest.fixture(scope="module")
def index(report: Path) -> Index:
    return Index(report)


def test_tokens_are_distinct_lowercase_identifiers_of_real_code(report: Path) -> None:
    code = jsonl(report, "codegen.jsonl")[0]["payload"]
    words = tokens(code)
    assert len(words) == len(set(words)) and all(w == w.lower() for w in words)
    assert set(m.lower() for m in KERNEL.findall(code)) <= set(words)
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]{1,79}", w) for w in words)
    assert len(tokens(code, limit=5)) == 5


def regex_tokens(text: str, limit: int = search.MAX_TOKENS_PER_DOC) -> list[str]:
    """What a word is, said the slow way (one regex match at a time): `tokens` must agree."""
    seen: dict[str, None] = {}
    for match in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"\\[ntr]", " ", text[:search.MAX_SCAN_CHARS])):
        word = match.group().lower()
        if search.MIN_TOKEN <= len(word) <= search.MAX_TOKEN and word not in seen:
            seen[word] = None
            if len(seen) >= limit:
                break
    return list(seen)


def test_tokens_are_the_regex_words_of_every_payload(report: Path) -> None:
    for stream in search.CONTENT_STREAMS:
        for record in jsonl(report, stream):
            payload = str(record.get("payload") or "")
            assert tokens(payload) == regex_tokens(payload)
            assert tokens(payload, limit=7) == regex_tokens(payload, limit=7)


def test_tokens_of_odd_text_are_the_regex_words() -> None:
    # Non-ASCII letters separate words, even those whose lower case is ASCII (`İ`, the Kelvin
    # sign); a lone surrogate too; escapes, digits first, and the length bounds.
    pieces = ["aZ", "_", "09", " ", "\\", "n", "t", "r", "\n", "İ", "\u212a", "é", "\ud800", "/", "-", "x" * 79]
    rng = random.Random(7)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        limit = rng.randint(1, 6)
        assert tokens(text, limit) == regex_tokens(text, limit), text
    assert tokens("x" * 81 + " ab 12cd " + "y" * 80) == ["ab", "cd", "y" * 80]
    assert tokens("") == [] and tokens("1 a 22") == []


@pytest.mark.parametrize("slice_chars", [1, 3, 16])
def test_a_payload_tokenized_in_slices_has_the_words_of_the_whole(
        monkeypatch: pytest.MonkeyPatch, slice_chars: int) -> None:
    """Big payloads go through in slices (bounded copies); a cut never splits a word or an escape."""
    monkeypatch.setattr(search, "SLICE_CHARS", slice_chars)
    pieces = ["aZ", "_", "09", " ", "\\", "n", "t", "\n", "\\n", "İ", "é", "\ud800", "/", '"', "x" * 20]
    rng = random.Random(11)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        assert "".join(search.slices(text)) == text
        assert tokens(text) == regex_tokens(text), text


def test_recent_texts_are_remembered_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "RECENT_TEXTS", 3)
    monkeypatch.setattr(search, "RECENT_CHARS", 40)
    index = search.SearchIndex(ctx=None)  # type: ignore[arg-type]  # words_of writes nothing
    texts = [f"alpha{n} beta_{n} Gamma" for n in range(5)]
    for text in texts + texts[::-1]:
        assert index.words_of(text) == tokens(text)
    assert list(index.recent) == texts[2::-1]  # the last three, most recent last
    long = "delta " * 10
    assert index.words_of(long) == ["delta"] and long not in index.recent


def test_escaped_newlines_do_not_glue_words(report: Path) -> None:
    # A cache key's components are JSON strings whose line breaks are written `\n`.
    payload = next(r["payload"] for r in jsonl(report, "cache.jsonl") if "\\n" in r.get("payload", ""))
    found = re.search(r"\\n([A-Za-z_]\w+)", payload)
    assert found
    word = found.group(1).lower()
    words = tokens(payload)
    assert word in words
    if not re.search(rf"(?<![\\\w])n{re.escape(found.group(1))}", payload):
        assert "n" + word not in words


def test_name_words_include_their_underscore_parts() -> None:
    words = name_tokens("inductor_output_code_cia4x_14.html")
    assert {"inductor_output_code_cia4x_14", "output_code_cia4x_14", "code_cia4x_14", "html"} <= set(words)
    assert "14" not in words


def test_compile_keys_and_shard_names() -> None:
    assert compile_key("[0/0_1]") == "0/0_1" and compile_key("[!1/2/3]") == "!1/2/3"
    assert compile_key("(unknown)") is None
    assert shard_of("cpp_fused_relu_0") == "t-cp"
    assert shard_of("0/0") == "t-0-2f" and shard_of("!1/0") == "t--211"


def test_every_word_is_in_the_file_the_page_picks_sorted(report: Path, index: Index) -> None:
    assert index.files and index.docs
    found = FILES.search((report / "index.html").read_text())
    assert found and found.group(1).split(" ") == index.starts  # the page lists them sorted
    for name, rows in index.files.items():
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)
        assert name == min(shard_of(r[0]) for r in rows)  # named after its first shard
        for token, count, postings in rows:
            assert file_of(index.starts, token) == name
            assert 0 < len(postings) <= min(count, search.MAX_POSTINGS)
            assert all(0 <= p >> 1 < len(index.docs) for p in postings)


def test_token_files_are_few_and_bounded(index: Index) -> None:
    # 03_graph_breaks holds ~130 KB of token rows: two files, not one per two-character prefix.
    assert 1 < len(index.files) <= 3
    assert len({shard_of(token) for token in index.rows}) > 50


def test_a_tiny_log_gets_one_token_file(tmp_path: Path) -> None:
    log = corpus_copy(next(SIMPLE.glob("*.log")), tmp_path)
    output = render_module("search", log, tmp_path / "out")
    index = Index(tmp_path / "out", page=output.index_entries[0].html)
    assert len(index.files) == 1 and len(index.rows) > 100
    assert sorted(p.name for p in (tmp_path / "out" / "data" / "search").iterdir()) == ["docs-open.js", *(
        f"{name}.js" for name in index.files)]
    assert f'data-tlp-search-files="{index.starts[0]}"' in output.index_entries[0].html


def synthetic_rows() -> list[list[Any]]:
    """Rows of many shards, with compile keys whose shard names sort apart from their tokens
    (`!1/0` → `t--211`, `-/0` → `t--2d-2f`, `0/0` → `t-0-2f`, before `t-00`)."""
    rng = random.Random(3)
    words = {"".join(rng.choice("abcxyz_019") for _ in range(rng.randint(2, 9))) for _ in range(3000)}
    words |= {"!1/0", "!1/0_1", "-/0", "0/0", "0/1_2", "00ab", "0_x", "0a", "a/1"}
    return [[w, 1, [0]] for w in sorted(words)]


@pytest.mark.parametrize("target", [1, 300, 4000, 1 << 30])
def test_packing_finds_every_word_and_every_prefix_in_one_file(target: int) -> None:
    rows = synthetic_rows()
    files = {name: json.loads(data) for name, data in pack(rows, target).items()}
    starts = sorted(files)
    assert sorted(r[0] for rows_ in files.values() for r in rows_) == [r[0] for r in rows]
    for name, file_rows in files.items():
        assert [r[0] for r in file_rows] == sorted(r[0] for r in file_rows)
        for row in file_rows:
            assert file_of(starts, row[0]) == name
    # A query term (two characters or more) matches tokens of one shard: all in one file.
    for term in {row[0][:n] for row in rows for n in (2, 3)}:
        expected = [r[0] for r in rows if r[0].startswith(term)]
        picked = file_of(starts, term)
        assert picked is not None and prefixed(files[picked], term) == expected
    assert file_of(starts, "!!") is None  # sorts before every file: no such token
    shards = {shard_of(row[0]) for row in rows}
    assert len(files) == {1: len(shards), 1 << 30: 1}.get(target, len(files))
    assert starts[0] == min(shards)


def test_packing_cuts_between_shards_at_the_target_size() -> None:
    rows = synthetic_rows()
    shards: dict[str, list[list[Any]]] = {}
    for row in rows:
        shards.setdefault(shard_of(row[0]), []).append(row)
    target = 2000
    files = {name: json.loads(data) for name, data in pack(rows, target).items()}
    starts = sorted(files)
    assert 3 < len(files) < len(shards)
    names = sorted(shards)
    for number, start in enumerate(starts):  # each file: the shards from its start to the next
        end = starts[number + 1] if number + 1 < len(starts) else None
        held = [n for n in names if n >= start and (end is None or n < end)]
        assert sorted(files[start], key=lambda r: r[0]) == sorted(
            (r for n in held for r in shards[n]), key=lambda r: r[0])
        size = len(json.dumps(files[start], separators=(",", ":")))
        assert size <= target or len(held) == 1  # over the target only by holding one shard
        if end is not None:  # the next shard would not have fitted
            assert size + len(json.dumps(shards[end], separators=(",", ":"))) - 1 > target
    assert pack([], target) == {}


def test_every_link_is_an_existing_page_or_compile_id(report: Path, index: Index) -> None:
    manifest = json.loads((report / "intermediate" / "manifest.json").read_text())
    displays = {c["display_name"] for c in manifest["compile_ids"]}
    for href, title, kind, _cid, _note in index.docs:
        if href.startswith("#"):
            assert kind == "compile id" and unquote(href[1:]) in displays, href
        else:
            assert (report / unquote(href)).is_file(), href
            assert title == unquote(href).rpartition("/")[2]


def test_a_kernel_name_finds_its_output_code_page(report: Path, index: Index) -> None:
    for record in jsonl(report, "codegen.jsonl"):
        url = record["outputs"][0]["url"]
        for kernel in set(KERNEL.findall(record["payload"])):
            pages = index.pages(kernel.lower())
            assert [url, "output code"] in [[d[0], d[2]] for d in pages]
            assert pages[0][2] == "output code"  # code before the graphs that name it


def test_a_compile_id_finds_its_entry_and_files(report: Path, index: Index) -> None:
    files = {o["url"] for r in jsonl(report, "index.jsonl") if r["compile_id"] == "-_1_0_0"
             for o in r.get("outputs", [])}
    assert len(files) > 5
    pages = index.pages("1/0")
    assert pages[0][:3] == ["#%5B1/0%5D", "[1/0]", "compile id"]
    assert {d[0] for d in pages[1:]} == files
    assert all(d[3] == "[1/0]" for d in pages)


def test_graph_break_reasons_are_found_with_their_place(index: Index) -> None:
    pages = [d for d in index.pages("builtin") if d[2] == "graph break"]
    assert pages and all(d[0].endswith(".txt") for d in pages)
    assert any("03_graph_breaks/gen.py:21: Failed to trace builtin operator" in d[4] for d in pages)


def test_index_block_is_first_and_says_what_it_holds(report: Path, index: Index) -> None:
    html = (report / "index.html").read_text()
    assert html.index('<input id="search"') < html.index('id="tlp-graph_breaks"')
    assert f"{len(index.docs)} pages and compile ids indexed by {len(index.rows)} words" in html
    assert '<script src="search.js" defer></script>' in html and (report / "search.js").is_file()


def test_caps_bound_the_index_and_are_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "MAX_POSTINGS", 2)
    monkeypatch.setattr(search, "MAX_TOKENS", 50)
    log = corpus_copy(next(GRAPH_BREAKS.glob("*.log")), tmp_path)
    output = render_module("search", log, tmp_path / "out")
    index = Index(tmp_path / "out", page=output.index_entries[0].html)
    assert len(index.rows) == 50
    assert all(len(row[2]) <= 2 for row in index.rows.values())
    assert any(row[1] > 2 for row in index.rows.values())
    html = output.index_entries[0].html
    assert "in more than 2 pages: a search lists the first 2 of them" in html
    assert "The index is full (50 words)" in html


def test_eager_report_says_search_needs_javascript(tmp_path: Path) -> None:
    log = corpus_copy(next(GRAPH_BREAKS.glob("*.log")), tmp_path)
    output = render_module("search", log, tmp_path / "out", eager=True)
    html = output.index_entries[0].html
    assert "<noscript>" in html and "--eager" in html
    assert (tmp_path / "out" / "search.js").is_file()
    assert not (tmp_path / "out" / "data").exists()  # an eager report has no lazy data…
    assert Index(tmp_path / "out", "search", html).rows  # … and its index sits in search/
    assert output.index_entries[0].order < -10  # above the notices
