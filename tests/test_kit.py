"""The presentation kit: one frame and stack view, one file-list item, one plural rule, one
stylesheet. Rendered through the shipped templates and read back as a reader would."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tlparse_tasks.module_api import listed_file
from tlparse_tasks.modules import kit
from tlparse_tasks.modules.kit import Frame, StackView, frame_of, frames, plural, stack_of, stack_view
from tlparse_tasks.render import jinja_env
from tlparse_tasks.resources import template_dirs

HOSTILE = "<img src=x onerror=alert(1)>"
STRINGS = {"0": "/src/model.py", "1": "/build/abc-seed-nspid4026-ns-1/torch/fx.py", "2": "<eval_with_key>.7"}
TEMPLATES = Path(next(str(d) for d in template_dirs()))
NOT_MINE = {"code_page.html", "kernel_stack_traces.html"}  # the code pages' own templates


def render(source: str, **data: Any) -> str:
    env = jinja_env(tuple(str(d) for d in template_dirs()))
    return env.from_string(source).render(**data)


class Reader(HTMLParser):
    """The text a reader sees, and every element with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "br":
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @classmethod
    def of(cls, html: str) -> Reader:
        reader = cls()
        reader.feed(html)
        return reader

    @property
    def words(self) -> str:
        return " ".join("".join(self.text).split())


# -- plural ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("count", "args", "text"), [
    (0, ("file",), "0 files"), (1, ("file",), "1 file"), (2, ("file",), "2 files"),
    (1, ("entry", "entries"), "1 entry"), (3, ("entry", "entries"), "3 entries"),
    (2, ("miss", "misses"), "2 misses"),
])
def test_plural_in_python_and_as_a_filter(count: int, args: tuple[str, ...], text: str) -> None:
    assert plural(count, *args) == text
    assert render("{{ n|plural(*args) }}", n=count, args=args) == text


def test_no_template_writes_a_plural_ending_or_a_style_block_by_hand() -> None:
    hand_plural = re.compile(r"""==\s*1\s+else|\w{{\s*["']""")  # `file{{ "" if n == 1 else "s" }}`
    for path in sorted(TEMPLATES.glob("*.html")):
        if path.name in NOT_MINE:
            continue
        source = path.read_text()
        assert not hand_plural.search(source), path.name
        assert "<style" not in source, path.name
        # a style attribute only hands the stylesheet a value (a custom property), never styles
        for style in re.findall(r' style="([^"]*)"', source):
            assert re.fullmatch(r"--[a-z-]+: \{\{ [\w.]+ \}\}", style), (path.name, style)


def test_every_page_links_the_one_stylesheet_through_its_root() -> None:
    html = render('{% extends "page.html" %}{% block content %}x{% endblock %}', root="../")
    links = [a for tag, a in Reader.of(html).elements if tag == "link"]
    assert links == [{"rel": "stylesheet", "href": "../style.css"}]
    css = (TEMPLATES / "static" / "style.css").read_text()
    for rule in (".tlp-stack", ".tlp-frames", ".cm-status", ".fr-table", ".tlp-guard-code", ".tlp-sym-section"):
        assert rule in css  # what the pages' <style> blocks held before


# -- frames and stacks ---------------------------------------------------------------------------

def test_a_frame_names_its_readable_file_and_links_generated_code() -> None:
    plain, built, generated = frames([{"filename": 0, "line": 3, "name": "f", "loc": "x = 1"},
                                      {"filename": 1, "line": 9, "name": "g"},
                                      {"filename": 2, "line": 42, "name": "forward"}], STRINGS)
    assert (plain.location, plain.name, plain.loc, plain.href) == ("/src/model.py:3", "f", "x = 1", None)
    assert built.location == "torch/fx.py:9"  # the build-system prefix is dropped
    assert generated.href == "dump_file/eval_with_key_7.html#L42"
    assert frame_of("<eval_with_key>.7", 5, None, None).name == ""
    already = frame_of("abc-seed-nspid1-x/abc-seed-nspid2-y/z.py", 1, "f", None, simplify=False)
    assert already.filename == "abc-seed-nspid1-x/abc-seed-nspid2-y/z.py"


def test_stacks_that_are_not_frame_lists_are_shown_as_text() -> None:
    assert stack_view(None, STRINGS) is None and stack_view([], STRINGS) is None
    assert stack_of(None, STRINGS) == StackView([]) and stack_of([], STRINGS) == StackView([])
    view = stack_view("oops", STRINGS)
    assert view is not None and view.raw == "oops" and view.frames == []
    view = stack_view([{"filename": [0], "line": 1, "name": "f"}], STRINGS)
    assert view is not None and view.raw == '[{"filename":[0],"line":1,"name":"f"}]'
    view = stack_view([{"line": 3, "name": "g"}], STRINGS)  # no filename: not a frame
    assert view is not None and view.raw == '[{"line":3,"name":"g"}]'
    view = stack_view([{"filename": 5, "line": 3, "name": "g"}, {"filename": 0, "line": 7, "name": "f"}], STRINGS)
    assert view is not None and view.raw is None
    assert [f.location for f in view.frames] == ["(unknown):3", "/src/model.py:7"]
    assert view.last is not None and view.last.name == "f"


def render_stack(view: StackView | None, root: str = "../", open_: bool = False) -> str:
    return render('{% from "frame.html" import stack %}{{ stack(view, "User stack", root, open=open_) }}',
                  view=view, root=root, open_=open_)


def test_the_stack_macro_names_the_innermost_frame_and_lists_all() -> None:
    view = StackView([Frame("/a.py", 1, "outer", None, None),
                      Frame("<eval_with_key>.3", 7, HOSTILE, HOSTILE, "dump_file/eval_with_key_3.html#L7")])
    html = render_stack(view)
    reader = Reader.of(html)
    assert reader.words.startswith(f"User stack: <eval_with_key>.3:7 in {HOSTILE} (2 frames)")
    assert f"/a.py:1 in outer <eval_with_key>.3:7 in {HOSTILE} {HOSTILE}" in reader.words
    assert [tag for tag, _ in reader.elements if tag in ("img", "script")] == []
    links = [a["href"] for tag, a in reader.elements if tag == "a"]
    assert links == ["../dump_file/eval_with_key_3.html#L7"]  # through the page's root
    details = [a for tag, a in reader.elements if tag == "details"]
    assert details == [{"class": "tlp-stack"}]  # closed
    assert [a for tag, a in Reader.of(render_stack(view, open_=True)).elements if tag == "details"] == [
        {"class": "tlp-stack", "open": None}]


def test_the_stack_macro_for_nothing_no_frames_and_raw_values() -> None:
    assert Reader.of(render_stack(None)).words == "none"
    assert Reader.of(render_stack(StackView([]))).words == "User stack (0 frames) No frames were logged."
    raw = Reader.of(render_stack(StackView([], f'"{HOSTILE}"')))
    assert raw.words == f'"{HOSTILE}"' and ("code", {"class": "tlp-raw-stack", "title": "not a list of frames"}) in \
        raw.elements


# -- the file-list item ----------------------------------------------------------------------------

def render_items(items: list[dict[str, Any]]) -> Reader:
    return Reader.of(render('{% from "artifact_list.html" import artifact_list %}{{ artifact_list(items) }}',
                            items=items))


def test_a_file_item_without_a_url_is_plain_text() -> None:
    reader = render_items([listed_file(None, "no page", None), listed_file("", "empty", 2)])
    assert reader.words == "no page empty (2)"
    assert [tag for tag, _ in reader.elements] == ["ul", "li", "li", "span"]


def test_a_file_item_links_only_safe_urls() -> None:
    reader = render_items([
        listed_file("a/b.html", HOSTILE, 1, "✅", readable_url="javascript:x"),
        listed_file("https://x.invalid/", "ext", 2, external=True),
        listed_file("vbscript:y", "bad", 3, external=True),
    ])
    assert reader.words == f"{HOSTILE} (readable_html) ✅ (1) ext (2) bad (3)"
    links = [a for tag, a in reader.elements if tag == "a"]
    assert links == [{"href": "a/b.html"}, {"href": "https://x.invalid/", "rel": "noopener noreferrer"}]
    unsafe = [a["title"] for tag, a in reader.elements if a.get("class") == "tlp-unsafe-link"]
    assert unsafe == ["javascript:x", "vbscript:y"]


def test_shared_stacks_make_each_value_once_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    def make(value: Any, strings: dict[str, str]) -> kit.StackView | None:
        made.append(value)
        return kit.stack_view(value, strings)

    stacks = kit.SharedStacks({"0": "/m.py"}, make)
    frame = [{"filename": 0, "line": 1, "name": "f"}]
    first = stacks.view(frame)
    assert stacks.view([dict(frame[0])]) is first and stacks.view(None) is None and stacks.view(None) is None
    assert made == [frame, None]
    monkeypatch.setattr(kit.SharedStacks, "MAX_VIEWS", 2)
    stacks.view([{"filename": 0, "line": 2, "name": "g"}])  # a third value: the cache starts again
    assert len(stacks.views) == 1 and stacks.view(frame) is not first
