"""guards after a log grew: only the guard records after the parse's resume point are read
(RecordState with the counts and file lists as its state), and the whole report equals a fresh
build's, the state included. A log that redefines an intern index the pages before the point
resolved is read again (their stacks would name other files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import LEGACY_TESTS, corpus_copy
from tests.test_incremental_report import tree
from tests.test_metrics_state import after_the_record_naming
from tests.test_search_incremental import GRAPH_BREAKS, build, fresh_tree, grow, grow_and_count
from tlparse_tasks.modules import guards

STATE = Path(".modules") / "guards.state"
GUARD_PAGES = LEGACY_TESTS / "comp_metrics.log"  # dynamo_guards with stacks (03_graph_breaks: C++ dumps)


class Read:
    """The guard records the module reads in a run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = guards.output_of

        def counting(record: dict[str, Any], *args: Any) -> Any:
            self.count += 1
            return original(record, *args)

        monkeypatch.setattr(guards, "output_of", counting)


def grown_twice(tmp_path: Path, data: bytes, cut: int, read: Read) -> tuple[int, int, int, dict[str, Any]]:
    """Build `data[:cut]`, grow to all of `data`, build again; (records read by the first build,
    by the second, by a fresh one; the first build's state)."""
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:cut])
    build(log, out)
    first = read.count
    saved = orjson.loads((out / STATE).read_bytes())["extra"]
    grow(log, data, cut)
    read.count = 0
    build(log, out)
    grown = read.count
    assert tree(out) == fresh_tree(tmp_path, log)
    return first, grown, read.count - grown, saved


@pytest.mark.parametrize("where", ["record boundary", "inside a payload", "mid line"])
def test_cpp_guard_dumps_after_the_point_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    first, grown, total = grow_and_count(tmp_path, where, Read(monkeypatch), STATE)
    assert total > first > 0 and grown <= total - first + 1, (first, grown, total)


def test_guard_pages_after_the_point_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = corpus_copy(GUARD_PAGES, tmp_path).read_bytes()
    cut = after_the_record_naming(data, b'"dynamo_guards"')
    first, grown, total, saved = grown_twice(tmp_path, data, cut, Read(monkeypatch))
    assert saved["pages"] == 1 and saved["groups"], saved
    assert total == 3 and grown <= total - first + 1, (first, grown, total)


def test_a_log_that_redefines_an_intern_index_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs' logs one after the other: the second's `str` entries give its own names to the
    indices the first's stacks used. A fresh build shows the last name; so must a grown one."""
    data = corpus_copy(GUARD_PAGES, tmp_path).read_bytes() + corpus_copy(GRAPH_BREAKS, tmp_path).read_bytes()
    cut = after_the_record_naming(data, b'"dynamo_guards"')
    first, grown, total, _ = grown_twice(tmp_path, data, cut, Read(monkeypatch))
    assert grown == total > first, (first, grown, total)


def test_an_index_named_before_it_is_defined_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard's stack names intern index 7 before the log defines it: the page first shows an
    unknown file, and once the grown log defines 7 it shows the name, as a fresh build does."""
    from tests.logs import cid, entry

    stack = [{"line": 3, "name": "forward", "filename": 7}]
    guards_payload = orjson.dumps([{"code": "x.size()[0] == 2", "stack": stack}]).decode()
    head = "".join([entry({"dynamo_start": {"stack": []}, **cid()}),
                    entry({"dynamo_guards": {}, **cid()}, guards_payload),
                    entry({"dynamo_guards": {}, **cid(1)}, guards_payload)])
    data = (head + entry({"str": ["/home/user/defined_late.py", 7]})
            + entry({"dynamo_guards": {}, **cid(2)}, guards_payload)).encode()
    read = Read(monkeypatch)
    first, grown, total, saved = grown_twice(tmp_path, data, len(head), read)
    assert saved["pages"] == 1 and grown == total == 3, (first, grown, total)
    assert b"defined_late.py" in (tmp_path / "out" / "-_0_0_0" / "dynamo_guards_0.html").read_bytes()


def test_an_index_never_defined_stays_in_the_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stacks before the point name index 9, which the log never defines, and those after it
    name none: the grown build uses the state and still remembers 9 as not found (its state
    equals a fresh build's), so a later definition would still read everything again."""
    from tests.logs import cid, entry

    stack = [{"line": 3, "name": "forward", "filename": 9}]
    guards_payload = orjson.dumps([{"code": "x.size()[0] == 2", "stack": stack}]).decode()
    pages = [entry({"dynamo_guards": {}, **cid(n)}, guards_payload) for n in range(3)]
    plain = orjson.dumps([{"code": "x.size()[1] == 3"}]).decode()
    head = "".join(pages) + entry({"dynamo_guards": {}, **cid(3)}, plain)  # the point: before this one
    data = (head + entry({"dynamo_guards": {}, **cid(4)}, plain)).encode()
    first, grown, total, _ = grown_twice(tmp_path, data, len(head), Read(monkeypatch))
    assert grown < total, (first, grown, total)
    strings = orjson.loads((tmp_path / "out" / STATE).read_bytes())["strings"]
    assert strings["missed"] == ["9"]
