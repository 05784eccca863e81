"""search after a log grew: it starts from the state it saved at the parse's resume point, reads
only the records after it, and the report equals a fresh build's, file for file; a state that
does not hold (damaged, another log, another key) means a build from the start."""

from __future__ import annotations

import os
import random
import shutil
from array import array
from pathlib import Path
from typing import Protocol

import pytest

from tests.conftest import TORCH_213, corpus_copy
from tests.test_incremental import cut_points
from tests.test_incremental_report import tree
from tlparse_tasks.cli import main
from tlparse_tasks.modules import search
from tlparse_tasks.modules.search_state import STATE_FILE, as_array

GRAPH_BREAKS = TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log"


class Counted:
    """The records search indexes in a run, counted through index_content and index_page."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        content, page = search.index_content, search.index_page

        def counting_content(index: search.SearchIndex, stream: str, record: dict[str, object]) -> None:
            self.count += 1
            content(index, stream, record)

        def counting_page(index: search.SearchIndex, record: dict[str, object]) -> None:
            self.count += 1
            page(index, record)

        monkeypatch.setattr(search, "index_content", counting_content)
        monkeypatch.setattr(search, "index_page", counting_page)


def build(log: Path, out: Path, *extra: str) -> None:
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1", *extra]) == 0


def half_built(tmp_path: Path, where: str = "record boundary") -> tuple[Path, Path, bytes, int]:
    """The graph-break log cut at `where` (written to growing.log), built into out/: the log,
    out, the whole log's bytes, the cut."""
    data = corpus_copy(GRAPH_BREAKS, tmp_path).read_bytes()
    cut = cut_points(data)[where]
    log = tmp_path / "growing.log"
    out = tmp_path / "out"
    log.write_bytes(data[:cut])
    build(log, out)
    return log, out, data, cut


def grow(log: Path, data: bytes, start: int, end: int | None = None) -> None:
    with open(log, "ab") as handle:
        handle.write(data[start:end])


def fresh_tree(tmp_path: Path, log: Path, *extra: str) -> dict[str, bytes]:
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    build(log, fresh, *extra)
    return tree(fresh)


class Counter(Protocol):
    count: int


def grow_and_count(tmp_path: Path, where: str, counter: Counter, state: Path | str) -> tuple[int, int, int]:
    """Build half the log (cut at `where`), grow it to the whole and build again, checking the
    report then equals a fresh build's: what `counter` counted in the first build, the re-run
    and the fresh build."""
    log, out, data, cut = half_built(tmp_path, where)
    first = counter.count
    assert (out / state).is_file()
    grow(log, data, cut)
    counter.count = 0
    build(log, out)
    grown = counter.count
    assert tree(out) == fresh_tree(tmp_path, log)
    return first, grown, counter.count - grown


@pytest.mark.parametrize("where", ["record boundary", "inside a payload", "mid line"])
def test_a_grown_log_reads_only_the_new_records_and_equals_a_fresh_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    first, grown, total = grow_and_count(tmp_path, where, Counted(monkeypatch), STATE_FILE)
    assert total > first and grown < total - first / 2, (first, grown, total)  # not the first half again


def built_in_steps(tmp_path: Path, data: bytes, cuts: list[int]) -> None:
    """Build the log cut at `cuts[0]`, then after each further cut and at its end, and check the
    report equals a fresh build's (every module's state included)."""
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:cuts[0]])
    build(log, out)
    for start, end in zip(cuts, [*cuts[1:], len(data)], strict=True):
        grow(log, data, start, end)
        build(log, out)
    assert tree(out) == fresh_tree(tmp_path, log)


def test_three_appends_equal_a_fresh_build(tmp_path: Path) -> None:
    """search's state, and compilation_metrics', guards' and every other module's."""
    data = corpus_copy(GRAPH_BREAKS, tmp_path).read_bytes()
    built_in_steps(tmp_path, data, sorted({data.index(b"\nV", len(data) * n // 4) + 1 for n in (1, 2, 3)}))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing chunk"])
def test_a_state_that_does_not_hold_means_a_build_from_the_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    monkeypatch.setattr(search, "DOCS_PER_SHARD", 20)  # full chunks in half a small log
    log, out, data, cut = half_built(tmp_path)
    state = out / STATE_FILE
    if damage == "garbage":
        state.write_bytes(b"not a state\n" + os.urandom(64))
    elif damage == "truncated":
        state.write_bytes(state.read_bytes()[:-5])
    else:  # a full chunk the state counts on is gone
        next((out / "data" / "search").glob("docs-*-0.js")).unlink()
    grow(log, data, cut)
    counted = Counted(monkeypatch)
    build(log, out)
    grown = counted.count
    assert tree(out) == fresh_tree(tmp_path, log)
    assert grown == counted.count - grown  # as many records as the fresh build: from the start


def test_a_log_changed_before_the_point_is_indexed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another log at the same path: the parse starts again, its history with it, and so does search."""
    log, out, data, _ = half_built(tmp_path)
    changed = data.replace(b"graph_break", b"graph_brake", 3)
    assert changed != data
    log.write_bytes(changed)
    counted = Counted(monkeypatch)
    build(log, out)
    grown = counted.count
    assert tree(out) == fresh_tree(tmp_path, log)
    assert grown == counted.count - grown


def test_an_eager_build_does_not_take_the_default_builds_state(tmp_path: Path) -> None:
    log, out, data, cut = half_built(tmp_path)
    grow(log, data, cut)
    build(log, out, "--eager")
    assert tree(out) == fresh_tree(tmp_path, log, "--eager")


def test_postings_in_any_order_keep_the_first_documents_by_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resumed build adds a later rank's documents after an earlier rank's: each list must
    still be the first MAX_POSTINGS numbers, ascending, with the exact count."""
    monkeypatch.setattr(search, "MAX_POSTINGS", 5)
    rng = random.Random(5)
    for _ in range(300):
        numbers = rng.sample(range(64), rng.randint(1, 20))
        postings = search.Postings(ascending=False)
        for number in numbers:
            postings.add(number, {"w": number % 2})
        expected = array("I", [len(numbers), *sorted(n << 1 | n % 2 for n in numbers)[:5]])
        assert as_array(postings.lists["w"]) == expected
        in_order = search.Postings()  # a fresh build's first part: appended as they come
        for number in sorted(numbers):
            in_order.add(number, {"w": number % 2})
        assert as_array(in_order.lists["w"]) == expected
