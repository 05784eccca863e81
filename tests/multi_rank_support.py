"""Rank folders for the multi-rank tests, made from a real single-rank log."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import LEGACY_TESTS

SOURCE = LEGACY_TESTS / "cache_hit_miss.log"  # frame 0 has no cache artifact; frame 1 has hits and misses
DROPPED_FRAME = 0
DROPPED_RANK = 1  # loses every entry of frame DROPPED_FRAME
MISS_RANK = 2  # its first fx_graph_cache_hit becomes a miss
_ENVELOPE = re.compile(r"^(?P<prefix>[^\t].*?\] )(?P<json>\{.*)$")


def rank_name(rank: int) -> str:
    return f"dedicated_log_torch_trace_rank_{rank}_test.log"


def stamp(line: str, rank: int) -> str:
    """The envelope on a glog line, with `"rank": rank` first."""
    body = line.rstrip("\n")
    match = _ENVELOPE.match(body)
    if match is None:
        return line
    return f"{match['prefix']}{{\"rank\": {rank}, {match['json'][1:]}{line[len(body):]}"


def drop_frame(lines: list[str], frame: int) -> list[str]:
    """Remove every envelope of `frame` and its payload lines (those starting with a tab)."""
    kept: list[str] = []
    dropping = False
    for line in lines:
        if not line.startswith("\t"):
            dropping = f'"frame_id": {frame},' in line
        if not dropping:
            kept.append(line)
    return kept


def make_rank_folder(folder: Path, ranks: int = 3) -> Path:
    """`ranks` copies of SOURCE, each stamped with its rank; DROPPED_RANK without DROPPED_FRAME,
    MISS_RANK with one cache hit turned into a miss."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = SOURCE.read_text(encoding="utf-8").split("\n")
    lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    for rank in range(ranks):
        mine = [stamp(line, rank) for line in lines]
        if rank == DROPPED_RANK:
            mine = drop_frame(mine, DROPPED_FRAME)
        if rank == MISS_RANK:
            index = next(i for i, line in enumerate(mine)
                         if not line.startswith("\t") and '{"name": "fx_graph_cache_hit"' in line)
            mine[index] = mine[index].replace("fx_graph_cache_hit", "fx_graph_cache_miss")
        (folder / rank_name(rank)).write_text("".join(mine), encoding="utf-8")
    return folder


def run_tlparse(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tlparse_tasks", *args], capture_output=True, text=True,
                          timeout=600, check=False, cwd=cwd)


def build_ranks(logs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = run_tlparse(str(logs), "--all-ranks-html", "-o", str(out), "--no-browser", *extra)
    assert result.returncode == 0, result.stderr
    return result


def diagnostics(out: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((out / "multi_rank_diagnostics.json").read_text())
    return {d["kind"]: d for d in data["diagnostics"]}
