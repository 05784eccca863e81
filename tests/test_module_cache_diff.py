"""Why the cache missed: key components parsed, each miss compared with the closest earlier
entry of its graph, only the differing components shown (cut, with the whole behind a
disclosure), and the Cache section linking both artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.test_module_graph_breaks import HOSTILE, render_module, store_of
from tlparse_tasks.modules import cache as cache_module
from tlparse_tasks.modules import cache_diff as cd
from tlparse_tasks.store.reader import StoreReader

TRAINING = TORCH_213 / "02_training"


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> StoreReader:
    root = tmp_path_factory.mktemp("cd")
    return store_of(corpus_copy(next(TRAINING.glob("*.log")), root), root / "out")


def test_components_parse_as_digest_name_value() -> None:
    assert cd.parse_component("[abc123] fx_kwargs[cpp_wrapper]: False") == cd.Component(
        "fx_kwargs[cpp_wrapper]", "abc123", "False")
    assert cd.parse_component("[v3h] cache_key_tag: ") == cd.Component("cache_key_tag", "v3h", "")
    assert cd.parse_component("gm: a: b") == cd.Component("gm", "", "a: b")  # no digest
    assert cd.components_of('{"components": []}') is None and cd.components_of("not json") is None
    assert cd.signature([cd.Component("x", "d1", "1"), cd.Component("x", "d2", "2"), cd.Component("y", "", "v")]) \
        == {"x": "d1", "x#2": "d2", "y": "v"}


def test_training_recompile_miss_differs_from_its_first_compile(training: StoreReader) -> None:
    finder = cd.find_misses(training.read_jsonl("cache.jsonl"))
    assert finder.bare == 3  # aotautograd_cache_miss logs no components in torch 2.13
    compared = [m for m in finder.misses if m.closest is not None]
    assert [m.entry.display for m in finder.misses] == ["[0/0]", "[0/0]", "[3/0]", "[3/1]"]
    (miss,) = compared
    assert (miss.entry.display, miss.closest and miss.closest.display) == ("[3/1]", "[3/0]")
    assert miss.names[0] == "gm" and {"example_inputs[6]", "example_inputs[12]"} <= set(miss.names)
    assert len(miss.names) == 10  # out of ~640 components
    # [0/0]'s backward graph is not compared with its forward graph: another role
    assert all(m.closest is None for m in finder.misses if m.entry.display == "[0/0]")


def test_a_miss_after_a_hit_of_the_same_graph(tmp_path: Path) -> None:
    store = store_of(corpus_copy(LEGACY_TESTS / "cache_hit_miss.log", tmp_path), tmp_path / "out")
    finder = cd.find_misses(store.read_jsonl("cache.jsonl"))
    first, second = finder.misses
    assert first.closest is None
    assert second.closest is not None and second.closest.status == "hit" and second.names == ["gm"]


def entry(line: int, name: str, components: dict[str, str], cid: str = "-_0_0_0") -> dict[str, Any]:
    lines = [f"[{v}] {k}: value of {v}" for k, v in components.items()]
    return {"type": "artifact", "compile_id": cid, "line": line, "metadata": {"name": name},
            "payload": json.dumps({"components": lines}),
            "outputs": [{"producer": "artifact", "url": f"{cid}/{name}_{line}.json"}]}


BASE = {"gm": "g1", "example_inputs[0]": "a", "fx_kwargs[is_backward]": "f", "inductor_config[x]": "c1"}


def test_closest_is_the_fewest_differences_then_the_latest() -> None:
    records = [
        entry(1, "fx_graph_cache_miss", BASE),
        entry(2, "fx_graph_cache_hit", {**BASE, "example_inputs[0]": "b", "inductor_config[x]": "c3"}),
        entry(3, "fx_graph_cache_miss", {**BASE, "gm": "g3", "fx_kwargs[is_backward]": "t"}),  # another role
        entry(4, "aotautograd_cache_miss", {**BASE, "inductor_config[x]": "c2"}),  # another cache
        entry(5, "fx_graph_cache_miss", {**BASE, "inductor_config[x]": "c2"}, cid="-_0_1_0"),
        entry(6, "fx_graph_cache_miss", {**BASE, "gm": "g2", "example_inputs[0]": "b"}, cid="-_7_0_0"),
        entry(7, "fx_graph_cache_miss", {"gm": "g1", "new": "n"}, cid="-_8_0_0"),  # same graph code
    ]
    misses = {m.entry.line: m for m in cd.find_misses(records).misses}
    assert misses[1].closest is None and misses[3].closest is None and misses[4].closest is None
    assert misses[5].closest is not None and misses[5].closest.line == 1 and misses[5].names == ["inductor_config[x]"]
    assert misses[6].closest is None  # another frame and another graph
    closest = misses[7].closest
    assert closest is not None and closest.line == 5  # same gm; ties with 1 and 2 go to the latest
    assert misses[7].names == ["new", "example_inputs[0]", "fx_kwargs[is_backward]", "inductor_config[x]"]


def test_values_are_cut_with_the_whole_behind_and_graphs_get_a_line_diff() -> None:
    long = "x" * (cd.SHOWN_CHARS + 10)
    records = [entry(1, "fx_graph_cache_miss", BASE), entry(2, "fx_graph_cache_miss", {**BASE, "gm": "g2"})]
    records[0]["payload"] = json.dumps({"components": ["[g1] gm: GraphModule()\n    a = 1\n    return a",
                                                       f"[a] example_inputs[0]: {long}"]})
    records[1]["payload"] = json.dumps({"components": ["[g2] gm: GraphModule()\n    a = 2\n    return a",
                                                       "[b] example_inputs[0]: short", "[n] extra: 1"]})
    finder = cd.find_misses(records)
    values = cd.read_values(records, cd.needed_values(finder.misses, 10))
    (view,) = cd.miss_views(finder.misses, values, 10)
    gm, inputs, extra = view.changes
    assert gm.old.short == "GraphModule() …" and gm.old.whole is not None and "a = 1" in gm.old.whole
    assert [(d.kind, d.text) for d in gm.diff if d.kind in ("add", "del")] == [("del", "-    a = 1"),
                                                                               ("add", "+    a = 2")]
    assert inputs.old.short == "x" * cd.SHOWN_CHARS + " …" and inputs.old.whole == long
    assert inputs.new == cd.ShownValue("short", None) and inputs.diff == ()
    assert extra.old.absent and extra.new.short == "1"
    (cut,) = cd.miss_views(finder.misses, values, 1)
    assert len(cut.changes) == 1 and cut.more == 2


def test_cache_section_shows_the_diff_and_links_both_artifacts(tmp_path: Path) -> None:
    log = corpus_copy(next(TRAINING.glob("*.log")), tmp_path)
    output = render_module("cache", log, tmp_path / "out")
    summary, misses = output.index_entries
    assert misses.section == summary.section == "cache"
    html = misses.html
    assert "Why the cache missed" in html and "<code>example_inputs[6]</code>" in html
    assert "4 cache misses logged key components. 1 was compared" in " ".join(html.split())
    links = [part.split('"', 1)[0] for part in html.split('href="')[1:]]
    assert len(links) == 2 and links[0].startswith("-_3_1_0/fx_graph_cache_miss_")
    assert links[1].startswith("-_3_0_0/fx_graph_cache_miss_")
    assert all((tmp_path / "out" / link).is_file() for link in links)


def test_many_misses_go_to_their_own_page_and_values_are_escaped(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "INDEX_MISSES", 0)
    lines = []
    for i, value in enumerate(("plain", HOSTILE)):
        component = f"[d{i}] inductor_config[x]: {value}"
        payload = json.dumps({"components": [component, "[g] gm: same"]})
        lines.append(cd_log_line(i, payload))
    log = tmp_path / "hostile.log"
    log.write_text("".join(lines))
    output = render_module("cache", log, tmp_path / "out")
    html = output.index_entries[1].html
    assert 'href="cache_misses.html"' in html
    page = (tmp_path / "out" / "cache_misses.html").read_text()
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def cd_log_line(frame: int, payload: str) -> str:
    from tests.logs import cid
    from tests.logs import entry as log_entry

    return log_entry({"artifact": {"name": "fx_graph_cache_miss", "encoding": "json"}, **cid(frame)}, payload)


def test_lines_parsed_once_give_what_parsing_each_entry_gives() -> None:
    """MissFinder keeps each short component line parsed once; signatures and pass-2 values must
    not change, repeated names (`x`, `x#2`, a literal `x#2`) and long lines included."""
    long = "[L] gm: " + "y" * (cd.CACHED_CHARS + 1)
    lines = ["[a] x: 1", "[b] x: 2", "[c] x#2: 3", "[d] y: 4", "no digest: v", long, "[e] x: 5"]
    records = [entry(i, "fx_graph_cache_miss", {}) for i in (1, 2)]
    for i, record in enumerate(records):
        record["payload"] = json.dumps({"components": [*lines, f"[z{i}] z: {i}"]})
    finder = cd.find_misses(records)
    for record in records:
        expected = cd.signature(cd.components_of(record["payload"]) or [])
        assert finder.signature(cd.component_lines(record["payload"]) or []) == expected
    assert long not in finder.parsed and "[a] x: 1" in finder.parsed
    needed = {1: {"x", "x#2", "x#3", "y", "no digest", "gm", "z"}, 2: {"x#2", "z", "missing"}}
    assert cd.read_values(records, needed, finder.parsed) == cd.read_values(records, needed) == {
        (1, "x"): "1", (1, "x#2"): "3", (1, "x#3"): "5", (1, "y"): "4", (1, "no digest"): "v",
        (1, "gm"): long[len("[L] gm: "):], (1, "z"): "0", (2, "x#2"): "3", (2, "z"): "1"}
