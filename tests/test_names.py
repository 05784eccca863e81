"""Names from the log as files and links: distinct names never share a file, every link is
percent-encoded, and no page links a file the report does not hold."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import pytest

from devtools.lazy_view import read_shards
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.logs import cid, entry, simple_log, write
from tlparse_tasks.cli import main
from tlparse_tasks.modules.kit import frame_of
from tlparse_tasks.parse.outputs import OutputPlanner
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.rules.names import suffixed

#: Distinct names that clean up to the same file name (`a_b`, `unnamed`), and names that hold
#: characters a URL gives a meaning to.
COLLIDING = ["a/b", "a_b", "a?b", "..", ".", "", "a#b%c", "a#b%c/", "100%", "#top", "x y", "x%20y"]
KINDS = ("dump_file", "artifact", "graph_dump")


def marker(kind: str, index: int) -> str:
    return f"payload_of_{kind}_{index}_end"


def names_log(names: list[str] = COLLIDING) -> str:
    """A compile whose dump_file, string artifact and graph_dump entries carry each name once,
    each with a payload of its own."""
    parts = [simple_log()]
    for index, name in enumerate(names):
        parts.append(entry({"dump_file": {"name": name}, **cid()}, marker("dump_file", index)))
        parts.append(entry({"artifact": {"name": name, "encoding": "string"}, **cid()}, marker("artifact", index)))
        parts.append(entry({"graph_dump": {"name": name}, **cid()}, marker("graph_dump", index)))
    return "".join(parts)


def planned(out: Path) -> dict[tuple[str, str], str]:
    """(kind, logged name) → the path the parse planned for it, from the store."""
    paths = {}
    for stream in ("artifacts.jsonl", "graphs.jsonl", "codegen.jsonl"):
        for line in (out / "intermediate" / stream).read_bytes().splitlines():
            record = orjson.loads(line)
            if record["type"] in KINDS and record["outputs"]:
                paths[record["type"], record["metadata"]["name"]] = record["outputs"][0]["url"]
    return paths


# -- the planner: which path each name gets --------------------------------------------------

def dump_pages(planner: OutputPlanner, names: list[str]) -> list[str]:
    return [planner.plan({"dump_file": {"name": n}}, "-_0_0_0", "x", True)[0][0].url for n in names]


def test_names_that_clean_up_alike_get_pages_of_their_own() -> None:
    pages = dump_pages(OutputPlanner(), ["a/b", "a_b", "a?b", "..", ".", ""])
    assert pages[0] == "dump_file/a_b.html" and pages[3] == "dump_file/unnamed.html"  # the first keeps it
    assert len(set(pages)) == 6
    for page in (pages[1], pages[2], pages[4], pages[5]):
        assert re.fullmatch(r"dump_file/(a_b|unnamed)-[0-9a-f]{8}\.html", page), page


def test_the_same_name_keeps_its_page_and_suffixes_are_stable() -> None:
    names = ["a?b", "a_b", "a/b", "a_b", "a?b"]
    first, again = dump_pages(OutputPlanner(), names), dump_pages(OutputPlanner(), names)
    assert first == again  # the same log gives the same paths on every run
    assert first[1] == first[3] and first[0] == first[4] and len(set(first)) == 3


def test_a_safe_name_without_a_rival_keeps_the_legacy_path() -> None:
    planner = OutputPlanner()
    assert dump_pages(planner, ["model.py", "x y", "a#b%c"]) == [
        "dump_file/model.py.html", "dump_file/x y.html", "dump_file/a#b%c.html"]


def test_a_name_shaped_like_a_suffix_cannot_take_another_names_page() -> None:
    taken = suffixed("dump_file/a_b.html", "a?b")  # where "a?b" goes while "a_b" owns a_b.html
    stem = taken.removeprefix("dump_file/").removesuffix(".html")
    pages = dump_pages(OutputPlanner(), [stem, "a_b", "a?b"])
    assert pages[:2] == [taken, "dump_file/a_b.html"]
    assert len(set(pages)) == 3


def test_generated_module_pages_belong_to_their_key() -> None:
    """Stack frames link `dump_file/eval_with_key_N.html`: every name holding `<eval_with_key>.N`
    shares it (legacy), and a name that merely cleans up to it never takes it."""
    planner = OutputPlanner()
    pages = dump_pages(planner, ["eval_with_key_3", "<eval_with_key>.3", "/x/<eval_with_key>.3"])
    assert pages[1] == pages[2] == "dump_file/eval_with_key_3.html"
    assert re.fullmatch(r"dump_file/eval_with_key_3-[0-9a-f]{8}\.html", pages[0])


def test_payload_files_of_different_declared_hashes_differ() -> None:
    planner = OutputPlanner()
    files = [planner.payload_file(h) for h in ("ab/cd", "ab_cd", "ab?cd", "ab_cd")]
    assert files[0] == "payloads/ab_cd.txt" and len(set(files)) == 3 and files[1] == files[3]


def test_numbered_outputs_keep_their_legacy_names() -> None:
    """Artifacts and graph dumps carry the global number, so they are distinct already."""
    planner = OutputPlanner()
    urls = [planner.plan({kind: {"name": n, "encoding": "string"}}, "-_0_0_0", "x", True)[0][0].url
            for n in ("a/b", "a_b") for kind in ("artifact", "graph_dump")]
    assert urls == ["-_0_0_0/a_b_0.txt", "-_0_0_0/a_b_1.txt", "-_0_0_0/a_b_2.txt", "-_0_0_0/a_b_3.txt"]


def test_a_resumed_parse_keeps_who_owns_which_name(tmp_path: Path) -> None:
    """The owners are saved with the parse state: names logged after a resume get the paths a
    parse of the whole log gives them."""
    first = simple_log() + "".join(entry({"dump_file": {"name": n}, **cid()}, n) for n in ("a?b", "a/b"))
    more = "".join(entry({"dump_file": {"name": n}, **cid()}, n + "!") for n in ("a_b", "a?b", ".."))
    log = write(tmp_path / "t.log", first)
    parse_log(log, tmp_path / "out", stderr=None)
    write(log, first + more)
    assert parse_log(log, tmp_path / "out", stderr=None).resumed
    parse_log(log, tmp_path / "fresh", stderr=None)
    resumed, fresh = planned(tmp_path / "out"), planned(tmp_path / "fresh")
    assert resumed == fresh
    assert len(set(resumed.values())) == 4 and resumed["dump_file", "a?b"] == "dump_file/a_b.html"


# -- the report: one page per name, each linked where it is ------------------------------------

class Links(HTMLParser):
    """Every link target of a page: href and src, and the shards it loads (data-tlp-*src)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.shards: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value is None:
                continue
            if tag == "base" and key == "href":
                self.base = value
            elif key in ("href", "src"):
                self.links.append(value)
            elif key in ("data-tlp-src", "data-tlp-index-src"):
                self.shards.append(value)


def shard_links(path: Path) -> tuple[list[str], list[str]]:
    """(links, shards) a shard script holds (every shard it registers): file-list urls (external
    ones left out) and shard srcs."""
    links: list[str] = []
    shards: list[str] = []
    stack: list[Any] = [data for _, _, data in read_shards(path)]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key in ("url", "readable_url", "href") and isinstance(item, str):
                    if value.get("external") is not True:
                        links.append(item)
                elif key in ("src", "index_src") and isinstance(item, str):
                    shards.append(item)
                else:
                    stack.append(item)
    return links, shards


def link_targets(out: Path) -> dict[str, set[str]]:
    """Every relative link of every page, and of the shards each page loads (resolved against
    that page), as the OUT-relative file it opens → where it was found."""
    root = out.resolve()
    found: dict[str, set[str]] = {}
    seen: set[tuple[Path, Path]] = set()

    def add(base: Path, url: str, origin: str) -> Path | None:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path:
            return None  # external, or an anchor in the same page
        target = Path(str(base / unquote(parts.path))).resolve()
        found.setdefault(target.relative_to(root).as_posix() if root in target.parents else str(target),
                         set()).add(origin)
        return target

    def follow(base: Path, src: str, origin: str) -> None:
        shard = add(base, src, origin)
        if shard is None or (shard, base) in seen or not shard.is_file():
            return
        seen.add((shard, base))
        links, shards = shard_links(shard)
        name = shard.relative_to(root).as_posix()
        for url in links:
            add(base, url, name)
        for nested in shards:
            follow(base, nested, name)

    for page in sorted(out.rglob("*.html")):
        if page.relative_to(out).parts[0] == "intermediate":
            continue
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        base = page.parent if parser.base is None else (page.parent / parser.base).resolve()
        origin = page.relative_to(out).as_posix()
        for url in parser.links:
            add(base, url, origin)
        for src in parser.shards:
            follow(base, src, origin)
    return found


def dangling(out: Path) -> dict[str, set[str]]:
    """Link targets that are not files of the report."""
    return {target: origins for target, origins in link_targets(out).items() if not (out / target).is_file()}


def build(log: Path, out: Path, *flags: str) -> Path:
    assert main([str(log), "-o", str(out), "--no-browser", *flags]) == 0
    return out


@pytest.mark.parametrize("flags", [(), ("--eager",)], ids=["lazy", "eager"])
def test_each_name_has_its_own_file_and_a_link_that_opens_it(tmp_path: Path, flags: tuple[str, ...]) -> None:
    out = build(write(tmp_path / "t.log", names_log()), tmp_path / "out", *flags)
    paths = planned(out)
    for kind in KINDS:
        mine = [paths[kind, name] for name in COLLIDING]
        assert len(set(mine)) == len(COLLIDING), kind
        for index, name in enumerate(COLLIDING):
            assert marker(kind, index) in (out / paths[kind, name]).read_text(), (kind, name)
    targets = link_targets(out)
    assert dangling(out) == {}
    assert {paths[kind, name] for kind in KINDS for name in COLLIDING} <= set(targets)


def test_links_are_percent_encoded(tmp_path: Path) -> None:
    out = build(write(tmp_path / "t.log", names_log()), tmp_path / "out", "--eager")
    index = (out / "index.html").read_text()
    paths = planned(out)
    artifact = paths["artifact", "a#b%c"]
    assert re.fullmatch(r"-_0_0_0/a#b%c_\d+\.txt", artifact)  # legacy's file name, kept on disk
    assert f'href="{artifact.replace("a#b%c", "a%23b%25c")}"' in index
    assert 'href="dump_file/a%23b%25c.html"' in index and 'href="dump_file/x%20y.html"' in index
    assert 'href="dump_file/x%2520y.html"' in index
    directory = orjson.loads((out / "compile_directory.json").read_bytes())
    assert artifact in [a["url"] for a in directory["[0/0]"]["artifacts"]]  # the legacy format: as is


def test_frame_links_encode_what_the_log_put_in_them() -> None:
    frame = frame_of("<eval_with_key>.3", "4 #5", "f", None)
    assert frame.href == "dump_file/eval_with_key_3.html#L4%20%235"
    assert frame_of("<eval_with_key>.3", 42, "f", None).href == "dump_file/eval_with_key_3.html#L42"


# -- no page links a file the report does not hold -------------------------------------------

EXPORT = next((TORCH_213 / "08_export").glob("*f5jej_pq*.log"))
REPORTS = {
    "default": (LEGACY_TESTS / "comp_metrics.log", ()),
    "default-cache": (next((TORCH_213 / "06_cache").glob("*.log")), ()),
    "default-eager": (next((TORCH_213 / "05_failure").glob("*.log")), ("--eager",)),
    "export": (EXPORT, ("--export",)),
    "export-guards": (LEGACY_TESTS / "export_guard_added.log", ("--export",)),
    "plain-text": (LEGACY_TESTS / "simple.log", ("--plain-text",)),
    "provenance": (LEGACY_TESTS / "inductor_provenance_jit_log.txt", ("--inductor-provenance",)),
}


@pytest.mark.parametrize("case", REPORTS)
def test_every_link_of_a_corpus_report_opens_a_file(tmp_path: Path, case: str) -> None:
    source, flags = REPORTS[case]
    out = build(corpus_copy(source, tmp_path), tmp_path / "out", *flags)
    targets = link_targets(out)
    assert len(targets) > 3  # the walk found the report's links
    assert dangling(out) == {}


def test_the_export_report_writes_the_payloads_it_links(tmp_path: Path) -> None:
    """Legacy's -e writes payloads/ for entries no other file holds; so do we, and the list
    of other entries links them."""
    out = build(corpus_copy(EXPORT, tmp_path), tmp_path / "out", "--export")
    linked = {t for t in link_targets(out) if t.startswith("payloads/")}
    assert linked and linked <= {p.relative_to(out).as_posix() for p in (out / "payloads").iterdir()}
    assert not (out / "raw.jsonl").exists()  # legacy's export writes payloads/ only
