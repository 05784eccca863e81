"""The stack_trie module: frames shared by compile ids shown once, branches nested as in legacy,
deep stacks rendered without recursion, and colours that agree with the metrics pages."""

from __future__ import annotations

import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import CHROMIUM, build_report
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.fixture_modules import render_alone
from tests.logs import cid, entry, write
from tlparse_tasks.modules.stack_trie import STATUS_LEGEND, read_node, trie_rows
from tlparse_tasks.render import jinja_env
from tlparse_tasks.resources import template_dirs

DEEP = 5_000


def node(name: str, *children: dict[str, Any], terminals: tuple[str, ...] = (), line: int = 1) -> dict[str, Any]:
    return {"frame": {"filename": f"/src/{name}.py", "line": line, "name": name, "loc": None},
            "terminals": list(terminals), "children": list(children)}


def root(*children: dict[str, Any]) -> dict[str, Any]:
    return {"terminals": [], "children": list(children)}


def chain(depth: int, terminal: str) -> dict[str, Any]:
    """A single stack `depth` frames deep, built bottom-up (no recursion)."""
    current = node(f"f{depth - 1}", terminals=(terminal,), line=depth - 1)
    for level in range(depth - 2, -1, -1):
        current = node(f"f{level}", current, line=level)
    return root(current)


def comb(depth: int) -> dict[str, Any]:
    """Each level forks into a leaf and the next level: `depth` nested branches."""
    current = node("last", terminals=("-_0_0_0",))
    for level in range(depth - 1, -1, -1):
        current = node(f"fork{level}", node(f"leaf{level}", terminals=(f"-_{level}_0_0",)), current)
    return root(current)


def render_trie(trie: dict[str, Any], statuses: dict[str, str] | None = None) -> str:
    env = jinja_env(tuple(str(d) for d in template_dirs()))
    return env.get_template("stack_trie.html").render(rows=trie_rows(trie, statuses or {}),
                                                       legend=STATUS_LEGEND, with_status=True)


class Tree(HTMLParser):
    """Nesting of the rendered lists: for each frame text, how many <ul> enclose it."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.open: list[str] = []
        self.frames: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("br",):
            self.open.append(tag)
        if tag == "ul" and ("class", "tlp-legend") not in attrs:
            self.depth += 1
        if ("class", "tlp-frame") in attrs:
            self.frames.append(("", self.depth))

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open[-5:], tag)  # well nested
        self.open.pop()
        if tag == "ul" and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.frames and self.frames[-1][0] == "":
            self.frames[-1] = (data, self.frames[-1][1])

    @classmethod
    def of(cls, html: str) -> Tree:
        tree = cls()
        tree.feed(html[html.index('<div class="tlp-stack-trie">'):])
        return tree


def test_a_frame_with_siblings_opens_a_nested_list_as_in_legacy() -> None:
    trie = root(node("main", node("a", node("a2", terminals=("-_0_0_0",))),
                     node("b", terminals=("-_1_0_0",))))
    tree = Tree.of(render_trie(trie, {"-_0_0_0": "ok", "-_1_0_0": "error"}))
    # main has two children: each shows in main's list, and a's subtree in a list of its own.
    assert tree.frames == [("/src/main.py:1", 1), ("/src/a.py:1", 1), ("/src/a2.py:1", 2), ("/src/b.py:1", 1)]
    assert tree.open == []  # everything closed again
    html = render_trie(trie, {"-_0_0_0": "ok", "-_1_0_0": "error"})
    assert '<a href="#[0/0]" class="tlp-cid status-ok">[0/0]</a>' in html
    assert '<a href="#[1/0]" class="tlp-cid status-error">[1/0]</a>' in html
    assert html.count('<details open class="tlp-branch">') == 2


def test_rows_say_how_many_lists_close_after_them() -> None:
    trie = root(node("a", node("b", node("c")), node("d")), node("e"))
    rows = trie_rows(trie, None)
    assert [(r.frame.name, r.branching, r.closes) for r in rows] == [
        ("a", True, 0), ("b", True, 0), ("c", False, 1), ("d", True, 2), ("e", True, 1)]


def test_the_manifest_trie_is_read_in_one_place() -> None:
    read = read_node({"frame": {"filename": "/x.py", "line": 3, "name": "f"}, "children": [{"frame": {}}]})
    assert (read.frame.location, read.frame.name, read.terminals, len(read.children)) == ("/x.py:3", "f", [], 1)
    assert read_node({}).children == [] and read_node({}).frame.filename == "(unknown)"


def test_a_stack_thousands_of_frames_deep_renders_without_recursion() -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # far below the depth: any recursion on it would fail
    try:
        start = time.perf_counter()
        html = render_trie(chain(DEEP, "-_0_0_0"))
        deep_branches = render_trie(comb(DEEP))
        elapsed = time.perf_counter() - start
    finally:
        sys.setrecursionlimit(limit)
    tree = Tree.of(html)
    assert len(tree.frames) == DEEP
    assert {depth for _, depth in tree.frames} == {1}  # a chain does not nest
    assert tree.frames[-1][0] == f"/src/f{DEEP - 1}.py:{DEEP - 1}"
    assert '<a href="#[0/0]" class="tlp-cid">[0/0]</a>' in html
    branches = Tree.of(deep_branches)
    assert len(branches.frames) == 2 * DEEP + 1 and branches.open == []
    assert branches.frames[-1] == ("/src/last.py:1", DEEP)
    assert elapsed < 20


def test_a_deep_stack_in_a_log_builds_a_report(tmp_path: Path) -> None:
    stack = [{"line": n, "name": f"f{n}", "filename": 0} for n in range(DEEP)]
    log = write(tmp_path / "deep.log", entry({"str": ["/src/deep.py", 0]})
                + entry({"dynamo_start": {"stack": stack}, **cid()})
                + entry({"compilation_metrics": {"graph_op_count": 1, "restart_reasons": []}, **cid()}))
    index = build_report(log, tmp_path / "out").read_text()
    trie = index[index.index('<div class="tlp-stack-trie">'):]
    assert "/src/deep.py:0</span> in <span class=\"tlp-fn\">f0</span>" in trie
    assert '<a href="#[0/0]" class="tlp-cid status-ok">[0/0]</a>' in trie


GRAPH_BREAKS = next((TORCH_213 / "03_graph_breaks").glob("*.log"))


@pytest.mark.parametrize("source", [LEGACY_TESTS / "comp_metrics.log", GRAPH_BREAKS])
def test_trie_colours_agree_with_the_metrics_pages(tmp_path: Path, source: Path) -> None:
    """A compile id with one metrics entry has the trie colour of that page's badge."""
    out = tmp_path / "out"
    log = corpus_copy(source, tmp_path)
    render_alone("compilation_metrics", log, out)
    trie = render_alone("stack_trie", log, out).index_entries[0].html
    colours = dict(re.findall(r'<a href="#([^"]+)" class="tlp-cid status-(\w+)">', trie))
    pages: dict[str, list[str]] = {}
    for page in out.glob("*/compilation_metrics_*.html"):
        match = re.search(r"<h1>Compilation Info for (\S+) <span class=\"cm-status status-(\w+)\">", page.read_text())
        assert match is not None, page
        pages.setdefault(match.group(1), []).append(match.group(2))
    compared = [display for display, statuses in pages.items() if len(statuses) == 1 and display in colours]
    assert compared
    for display in compared:
        assert colours[display] == pages[display][0], display


@pytest.mark.browser
def test_a_deep_trie_shows_in_the_browser(page: Any, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium not found")
    body = render_trie(chain(DEEP, "-_0_0_0"))
    path = tmp_path / "deep.html"
    path.write_text(f'<!DOCTYPE html><meta charset="utf-8"><body>{body}</body>', encoding="utf-8")
    page.goto(path.as_uri())
    frames = page.locator(".tlp-stack-trie .tlp-frame")
    assert frames.count() == DEEP
    last = frames.nth(DEEP - 1)
    last.scroll_into_view_if_needed()
    assert last.is_visible() and last.inner_text() == f"/src/f{DEEP - 1}.py:{DEEP - 1}"
