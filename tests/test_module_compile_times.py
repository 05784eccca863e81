"""Compile times: the events file streamed, each compilation's phases from its metrics (trace
events where a metric is null), slowest first, bars to one scale, and the index table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.test_module_graph_breaks import render_module, store_of
from tlparse_tasks.modules import compile_times as ct
from tlparse_tasks.store.reader import StoreReader

TRAINING = TORCH_213 / "02_training"
WARM_CACHE = TORCH_213 / "06_cache" / "dedicated_log_torch_trace_8vuvh52_.log"


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> StoreReader:
    root = tmp_path_factory.mktemp("ct")
    return store_of(corpus_copy(next(TRAINING.glob("*.log")), root), root / "out")


def rows_of(store: StoreReader) -> list[ct.TimeRow]:
    return ct.time_rows(store.read_jsonl("compilation_metrics.jsonl"),
                        ct.iter_events(store.path("chromium_events.json")))


def test_events_stream_one_at_a_time_as_the_whole_file_reads(training: StoreReader) -> None:
    path = training.path("chromium_events.json")
    assert list(ct.iter_events(path)) == json.loads(path.read_bytes())


def test_events_stream_skips_a_broken_event_and_reads_one_line_events(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text('[\n  {\n    "name": "a",\n    "ph": "B"\n  },\n  {\n    "name": oops\n  },\n  {},\n'
                    '  {\n    "name": "b"\n  }\n]')
    assert list(ct.iter_events(path)) == [{"name": "a", "ph": "B"}, {}, {"name": "b"}]


def slim(event: dict[str, Any]) -> dict[str, Any]:
    """An event as `phase_events` gives it: its args cut down to the compile id."""
    args = event.get("args")
    if isinstance(args, dict):
        return {**event, "args": {k: v for k, v in args.items() if k == "compile_id"}}
    return event


def timed(event: dict[str, Any]) -> bool:
    return isinstance(event.get("name"), str) and ct.wanted_name(event["name"]) and event.get("ph") in ("B", "E", "X")


@pytest.mark.parametrize("block", [ct.BLOCK, 4096, 64])
def test_phase_events_are_the_timed_events_of_phases_and_caches(training: StoreReader, block: int) -> None:
    path = training.path("chromium_events.json")
    expected = [slim(e) for e in ct.iter_events(path) if timed(e)]
    assert expected and list(ct.phase_events(path, block)) == expected
    assert rows_of(training) == ct.time_rows(training.read_jsonl("compilation_metrics.jsonl"), ct.iter_events(path))


def test_phase_events_of_odd_events_feed_what_every_event_does(tmp_path: Path) -> None:
    """Events without a name, with a name that is no string, an escaped name, a phase that is
    not timed or not right after the name, args that are no object or hold an odd compile id,
    a broken event: the rows are those of every event, at any block size."""
    events: list[Any] = [
        {"name": "entire_frame_compile", "ph": "B", "ts": 0, "pid": 0, "tid": 0,
         "args": {"a": [1, {"b": "\n  }"}], "compile_id": "0/0", "z": {"y": 1}}},
        {"ph": "E", "ts": 5, "args": {"compile_id": "0/0"}},
        {"name": {"x": "code_gen"}, "ph": "B", "ts": 1, "args": {"compile_id": "0/0"}},
        {"name": "code_gen", "ph": "B", "ts": 2, "args": {"compile_id": "0/0"}},
        {"name": "code_gen", "ph": "i", "ts": 2.5, "args": {"compile_id": "0/0"}},
        {"name": "code_gen", "nb": 1, "ph": "E", "ts": 3, "args": {"compile_id": "0/0"}},  # ph not next
        {"name": "FxGraphCache.load", "ph": "X", "ts": 3, "dur": 100, "args": {"compile_id": {"odd": [1]}}},
        {"name": "FxGraphCache.load", "ph": "X", "ts": 4, "dur": 100, "args": "0/0"},
        {"name": "remote_cache_g\u00e9t", "ph": "X", "ts": 4, "dur": 100, "args": {"compile_id": "0/0"}},
        {"name": "inductor_compile", "ph": "X", "ts": 4, "dur": 200, "args": {}},
        {"name": "inductor_compile", "ph": "X", "ts": 4, "dur": 300, "args": {"compile_id": "0/0"}},
        {}, {"name": "entire_frame_compile", "ph": "E", "ts": 900_000, "pid": 0, "tid": 0,
             "args": {"compile_id": "0/0"}},
    ]
    text = "[\n  " + ",\n  ".join(json.dumps(e, indent=2, sort_keys=True).replace("\n", "\n  ") for e in events)
    assert "\\u00e9" in text  # a name spelled with an escape
    text += ',\n  {\n    "name": "code_gen",\n    "ph": oops\n  }\n]'
    path = tmp_path / "events.json"
    path.write_text(text)
    every = list(ct.iter_events(path))
    assert len(every) == len(events)  # the broken one skipped
    records = [metrics({"frame": 0, "compile": 0}, start_time_us=0)]
    expected = ct.time_rows(records, every)
    assert expected[0].total and expected[0].code_gen and expected[0].cache == pytest.approx(100 / 1e6)
    for block in (1 << 20, 100, 7):
        assert ct.time_rows(records, ct.phase_events(path, block)) == expected
        assert [e for e in ct.phase_events(path, block) if e.get("ph") == "i"] == []


def test_training_rows_slowest_first_with_phases_from_the_metrics(training: StoreReader) -> None:
    rows = rows_of(training)
    assert [r.display for r in rows] == ["[0/0]", "[3/1]", "[3/0]", "[2/0_1]", "[1/0_1]", "[4/0]"]
    totals = [r.total for r in rows]
    assert totals == sorted(totals, reverse=True)  # type: ignore[type-var]
    first = rows[0]
    # forward 3.517281 s (backend 3.303945, inductor 2.535417, code gen 2.384402) + backward
    # 0.986682 s (inductor 0.978161, code gen 0.897062), from compilation_metrics.jsonl
    assert first.total == pytest.approx(3.517281 + 0.986682)
    assert first.dynamo == pytest.approx(3.517281 - 3.303945)
    assert first.code_gen == pytest.approx(2.384402 + 0.897062)
    assert first.inductor == pytest.approx(2.535417 + 0.978161 - (2.384402 + 0.897062))
    assert first.aot == pytest.approx(3.303945 + 0.986682 - 2.535417 - 0.978161)
    for row in rows:  # the four phases are disjoint and make up the total
        parts = [row.phase(p) or 0.0 for p, _ in ct.PHASES]
        assert sum(parts) == pytest.approx(row.total)
    restart = rows[3]  # a graph break restart: dynamo only, the backend never ran
    assert (restart.dynamo, restart.aot, restart.inductor, restart.code_gen) == (restart.total, None, None, None)
    assert first.url == "-_0_0_0/compilation_metrics_22.html" and restart.url == "-_2_0_1/compilation_metrics_34.html"


def test_cache_time_comes_from_trace_events_of_its_compilation(training: StoreReader) -> None:
    rows = {r.display: r for r in rows_of(training)}
    events = json.loads(training.path("chromium_events.json").read_bytes())
    spans: dict[str, float] = {}
    for begin in (e for e in events if e["ph"] == "B" and ct.is_cache_event(e["name"])):
        end = next(e for e in events if e["ph"] == "E" and e["name"] == begin["name"] and e["ts"] >= begin["ts"])
        cid = begin["args"]["compile_id"]
        spans[cid] = spans.get(cid, 0.0) + (end["ts"] - begin["ts"]) / 1e6
    assert spans and set(spans) == {"0/0"}  # the torch and triton keys, computed once
    assert rows["[0/0]"].cache == pytest.approx(spans["0/0"], abs=1e-6)
    assert rows["[3/0]"].cache is None
    assert not ct.is_cache_event("PyCodeCache.load_by_key_path")  # loads every module: code gen


def test_a_compile_id_compiled_twice_gives_two_rows_and_events_follow_time(tmp_path: Path) -> None:
    store = store_of(corpus_copy(WARM_CACHE, tmp_path), tmp_path / "out")
    rows = rows_of(store)
    twice = [r for r in rows if r.display == "[0/0]"]
    assert len(twice) == 2 and twice[0].url != twice[1].url
    # the first [0/0] loads from the AOT autograd cache (a hit): its cache time is that load,
    # the second (after torch._dynamo.reset()) bypasses the cache and has none
    first, second = sorted(twice, key=lambda r: r.order)
    assert first.cache is not None and first.cache > 0.5 * (first.aot or 0)
    assert second.cache is None


def metrics(cid: dict[str, int], kind: str = "compilation_metrics", **values: Any) -> dict[str, Any]:
    directory = f"-_{cid['frame']}_{cid['compile']}_0"
    return {"type": kind, "compile_id": directory, "metadata": values,
            "outputs": [{"producer": "compilation_metrics", "url": f"{directory}/compilation_metrics_1.html"}]}


def event(name: str, ph: str, ts: float, cid: str = "0/0", tid: int = 0) -> dict[str, Any]:
    return {"name": name, "ph": ph, "ts": ts, "pid": 0, "tid": tid, "args": {"compile_id": cid}}


def test_null_metrics_fall_back_to_trace_events_and_unknown_is_blank() -> None:
    records = [metrics({"frame": 0, "compile": 0}, start_time_us=1_000_000, entire_frame_compile_time_s=None,
                       backend_compile_time_s=None),
               metrics({"frame": 1, "compile": 0}, start_time_us=9_000_000)]
    events = [event("entire_frame_compile", "B", 1_000_000), event("backend_compile", "B", 1_100_000),
              event("backend_compile", "E", 1_600_000), event("entire_frame_compile", "E", 2_000_000),
              {"name": "x", "ph": "X", "ts": 1, "dur": 5}, {"ph": "B"}]
    rows = ct.time_rows(records, events)
    assert [(r.display, r.total, r.dynamo, r.aot, r.inductor, r.cache) for r in rows] == [
        ("[0/0]", 1.0, 0.5, 0.5, None, None), ("[1/0]", None, None, None, None, None)]
    assert [s.phase for s in rows[0].bar] == ["dynamo", "aot"] and rows[1].bar == ()


def test_nested_cache_events_count_once_and_x_events_count() -> None:
    records = [metrics({"frame": 0, "compile": 0}, start_time_us=0, entire_frame_compile_time_s=1.0)]
    events = [event("AOTAutogradCache.inductor_load", "B", 100_000), event("FxGraphCache.load", "B", 150_000),
              event("FxGraphCache.load", "E", 250_000), event("AOTAutogradCache.inductor_load", "E", 300_000),
              {**event("remote_cache_get", "X", 500_000), "dur": 50_000}]
    (row,) = ct.time_rows(records, events)
    assert row.cache == pytest.approx(0.25)


def test_sort_keys_and_bars() -> None:
    keys = [ct.id_sort_key(d) for d in ("-_10_0_0", "-_2_0_0", "-_2_0_1", "0_-_-_-", "unknown_5")]
    assert sorted(keys) == [keys[1], keys[2], keys[0], keys[3], keys[4]]
    rows = ct.with_bars([ct.TimeRow("[0/0]", None, "", 0, 2.0, 1.0, 0.5, 0.25, 0.25, None),
                         ct.TimeRow("[1/0]", None, "", 1, 1.0, 1.0, None, None, None, None)])
    assert [(s.phase, s.x, s.width) for s in rows[0].bar] == [
        ("dynamo", 0, 1.0), ("aot", 1.0, 0.5), ("inductor", 1.5, 0.25), ("code_gen", 1.75, 0.25)]
    assert [(s.phase, s.width) for s in rows[1].bar] == [("dynamo", 1.0)]  # in seconds: alike in every row
    assert [row.extent for row in rows] == [2.0, 1.0] and ct.bar_scale(rows) == 2.0  # one scale for every row
    assert ct.trace_key("-_3_1_2") == "3/1" and ct.trace_key("1_2_0_0") == "!1/2/0"


def first_cells(html: str) -> list[str]:
    body = html.split('<table id="compile-times"', 1)[1].split("<tbody>", 1)[1]
    return re.findall(r"<tr>\s*<td[^>]*>(?:<a[^>]*>)?([^<]*)", body)


def test_index_table_and_the_full_page_when_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = corpus_copy(next(TRAINING.glob("*.log")), tmp_path)
    output = render_module("compile_times", log, tmp_path / "out")
    (entry,) = output.index_entries
    assert first_cells(entry.html) == ["[0/0]", "[3/1]", "[3/0]", "[2/0_1]", "[1/0_1]", "[4/0]"]
    assert 'href="-_0_0_0/compilation_metrics_22.html"' in entry.html and "sort.js" in entry.html
    assert (tmp_path / "out" / "sort.js").is_file() and not (tmp_path / "out" / ct.PAGE).exists()
    monkeypatch.setattr(ct, "INDEX_ROWS", 2)
    output = render_module("compile_times", log, tmp_path / "out2")
    html = output.index_entries[0].html
    assert first_cells(html) == ["[0/0]", "[3/1]"] and f'href="{ct.PAGE}"' in html
    page = (tmp_path / "out2" / ct.PAGE).read_text()
    assert first_cells(page)[-1] == "[4/0]" and 'src="sort.js"' in page


def test_a_log_without_metrics_says_so(tmp_path: Path) -> None:
    log = corpus_copy(LEGACY_TESTS / "export.log", tmp_path)
    output = render_module("compile_times", log, tmp_path / "out")
    assert "No compilation metrics were logged." in output.index_entries[0].html
