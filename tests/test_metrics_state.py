"""compilation_metrics after a log grew: the records before the parse's resume point are read
once (RecordState over the four streams read together, the pass's cross-record state at the
point), and the whole report equals a fresh build's, the state included, wherever the point
falls: between a graph break and the restart that names it, between a guard and the metrics
page that drains it, after a failure. Three appends in a row: test_search_incremental.py's
`test_three_appends_equal_a_fresh_build`, which compares every module's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import TORCH_213, corpus_copy
from tests.test_incremental_report import tree
from tests.test_search_incremental import GRAPH_BREAKS, build, fresh_tree, grow, grow_and_count
from tlparse_tasks.modules import compilation_metrics as cm

STATE = Path(".modules") / "compilation_metrics.state"
FAILURE_LOG = TORCH_213 / "05_failure" / "dedicated_log_torch_trace_kqq2ecy2.log"


class Passed:
    """The records the metrics pass reads in a run (index and typed records)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        index, typed = cm.MetricsPass.index_record, cm.MetricsPass.typed_record

        def counting_index(state: cm.MetricsPass, record: dict[str, Any]) -> None:
            self.count += 1
            index(state, record)

        def counting_typed(state: cm.MetricsPass, record: dict[str, Any]) -> None:
            self.count += 1
            typed(state, record)

        monkeypatch.setattr(cm.MetricsPass, "index_record", counting_index)
        monkeypatch.setattr(cm.MetricsPass, "typed_record", counting_typed)


@pytest.mark.parametrize("where", ["record boundary", "inside a payload", "mid line"])
def test_a_grown_log_reads_only_the_new_records_and_equals_a_fresh_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    first, grown, total = grow_and_count(tmp_path, where, Passed(monkeypatch), STATE)
    assert total > first and grown < total - first / 2, (first, grown, total)


def after_the_record_naming(data: bytes, needle: bytes, past: int = 0) -> int:
    """A cut two records after the first record naming `needle` (past the first `past` bytes):
    the parse resumes from the start of the last record, so that record is before the point."""
    at = data.index(needle, past)
    first = data.index(b"\nV", at) + 1
    return data.index(b"\nV", first) + 1


def state_of(out: Path) -> dict[str, Any]:
    extra: dict[str, Any] = orjson.loads((out / STATE).read_bytes())["extra"]
    return extra


@pytest.mark.parametrize(("source", "needle", "held"), [
    (GRAPH_BREAKS, b'"dynamo_graph_break_reason"', "breaks"),
    (GRAPH_BREAKS, b'"guard_added_fast"', "pending"),
    (GRAPH_BREAKS, b'"dynamo_start"', "stacks"),
    (FAILURE_LOG, b'"fail_type": "', "rows"),
], ids=["a graph break before its restart", "a guard before its page", "a start stack", "a failure"])
def test_what_the_pass_holds_at_the_point_carries_over(tmp_path: Path, source: Path, needle: bytes,
                                                       held: str) -> None:
    data = corpus_copy(source, tmp_path).read_bytes()
    cut = after_the_record_naming(data, needle)
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:cut])
    build(log, out)
    saved = state_of(out)[held]
    assert any(saved.values()) if isinstance(saved, dict) else saved, saved
    grow(log, data, cut)
    build(log, out)
    assert tree(out) == fresh_tree(tmp_path, log)


def test_the_state_is_what_the_pass_held_at_the_point(tmp_path: Path) -> None:
    """The log ends with a metrics record, so it is after the point: the state must not list its
    page, since the next run reads that record again (a live list handed over would)."""
    data = corpus_copy(GRAPH_BREAKS, tmp_path).read_bytes()
    metrics = data.index(b'{"compilation_metrics": {', len(data) // 2)
    cut = data.index(b"\nV", metrics) + 1
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:cut])
    build(log, out)
    shown = data[:metrics].count(b'{"compilation_metrics": {')
    assert len(state_of(out)["pages"]) == shown
    grow(log, data, cut)
    build(log, out)
    assert tree(out) == fresh_tree(tmp_path, log)


def test_a_log_that_redefines_an_intern_index_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs' logs one after the other: the second's `str` entries give their own names to
    the indices the first's stacks used, so the pages before the point name other files in a
    fresh build; the state is not used (StringTable.keeps) and every record is read again."""
    from tests.conftest import LEGACY_TESTS

    data = (corpus_copy(LEGACY_TESTS / "comp_metrics.log", tmp_path).read_bytes()
            + corpus_copy(GRAPH_BREAKS, tmp_path).read_bytes())
    second_guards = data.index(b'"dynamo_guards"', data.index(b'"dynamo_guards"') + 1)
    cut = after_the_record_naming(data, b'"dynamo_cpp_guards_str"', second_guards)
    passed = Passed(monkeypatch)
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:cut])
    build(log, out)
    grow(log, data, cut)
    passed.count = 0
    build(log, out)
    grown = passed.count
    assert tree(out) == fresh_tree(tmp_path, log)
    assert grown == passed.count - grown  # as many as the fresh build: all of them
