"""A grown log re-renders only the compile ids whose records changed, and the whole report
equals a fresh build of the same log, file for file."""

from __future__ import annotations

import collections
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TORCH_213, corpus_copy
from tlparse_tasks.cli import main
from tlparse_tasks.module_api import ModuleContext

GRAPH_BREAKS = TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log"
# Files that describe a run rather than the report: doit's database and the parse's resume point.
RUN_STATE = {".tlparse-doit.db", "intermediate/parse_state.json"}


def tree(root: Path) -> dict[str, bytes]:
    files = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative not in RUN_STATE:
            files[relative] = path.read_bytes()
    return files


def mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def last_compile_cut(data: bytes) -> int:
    """A record boundary just before the log's last `dynamo_start`: the tail is one new compile."""
    return data.rindex(b"\n", 0, data.rindex(b'"dynamo_start"')) + 1


@pytest.mark.slow
def test_append_rerenders_only_new_compile_ids_and_matches_a_fresh_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = corpus_copy(GRAPH_BREAKS, tmp_path)
    data = full.read_bytes()
    cut = last_compile_cut(data)
    log = tmp_path / "growing.log"
    log.write_bytes(data[:cut])
    out = tmp_path / "inc"
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1"]) == 0
    before = mtimes(out)

    renders: collections.Counter[str] = collections.Counter()
    original = ModuleContext.render

    def counting(self: ModuleContext, template: str, **data: Any) -> str:
        renders[template] += 1
        return original(self, template, **data)

    monkeypatch.setattr(ModuleContext, "render", counting)
    with open(log, "ab") as handle:
        handle.write(data[cut:])
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1"]) == 0
    monkeypatch.undo()

    metrics_pages = [p for p in mtimes(out) if p.rpartition("/")[2].startswith("compilation_metrics_")]
    code_pages = [p for p in mtimes(out) if "/inductor_output_code_" in p]
    # Per-compile-id pages: only the new compile's were rendered again, not every page.
    assert 1 <= renders["compilation_metrics.html"] < len(metrics_pages) / 2, (renders, metrics_pages)
    assert renders["code_page.html"] < len(code_pages) / 2, (renders, code_pages)
    after = mtimes(out)
    rewritten = {p for p, t in after.items() if before.get(p) != t} - RUN_STATE
    old_pages = {p for p in before if p.endswith(".html") and "/" in p and not p.startswith(("data/", "."))}
    assert old_pages - rewritten, "every old compile-id page was rewritten"

    shutil.copyfile(full, log)
    fresh = tmp_path / "fresh"
    os.rename(out, tmp_path / "kept")
    assert main([str(log), "-o", str(fresh), "--no-browser", "-j", "1"]) == 0
    assert tree(tmp_path / "kept") == tree(fresh)
