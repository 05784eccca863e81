"""The cache module after a log grew: the records before the parse's resume point are read once
(RecordState with the tally as its state), misses after the point are still compared with the
entries before it, and the whole report equals a fresh build's, the state included."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import TORCH_213, corpus_copy
from tests.test_incremental import cut_points
from tests.test_incremental_report import tree
from tests.test_search_incremental import GRAPH_BREAKS, build, built_in_steps, fresh_tree, grow, grow_and_count
from tlparse_tasks.modules import cache, cache_diff
from tlparse_tasks.modules.cache_diff import MissFinder

STATE = Path(".modules") / "cache.state"
RANK_LOG = TORCH_213 / "10_multi_rank" / "dedicated_log_torch_trace_rank_1_r9x4pi9r.log"


class Fed:
    """The cache.jsonl records the module reads in a run (each goes through CacheTally.feed)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = cache.CacheTally.feed

        def counting(tally: cache.CacheTally, record: dict[str, Any]) -> None:
            self.count += 1
            original(tally, record)

        monkeypatch.setattr(cache.CacheTally, "feed", counting)


@pytest.mark.parametrize("where", ["record boundary", "inside a payload", "mid line"])
def test_a_grown_log_feeds_only_the_new_records_and_equals_a_fresh_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    first, grown, total = grow_and_count(tmp_path, where, Fed(monkeypatch), STATE)
    assert first > 0 and grown <= total - first + 1, (first, grown, total)  # the record at the point at most again


def test_misses_after_the_point_are_compared_with_entries_before_it(tmp_path: Path) -> None:
    """A rank log whose miss on line 17,540 is closest to the entry on line 14,948: cut between
    the two, the miss is compared with an entry the restored finder brought back."""
    data = corpus_copy(RANK_LOG, tmp_path).read_bytes()
    cut = data.index(b"\nV", offset_of_line(data, 16_000)) + 1
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:cut])
    build(log, out)
    point = orjson.loads((out / "intermediate" / "parse_state.json").read_bytes())["resume"]["state"]["line"]
    grow(log, data, cut)
    build(log, out)
    finder = MissFinder.from_json(orjson.loads((out / STATE).read_bytes())["extra"]["finder"])
    assert any(m.entry.line > point and m.closest is not None and m.closest.line <= point for m in finder.misses)
    assert tree(out) == fresh_tree(tmp_path, log)


def offset_of_line(data: bytes, number: int) -> int:
    offset = 0
    for _ in range(number - 1):
        offset = data.index(b"\n", offset) + 1
    return offset


def test_three_appends_in_a_row(tmp_path: Path) -> None:
    data = corpus_copy(GRAPH_BREAKS, tmp_path).read_bytes()
    built_in_steps(tmp_path, data, sorted({cut_points(data)["record boundary"], len(data) // 3, 2 * len(data) // 3}))


def records_of(log: Path, out: Path) -> list[dict[str, Any]]:
    build(log, out, "--parse-only")
    lines = (out / "intermediate" / "cache.jsonl").read_bytes().splitlines()
    return [orjson.loads(line) for line in lines]


def test_a_finder_restored_from_its_json_goes_on_as_the_original(tmp_path: Path) -> None:
    log = corpus_copy(GRAPH_BREAKS, tmp_path)
    records = records_of(log, tmp_path / "out")
    assert sum(1 for r in records if r["metadata"]["name"].endswith("_miss")) > 2
    for split in range(0, len(records) + 1, max(1, len(records) // 7)):
        whole, head = MissFinder(), MissFinder()
        for record in records:
            whole.feed(record)
        for record in records[:split]:
            head.feed(record)
        restored = MissFinder.from_json(orjson.loads(orjson.dumps(head.to_json())))
        for record in records[split:]:
            restored.feed(record)
        assert restored.to_json() == whole.to_json()
        assert restored.misses == whole.misses and restored.bare == whole.bare


@pytest.mark.parametrize(("pairs", "code"), [(3, "H"), (1 << 16, "H"), ((1 << 16) + 1, "I")])
def test_the_finder_state_numbers_components_in_16_bits_while_they_fit(pairs: int, code: str) -> None:
    """An entry's component numbers are the hex of a little-endian array: 16-bit numbers up to
    65,536 distinct (name, digest) pairs, 32-bit past that; either reads back the same."""
    finder = MissFinder()
    ref = cache_diff.Ref(7, "-_0_0_0", "fx_graph_cache", "miss", None)
    components = {f"component_{i}": f"{i:x}" for i in range(pairs)}
    finder.groups[("fx_graph_cache", "graph", "g")] = deque([cache_diff.Entry(ref, components)])
    state = orjson.loads(orjson.dumps(finder.to_json()))
    assert state["numbers"] == code
    assert len(state["entries"][0][1]) == pairs * (4 if code == "H" else 8)
    if pairs == 3:
        assert state["entries"][0][1] == "000001000200"  # 0, 1, 2: little-endian, 16 bits each
    restored = MissFinder.from_json(state)
    assert [e.components for e in restored.groups[("fx_graph_cache", "graph", "g")]] == [components]
    state["numbers"] = "Q"
    with pytest.raises(ValueError, match="unknown width"):
        MissFinder.from_json(state)


@pytest.mark.parametrize("change", ["none", "evicted", "appended", "new group first"])
def test_a_restored_finder_writes_what_a_fresh_one_would(change: str) -> None:
    """A restored finder's state reuses its saved numbers while its entries come in the saved
    order; an entry pushed out of its group, or one added before others, numbers the rest anew
    as a finder built from scratch does."""
    def entry(line: int, *names: str) -> cache_diff.Entry:
        ref = cache_diff.Ref(line, f"-_{line}_0_0", "fx_graph_cache", "miss", None)
        return cache_diff.Entry(ref, {name: f"digest of {name}" for name in names})

    def finder(groups: dict[str, list[cache_diff.Entry]]) -> MissFinder:
        made = MissFinder()
        for key, members in groups.items():
            made.groups[("fx_graph_cache", "graph", key)] = deque(members, maxlen=cache_diff.CANDIDATES)
        return made

    first, second, third, fourth = entry(1, "a", "b"), entry(2, "b", "c"), entry(3, "d"), entry(4, "c", "e")
    saved = orjson.loads(orjson.dumps(finder({"A": [first, second], "B": [third]}).to_json()))
    restored = MissFinder.from_json(saved)
    expected = {"A": [first, second], "B": [third]}
    group_a = restored.groups[("fx_graph_cache", "graph", "A")]
    if change == "evicted":
        group_a.popleft()
        expected = {"A": [second], "B": [third]}
    elif change == "appended":
        group_a.append(fourth)
        expected = {"A": [first, second, fourth], "B": [third]}
    elif change == "new group first":
        restored.groups = {("fx_graph_cache", "graph", "Z"): deque([fourth]), **restored.groups}
        expected = {"Z": [fourth], "A": [first, second], "B": [third]}
    assert restored.to_json() == finder(expected).to_json()
    if change == "none":
        assert restored.to_json()["entries"] == saved["entries"]


class SecondPass:
    """The cache.jsonl lines the second pass decodes (the values of the misses' components)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = cache_diff.read_values

        def counting(records: Any, *args: Any) -> Any:
            def counted() -> Any:
                for record in records:
                    self.count += 1
                    yield record
            return original(counted(), *args)

        monkeypatch.setattr(cache_diff, "read_values", counting)


def test_the_second_pass_reads_only_the_lines_of_new_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The values read for the misses before the point are in the state (its `late` part): a
    grown log's second pass decodes only lines the new misses need, and the page is a fresh
    build's (test_a_grown_log_feeds_only_the_new_records_and_equals_a_fresh_build)."""
    data = corpus_copy(RANK_LOG, tmp_path).read_bytes()
    cut = data.index(b"\nV", offset_of_line(data, 16_000)) + 1
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:cut])
    build(log, out)
    late = orjson.loads((out / STATE).read_bytes())["late"]
    assert late and any(value is not None for _line, _name, value in late)
    grow(log, data, cut)
    second = SecondPass(monkeypatch)
    build(log, out)
    grown = second.count
    assert tree(out) == fresh_tree(tmp_path, log)
    assert grown < second.count - grown, (grown, second.count - grown)  # fewer than the fresh build


def test_a_component_one_side_lacks_stays_absent_after_the_point(tmp_path: Path) -> None:
    """A miss before the point whose closest entry lacks one of its components (and has one it
    lacks): the state remembers those values as absent, so the grown build's page shows them as
    a fresh build's does."""
    from tests.logs import cid, entry

    def miss(compile_: int, components: list[str]) -> str:
        return entry({"artifact": {"name": "fx_graph_cache_miss", "encoding": "json"}, **cid(0, compile_)},
                     orjson.dumps({"components": components}).decode())

    head = (miss(0, ["[aaa] x: 1", "[bbb] y: 2", "[ggg] gm: g"])
            + miss(1, ["[aab] x: 3", "[zzz] z: 4", "[ggg] gm: g"])
            + entry({"artifact": {"name": "filler", "encoding": "string"}, **cid(0, 1)}, "-"))
    data = (head + miss(2, ["[aac] x: 5", "[zzz] z: 4", "[ggg] gm: g"])).encode()
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:len(head)])
    build(log, out)
    late = orjson.loads((out / STATE).read_bytes())["late"]
    assert sorted(name for _line, name, value in late if value is None) == ["y", "z"], late
    grow(log, data, len(head))
    build(log, out)
    assert tree(out) == fresh_tree(tmp_path, log)
