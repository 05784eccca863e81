"""Every multi-rank input of the corpus against legacy tlparse 0.4.3 (--all-ranks-html).

Every legacy path exists in ours; each rank folder passes the single-report comparison
(devtools/legacy_diff.py with legacy_allowlist.yaml); the files at the top of OUT are identical
but for the legacy bugs listed in MULTI_RANK_ALLOWED, each checked as narrowly as it allows:

- `rank_*/raw.jsonl`: legacy's string table is global across ranks (spec §10.10), so a rank's
  first line also holds other ranks' strings; every other line is identical.
- entry order of `runtime_estimations.json`, `collective_schedules.json`,
  `chromium_trace_with_runtime.json`, `rank_*/collectives_parity.json`: legacy lists a rank's
  graphs in directory order (filesystem hash order, §10.10-11), ours in log order; the entries
  are identical. The trace's `thread_sort_index` follows that order.
- a compile directory with several `inductor_runtime_and_tensor_meta` files (forward and
  backward): legacy keeps the first in directory order, ours the first logged (§6.2).
- float rounding in `chromium_events.json`, as in legacy_allowlist.yaml.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.legacy_diff import _rounding_differences, compare_file, compare_index, diff_dirs, load_allowlist
from tests.conftest import LEGACY_TESTS, REPO, TORCH_213

LEGACY = REPO / ".legacy-venv" / "bin" / "tlparse"
ALLOWLIST = REPO / "legacy_allowlist.yaml"
FOLDERS = [TORCH_213 / "10_multi_rank", *(LEGACY_TESTS / name for name in (
    "multi_rank_logs", "multi_rank_messy_input", "multi_rank_runtime", "multi_rank_schedule",
    "collectives_parity", "graph_exec_order_tests"))]
ORDERED = ("runtime_estimations.json", "collective_schedules.json")
MULTI_RANK_ALLOWED = {"raw.jsonl": "string table global across ranks (spec §10.10)"}

pytestmark = [pytest.mark.legacy, pytest.mark.slow,
              pytest.mark.skipif(not LEGACY.exists(), reason="legacy tlparse not installed")]


def run(command: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*command, "--all-ranks-html", "-o", str(out), "--no-browser", "--overwrite"],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    return result


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def several_runtime_files(ours: Path) -> set[tuple[int, str]]:
    """(rank, graph) whose compile directory logged more than one runtime estimate."""
    found = set()
    for facts in ours.glob("rank_*/data/rank_summary/facts.json"):
        rank = int(facts.parts[-4].removeprefix("rank_"))
        for graph in json.loads(facts.read_text())["graphs"]:
            if len(graph["tensor_meta"] or ()) > 1:
                found.add((rank, graph["dir"]))
    return found


def by_graph(entries: list[dict[str, Any]], skip: set[tuple[int, str]]) -> dict[tuple[int, str], Any]:
    return {(e["rank"], e["graph"]): e["ops"] for e in entries if (e["rank"], e["graph"]) not in skip}


def check_ordered(legacy: Path, ours: Path, skip: set[tuple[int, str]]) -> None:
    old, new = json.loads(legacy.read_text()), json.loads(ours.read_text())
    assert [(e["rank"], e["graph"]) for e in new] == sorted(((e["rank"], e["graph"]) for e in new),
                                                             key=lambda k: k[0])  # ranks ascending
    assert sorted((e["rank"], e["graph"]) for e in old) == sorted((e["rank"], e["graph"]) for e in new)
    assert by_graph(old, skip) == by_graph(new, skip)
    # same layout: legacy's bytes once its entries are put in our order
    order = {(e["rank"], e["graph"]): i for i, e in enumerate(new)}
    relaid = sorted(old, key=lambda e: order[(e["rank"], e["graph"])])
    if not skip:
        from tlparse_tasks.jsonfmt import serde_dumps

        assert serde_dumps(relaid, pretty=True, sort_keys=False) == ours.read_bytes()


def check_trace(legacy: Path, ours: Path, skip: set[tuple[int, str]]) -> None:
    def events(path: Path) -> tuple[list[str], list[str]]:
        data = json.loads(path.read_text())
        spans = sorted(json.dumps(e, sort_keys=True) for e in data
                       if e["ph"] == "X" and (e["pid"], e["args"]["graph"]) not in skip)
        meta = sorted(json.dumps({**e, "args": {} if e["name"] == "thread_sort_index" else e["args"]}, sort_keys=True)
                      for e in data if e["ph"] == "M")
        return spans, meta

    assert events(legacy) == events(ours)


def json_rounding_only_line(old: bytes, new: bytes) -> bool:
    """Two raw.jsonl lines that differ only in floats legacy rounds (legacy_allowlist.yaml)."""
    return bool(_rounding_differences(json.loads(old), json.loads(new)))


def check_rank(legacy: Path, ours: Path) -> None:
    report = diff_dirs(legacy, ours, load_allowlist(ALLOWLIST))
    failures = [f for f in report.failures() if not (f.path == "raw.jsonl" and f.kind == "different")]
    failures = [f for f in failures if f.path != "collectives_parity.json"]
    assert not failures, [f.line() for f in failures]
    old, new = (legacy / "raw.jsonl").read_bytes().split(b"\n"), (ours / "raw.jsonl").read_bytes().split(b"\n")
    assert len(old) == len(new)
    for line_old, line_new in zip(old[1:], new[1:], strict=True):  # only the string table differs
        assert line_old == line_new or json_rounding_only_line(line_old, line_new)
    parity_old, parity_new = (json.loads((d / "collectives_parity.json").read_text()) for d in (legacy, ours))
    assert parity_old["description"] == parity_new["description"]
    key = lambda g: g["graph"]  # noqa: E731
    assert sorted(parity_old["graphs"], key=key) == sorted(parity_new["graphs"], key=key)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_multi_rank_matches_legacy(folder: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for path in folder.iterdir():
        (logs / path.name).write_bytes(path.read_bytes())
    legacy, ours = tmp_path / "legacy", tmp_path / "ours"
    old = run([str(LEGACY), str(logs)], legacy)
    new = run([sys.executable, "-m", "tlparse_tasks", str(logs)], ours)
    # the same lines; legacy says "Processing rank N" in directory order, ours in rank order
    assert sorted(old.stdout.replace(str(legacy), "OUT").splitlines()) == \
        sorted(new.stdout.replace(str(ours), "OUT").splitlines())
    assert files(legacy) <= files(ours)
    skip = several_runtime_files(ours)
    allow = load_allowlist(ALLOWLIST)
    for path in sorted(legacy.iterdir()):
        name = path.name
        if path.is_dir():
            check_rank(path, ours / name)
        elif name == "index.html":
            assert compare_index(path.read_text(), (ours / name).read_text()) == []
        elif name in ORDERED:
            check_ordered(path, ours / name, skip)
        elif name == "chromium_trace_with_runtime.json":
            check_trace(path, ours / name, skip)
        else:
            finding = compare_file(name, path, ours / name)
            if finding is not None:
                assert [e for e in allow if e.matches(finding.kind, name, None) and
                        all(e.allows_word(w) for w, _ in finding.items)], finding.line()
