"""--all-ranks-html: the cross-rank diagnostics, the one DAG over every rank, and the landing page.

A synthetic folder from a real log (tests/multi_rank_support.py) has one rank without a frame and
another with a cache hit turned into a miss: the diagnostics must name exactly those ranks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.multi_rank_support import (
    DROPPED_RANK,
    MISS_RANK,
    build_ranks,
    diagnostics,
    make_rank_folder,
    rank_name,
    run_tlparse,
)
from tlparse_tasks.modules.cross_rank import exec_order, group_ranks, runtime, tensor_meta, to_ms
from tlparse_tasks.modules.multi_rank import fx_hash
from tlparse_tasks.modules.rank_summary import code_collectives, parity_of, strip_comments

SCHEMA = Path(__file__).resolve().parents[1] / "tlparse_tasks" / "store" / "schemas" / \
    "multi_rank_diagnostics.schema.json"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic folder's report (built once for the module's read-only tests)."""
    root = tmp_path_factory.mktemp("ranks")
    logs = make_rank_folder(root / "logs")
    build_ranks(logs, root / "out")
    return root / "out"


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("<h3", start + 1)
    return html[start:end if end > 0 else None]


# -- the diagnostics name exactly the ranks that differ ------------------------------------------

def test_diagnostics_file_names_the_rank_without_a_frame_and_the_rank_with_a_miss(synthetic: Path) -> None:
    data = json.loads((synthetic / "multi_rank_diagnostics.json").read_text())
    Draft202012Validator(json.loads(SCHEMA.read_text())).validate(data)
    assert data["ranks"] == [0, 1, 2]
    found = diagnostics(synthetic)
    assert list(found) == ["compile_ids", "cache", "collectives", "tensor_meta", "exec_order", "runtime"]
    ids = found["compile_ids"]
    assert ids["status"] == "divergent" and ids["groups"] == [[0, MISS_RANK], [DROPPED_RANK]]
    assert ids["details"]["differences"] == [{"compile_id": "[0/0]", "ranks_with": [0, MISS_RANK],
                                              "ranks_without": [DROPPED_RANK]}]
    cache = found["cache"]
    assert cache["status"] == "divergent" and cache["groups"] == [[0, DROPPED_RANK], [MISS_RANK]]
    (row,) = cache["details"]["differences"]
    assert row["compile_id"] == "[1/0]"
    assert row["by_rank"]["0"] == row["by_rank"]["1"] != row["by_rank"]["2"]
    assert row["by_rank"]["0"].count("hit") == row["by_rank"]["2"].count("hit") + 1
    for kind in ("collectives", "tensor_meta", "exec_order", "runtime"):  # no data: no claim
        assert found[kind]["status"] == "unavailable" and found[kind]["groups"] == [[0, 1, 2]]


def test_landing_page_names_those_ranks_and_links_them(synthetic: Path) -> None:
    html = (synthetic / "index.html").read_text()
    box = html[html.index('class="warning-box"'):html.index("<h2>")]
    ids, cache = box.split("<strong>Warning:</strong>")[1:3]
    assert "Diverging Compilation IDs" in ids and "Diverging Cache hit/miss patterns" in cache
    groups = re.compile(r"<li>Ranks: (.*?)</li>")
    numbers = re.compile(r">(\d+)</a>")
    assert [numbers.findall(g) for g in groups.findall(ids)] == [["0", "2"], ["1"]]
    assert [numbers.findall(g) for g in groups.findall(cache)] == [["0", "1"], ["2"]]
    assert '<a href="rank_0/index.html#[0/0]">[0/0]</a>' in ids
    assert 'not compiled on <a href="rank_1/index.html">Rank 1</a>' in ids
    row = cache[cache.index('<ul class="tlp-rank-rows">'):]
    assert row.count("hit") == 1
    assert 'href="rank_0/index.html">Rank 0</a>, <a href="rank_1/index.html">Rank 1</a>' in row
    assert re.search(r'; (miss|bypass)(, (miss|bypass))* on <a href="rank_2/index.html">Rank 2</a>', row)
    assert "Execution-order analysis unavailable." in html
    assert "Tensor metadata analysis unavailable" in html
    assert "matching tensor meta" not in html  # legacy claims a match without any data
    assert "collectives_parity" not in html  # legacy's landing never mentions it
    for rank in (0, 1, 2):
        assert f'<li><a href="rank_{rank}/index.html">Rank {rank}</a></li>' in html
        assert 'href="collectives_parity.json"' in (synthetic / f"rank_{rank}" / "index.html").read_text()
        parity = json.loads((synthetic / f"rank_{rank}" / "collectives_parity.json").read_text())
        assert parity["graphs"] == []


def test_identical_ranks_are_consistent(tmp_path: Path) -> None:
    logs = make_rank_folder(tmp_path / "logs", ranks=1)
    (logs / rank_name(3)).write_bytes((logs / rank_name(0)).read_bytes())
    build_ranks(logs, tmp_path / "out")
    found = diagnostics(tmp_path / "out")
    assert found["compile_ids"]["status"] == found["cache"]["status"] == "consistent"
    assert found["compile_ids"]["groups"] == [[0, 3]]
    html = (tmp_path / "out" / "index.html").read_text()
    assert "warning-box" not in html and "Diverging" not in html


# -- the DAG: one graph, per-rank tasks, incremental ------------------------------------------------

def test_appending_to_one_rank_reruns_only_that_rank_and_the_cross_rank_part(tmp_path: Path) -> None:
    logs = make_rank_folder(tmp_path / "logs")
    out = tmp_path / "out"
    first = build_ranks(logs, out, "-v", "-j", "2")
    ran = first.stderr.split("ran: ", 1)[1].split(";")[0].split(", ")
    assert {"rank0:parse", "rank1:parse", "rank2:parse", "module:multi_rank", "landing"} <= set(ran)
    assert "rank2:module:rank_summary" in ran
    log = logs / rank_name(1)
    lines = log.read_text().splitlines(keepends=True)
    tail = next(i for i in range(len(lines) - 1, 0, -1) if not lines[i].startswith("\t"))
    log.write_text("".join(lines) + "".join(lines[tail:]))  # one more whole record, as torch appends
    again = build_ranks(logs, out, "-v", "-j", "2")
    ran = again.stderr.split("ran: ", 1)[1].split(";")[0].split(", ")
    assert "rank1:parse" in ran and "module:multi_rank" in ran  # landing: only if the diagnostics changed
    assert not [name for name in ran if name.startswith(("rank0:", "rank2:"))]
    unchanged = build_ranks(logs, out, "-v")
    assert "ran: nothing;" in unchanged.stderr


def test_a_foreign_directory_is_still_refused(tmp_path: Path) -> None:
    logs = make_rank_folder(tmp_path / "logs", ranks=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    result = run_tlparse(str(logs), "--all-ranks-html", "-o", str(out), "--no-browser")
    assert result.returncode == 1 and "already exists; pass --overwrite" in result.stderr
    assert (out / "mine.txt").read_text() == "keep"


def test_dask_flag_errors_are_one_line(tmp_path: Path) -> None:
    logs = make_rank_folder(tmp_path / "logs", ranks=1)
    result = run_tlparse(str(logs / rank_name(0)), "--dask", "local", "-o", str(tmp_path / "a"))
    assert result.returncode == 1 and result.stderr.strip() == (
        "Error: --dask needs --all-ranks-html (it runs the per-rank tasks on a cluster)")
    result = run_tlparse(str(logs), "--all-ranks-html", "--dask", "nowhere", "-o", str(tmp_path / "b"))
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: --dask nowhere: expected local, local:N or tcp://host:port"
    assert not (tmp_path / "b").exists()


def test_missing_dask_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from tlparse_tasks.cli import main

    logs = make_rank_folder(tmp_path / "logs", ranks=1)
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now fails
    assert main([str(logs), "--all-ranks-html", "--dask", "local:2", "-o", str(tmp_path / "o"), "--no-browser"]) == 1
    assert capsys.readouterr().err.strip() == (
        "Error: --dask needs the optional dask[distributed] package: pip install 'tlparse-tasks[dask]' "
        "(or pip install 'dask[distributed]')")


# -- the rules, one by one ------------------------------------------------------------------------

def test_comment_stripping_is_legacy_s_leftmost_first_rule() -> None:
    assert strip_comments("a # b\nc // d\ne /* f\n g */ h") == "a \nc \ne  h"
    assert strip_comments("x /* never closed\ny # z") == "x /* never closed\ny "
    assert strip_comments("/* a */ b /* c") == " b /* c"


def test_collective_calls_count_as_legacy_reads_its_html_page() -> None:
    code = ("buf = torch.ops._c10d_functional.all_reduce_.default(x, 'sum', '0')\n"
            "y = f('#', torch.ops._c10d_functional.all_gather_into_tensor.default(x, 2, '0'))\n"
            "#torch.ops._c10d_functional.wait_tensor.default(buf)\n"
            "torch.ops._c10d_functional.wait_tensor.default (buf)\n")
    assert code_collectives(code, as_html=False) == {"all_reduce": 1, "wait_tensor": 1}
    # in HTML the `'` of `f('#'` is `&#39;`: its `#` hides the rest of the line (legacy quirk)
    assert code_collectives(code, as_html=True) == {"all_reduce": 1, "wait_tensor": 1}
    assert code_collectives("g(torch.ops._c10d_functional.all_gather_into_tensor.default(x))", True) == {
        "all_gather": 1}
    schedule = ["torch.ops._c10d_functional.all_reduce_.default", "torch.ops._c10d_functional.wait_tensor.default",
                "torch.ops._c10d_functional.reduce_scatter_tensor.default"]
    assert parity_of(schedule, {"all_reduce": 1, "all_gather": 1}) == (2, 2)
    assert parity_of(schedule, {"all_reduce": 1, "reduce_scatter": 1, "wait_tensor": 2}) == (0, 0)


def test_runtime_trace_thread_ids_are_legacy_s_fxhash() -> None:
    # chromium_trace_with_runtime.json of legacy on graph_exec_order_tests
    assert fx_hash(0, "-_0_1_0") & 0xFFFFFFFF == 3096134113
    assert fx_hash(0, "-_0_0_0") & 0xFFFFFFFF == 2757132989
    assert fx_hash(1, "-_0_1_0") & 0xFFFFFFFF == 470279435


def facts(**graphs: Any) -> dict[str, Any]:
    return {"compile_ids": [], "cache_pattern": "", "exec_order": None, "graphs": [
        {"dir": d, "key": f"[{d}]", "cache": None, "cache_seq": None, "runtime_ops": None, "tensor_meta": None,
         "schedule": None, **g}
        for d, g in graphs.items()]}


def test_an_execution_order_of_another_length_differs() -> None:
    """Legacy calls 14 entries against 15 consistent (10_multi_rank)."""
    ranks = {0: facts(), 1: facts()}
    ranks[0]["exec_order"] = ["[0/0]", "[1/0]"]
    ranks[1]["exec_order"] = ["[0/0]", "[1/0]", "[1/1]"]
    found = exec_order(ranks)
    assert found.status == "divergent" and found.groups == [[0], [1]]
    assert found.details["order_differs"] and found.details["rows"] == [
        {"index": 2, "by_rank": {0: None, 1: "[1/1]"}, "issues": []}]


def test_no_tensor_metadata_is_no_match_and_a_rank_without_it_differs() -> None:
    assert tensor_meta({0: facts(), 1: facts()}).status == "unavailable"
    found = tensor_meta({0: facts(a={"tensor_meta": ["x"]}), 1: facts(a={"tensor_meta": ["x"]}), 2: facts()})
    assert found.status == "divergent" and found.groups == [[0, 1], [2]] and found.details["without_data"] == [2]


def test_runtime_delta_names_two_ranks_only_when_they_differ() -> None:
    ops = [{"name": "k", "estimated_runtime_ns": 1_500_000.0}]
    slower = [{"name": "k", "estimated_runtime_ns": 2_000_000.0}]
    equal = runtime({0: facts(g={"runtime_ops": ops}), 1: facts(g={"runtime_ops": ops})})
    (graph,) = equal.details["graphs"]
    assert equal.status == "consistent" and graph["equal"] and graph["delta_ms"] == 0.0
    differ = runtime({0: facts(g={"runtime_ops": slower}), 1: facts(g={"runtime_ops": ops}),
                      2: facts(g={"runtime_ops": slower})})
    (graph,) = differ.details["graphs"]
    assert differ.groups == [[0, 2], [1]]
    assert graph["fastest"] == {"rank": 1, "ms": 1.5} and graph["slowest"] == {"rank": 0, "ms": 2.0}
    mismatched = runtime({0: facts(g={"runtime_ops": ops}), 1: facts()})
    assert mismatched.status == "divergent" and mismatched.details["mismatched_graph_counts"]


def test_groups_are_sorted_and_milliseconds_round_half_away_from_zero() -> None:
    assert group_ranks({5: "b", 1: "a", 3: "b", 0: "c"}) == [[0], [1], [3, 5]]
    assert to_ms(1_234_500.0) == 1.235 and to_ms(2_500.0) == 0.003
