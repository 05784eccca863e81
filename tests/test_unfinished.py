"""Unfinished compiles (issue 9 item 6): a `dynamo_start` that no `compilation_metrics` of the
same frame compile follows is `unfinished` in the manifest (stack trie and compile directory
colours) and named by a warning at the top of the index; appending the rest of the log finishes
it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.logs import cid, entry, simple_log
from tests.test_schemas import validator
from tlparse_tasks.cli import main
from tlparse_tasks.parse.parser import parse_log

TRAINING = next((TORCH_213 / "02_training").glob("*.log"))
GRAPH_BREAKS = next((TORCH_213 / "03_graph_breaks").glob("*.log"))
STACK = {"stack": [{"line": 12, "name": "forward", "filename": 0}]}


def metrics_line(data: bytes, frame: int, compile_: int) -> int:
    """Byte offset of the `compilation_metrics` envelope of frame compile [frame/compile_]."""
    offset = 0
    for line in data.splitlines(keepends=True):
        if b'"compilation_metrics"' in line and not line.startswith(b"\t"):
            envelope = json.loads(line.split(b"] ", 1)[1])
            if (envelope.get("frame_id"), envelope.get("frame_compile_id")) == (frame, compile_):
                return offset
        offset += len(line)
    raise AssertionError(f"no metrics for [{frame}/{compile_}]")


def cut_before_metrics(source: Path, tmp_path: Path, frame: int, compile_: int) -> tuple[Path, bytes]:
    """A copy of `source` that ends just before [frame/compile_]'s metrics; also the rest."""
    data = corpus_copy(source, tmp_path).read_bytes()
    cut = metrics_line(data, frame, compile_)
    log = tmp_path / "cut.log"
    log.write_bytes(data[:cut])
    return log, data[cut:]


def manifest_of(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "intermediate" / "manifest.json").read_text())
    return loaded


def statuses(manifest: dict[str, Any]) -> dict[str, str]:
    return {c["display_name"]: c["status"] for c in manifest["compile_ids"]}


def unfinished_names(manifest: dict[str, Any]) -> list[str]:
    return [u["display_name"] for u in manifest["unfinished"]]


def parse_text(tmp_path: Path, text: str) -> dict[str, Any]:
    log = tmp_path / "t.log"
    log.write_text(text)
    parse_log(log, tmp_path / "out", stderr=None)
    return manifest_of(tmp_path / "out")


# -- the rule, on crafted logs ---------------------------------------------------------------

def test_a_start_without_metrics_is_unfinished(tmp_path: Path) -> None:
    text = simple_log() + entry({"dynamo_start": STACK, **cid(1)})
    manifest = parse_text(tmp_path, text)
    assert unfinished_names(manifest) == ["[1/0]"]
    assert manifest["unfinished"][0]["start_line"] == text.count("\n")  # its dynamo_start, last
    assert statuses(manifest) == {"[0/0]": "ok", "[1/0]": "unfinished"}
    assert manifest["stack_statuses"] == {"-_0_0_0": "ok", "-_1_0_0": "unfinished"}


def test_metrics_of_a_restart_attempt_finish_the_compile(tmp_path: Path) -> None:
    """Dynamo starts at attempt 0 and reports after its restarts, at attempt 1."""
    text = "".join([
        entry({"str": ["/home/user/model.py", 0]}),
        entry({"dynamo_start": STACK, **cid(0, 0, 0)}),
        entry({"dynamo_output_graph": {"sizes": {}}, **cid(0, 0, 1)}, "graph"),
        entry({"compilation_metrics": {"graph_op_count": 2, "restart_reasons": ["graph break"]},
               **cid(0, 0, 1)}),
    ])
    manifest = parse_text(tmp_path, text)
    assert manifest["unfinished"] == []
    assert statuses(manifest) == {"[0/0]": "break", "[0/0_1]": "break"}


def test_a_restart_attempt_without_metrics_leaves_the_compile_unfinished(tmp_path: Path) -> None:
    text = "".join([
        entry({"dynamo_start": STACK, **cid(0, 0, 0)}),
        entry({"dynamo_output_graph": {"sizes": {}}, **cid(0, 0, 1)}, "graph"),
    ])
    manifest = parse_text(tmp_path, text)
    assert unfinished_names(manifest) == ["[0/0]"]
    assert statuses(manifest) == {"[0/0]": "unfinished", "[0/0_1]": "unfinished"}


def test_compiled_autograd_is_part_of_the_compile_id(tmp_path: Path) -> None:
    """Metrics of [0/0] do not finish [!1/0/0], a compile of the same frame under compiled
    autograd; the compiled-autograd graph itself ([!1/-/-]) never starts anything."""
    text = "".join([
        entry({"dynamo_start": STACK, "compiled_autograd_id": 1, **cid()}),
        entry({"dynamo_start": STACK, **cid()}),
        entry({"compilation_metrics": {"graph_op_count": 1}, **cid()}),
        entry({"compiled_autograd_graph": {}, "compiled_autograd_id": 1}, "graph"),
    ])
    manifest = parse_text(tmp_path, text)
    assert unfinished_names(manifest) == ["[!1/0/0]"]
    assert statuses(manifest)["[0/0]"] == "ok"


def test_ids_without_a_frame_compile_are_never_unfinished(tmp_path: Path) -> None:
    """A start whose compile id is `[-/-]` or unreadable has no metrics to wait for."""
    text = "".join([
        entry({"dynamo_start": STACK}),
        entry({"dynamo_start": STACK, "frame_id": "x", "frame_compile_id": 0}),
        entry({"dynamo_start": STACK, "frame_id": 2}),
    ])
    manifest = parse_text(tmp_path, text)
    assert manifest["unfinished"] == []
    assert "unfinished" not in statuses(manifest).values()


def test_a_start_after_metrics_reopens_the_compile(tmp_path: Path) -> None:
    """Only metrics logged after the last start count: the process began the compile again."""
    text = simple_log() + entry({"dynamo_start": STACK, **cid()})
    assert unfinished_names(parse_text(tmp_path, text)) == ["[0/0]"]


# -- real logs ------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    TRAINING, GRAPH_BREAKS, *sorted((TORCH_213 / "05_failure").glob("*.log")),
    LEGACY_TESTS / "simple.log", LEGACY_TESTS / "comp_failure.log", LEGACY_TESTS / "cache_hit_miss.log",
], ids=lambda p: p.name)
def test_complete_corpus_logs_have_no_unfinished_compile(tmp_path: Path, source: Path) -> None:
    parse_log(corpus_copy(source, tmp_path), tmp_path / "out", stderr=None)
    manifest = manifest_of(tmp_path / "out")
    assert manifest["unfinished"] == []
    assert "unfinished" not in statuses(manifest).values()
    assert "unfinished" not in manifest["stack_statuses"].values()


def test_a_log_cut_before_a_restarted_compile_reports_names_only_that_compile(tmp_path: Path) -> None:
    """02_training's [1/0] restarts and reports at [1/0_1]: cut just before that report."""
    log, _ = cut_before_metrics(TRAINING, tmp_path, 1, 0)
    parse_log(log, tmp_path / "out", stderr=None)
    manifest = manifest_of(tmp_path / "out")
    assert unfinished_names(manifest) == ["[1/0]"]
    assert statuses(manifest)["[1/0]"] == statuses(manifest)["[1/0_1]"] == "unfinished"
    assert statuses(manifest)["[0/0]"] == "ok"
    assert manifest["stack_statuses"] == {"-_0_0_0": "ok", "-_1_0_0": "unfinished"}
    assert list(validator("manifest").iter_errors(manifest)) == []


def test_a_second_compile_of_a_frame_cut_short_leaves_the_first_finished(tmp_path: Path) -> None:
    """03_graph_breaks compiles frame 3 twice; cut inside the second compile ([3/1])."""
    log, _ = cut_before_metrics(GRAPH_BREAKS, tmp_path, 3, 1)
    parse_log(log, tmp_path / "out", stderr=None)
    manifest = manifest_of(tmp_path / "out")
    assert unfinished_names(manifest) == ["[3/1]"]
    assert manifest["stack_statuses"]["-_3_1_0"] == "unfinished"
    assert manifest["stack_statuses"]["-_3_0_0"] == "break"


def run_report(log: Path, out: Path) -> str:
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1"]) == 0
    return (out / "index.html").read_text()


def test_appending_the_rest_finishes_the_compile_and_drops_the_warning(tmp_path: Path) -> None:
    log, rest = cut_before_metrics(TRAINING, tmp_path, 3, 1)
    index = run_report(log, tmp_path / "out")
    assert 'class="tlp-warning tlp-unfinished"' in index
    assert '<a href="#[3/1]" class="tlp-cid status-unfinished">[3/1]</a> unfinished' in index
    with open(log, "ab") as handle:
        handle.write(rest)
    assert parse_log(log, tmp_path / "out", stderr=None).resumed
    manifest = manifest_of(tmp_path / "out")
    assert manifest["unfinished"] == [] and statuses(manifest)["[3/1]"] == "ok"
    index = run_report(log, tmp_path / "out")
    assert "tlp-unfinished" not in index
    assert not re.search(r'status-unfinished">\[[0-9!]', index)  # only the legend keeps the colour
    shutil.copyfile(log, tmp_path / "whole.log")
    fresh = manifest_of_parse(tmp_path / "whole.log", tmp_path / "fresh")
    assert fresh["compile_ids"] == manifest["compile_ids"]
    assert fresh["stack_statuses"] == manifest["stack_statuses"]


def manifest_of_parse(log: Path, out: Path) -> dict[str, Any]:
    parse_log(log, out, stderr=None)
    return manifest_of(out)
