"""scripts/bench's parts: output-size counting, the 1% append, /proc parsing, the memory sums of a
real forked process tree, and the report's medians and ratios. Nothing here times anything."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import TORCH_213, corpus_copy

REPO = Path(__file__).resolve().parents[1]


def load_bench() -> ModuleType:
    """Import scripts/bench (no .py suffix) as a module; registered first, as dataclasses need."""
    loader = SourceFileLoader("tlparse_bench", str(REPO / "scripts" / "bench"))
    spec = spec_from_loader(loader.name, loader)
    assert spec is not None
    module = module_from_spec(spec)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


bench: Any = load_bench()


def envelope(n: int, payload_lines: int = 0, width: int = 40) -> bytes:
    """One TORCH_TRACE record: a glog envelope line, then tab-indented payload lines."""
    head = b"V0101 00:00:00.000000 1 x.py:1] " + b'{"str": ["r%d"], "has_payload": "x"}\n' % n
    return head + b"".join(b"\t" + b"p" * width + b"\n" for _ in range(payload_lines))


def record_starts(log: bytes) -> set[int]:
    """Offsets of every envelope line of a well-formed log."""
    starts, pos = set(), 0
    for line in log.splitlines(keepends=True):
        if not line.startswith(b"\t"):
            starts.add(pos)
        pos += len(line)
    return starts


# ---------------------------------------------------------------- output bytes


def test_each_file_counts_its_size_and_nested_files_are_found(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "x.html").write_bytes(b"x" * 100)
    (tmp_path / "a" / "b" / "y.js").write_bytes(b"y" * 30)
    usage = bench.disk_usage(tmp_path, set())
    assert (usage.disk_bytes, usage.plain_bytes, usage.files) == (130, 130, 2)


def test_a_hard_link_inside_out_counts_once_but_shows_in_the_plain_sum(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "store.json").write_bytes(b"s" * 500)
    os.link(tmp_path / "data" / "store.json", tmp_path / "chromium_events.json")
    (tmp_path / "index.html").write_bytes(b"i" * 20)
    usage = bench.disk_usage(tmp_path, set())
    assert usage.disk_bytes == 520
    assert usage.plain_bytes == 1020
    assert usage.files == 3


def test_a_hard_link_to_the_input_log_costs_nothing(tmp_path: Path) -> None:
    log = tmp_path / "trace.log"
    log.write_bytes(b"L" * 4000)
    out = tmp_path / "out"
    out.mkdir()
    os.link(log, out / "raw.log")
    (out / "raw.jsonl").write_bytes(b"j" * 70)
    usage = bench.disk_usage(out, bench.input_inodes(log))
    assert usage.disk_bytes == 70
    assert usage.plain_bytes == 4070
    assert usage.files == 2


def test_a_copy_of_the_input_log_is_real_output(tmp_path: Path) -> None:
    log = tmp_path / "trace.log"
    log.write_bytes(b"L" * 4000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "raw.log").write_bytes(log.read_bytes())
    assert bench.disk_usage(out, bench.input_inodes(log)).disk_bytes == 4000


def test_a_symlink_counts_as_itself_not_as_its_target(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"b" * 10_000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(big)
    (out / "dirlink").symlink_to(tmp_path)
    usage = bench.disk_usage(out, set())
    assert usage.files == 2
    assert usage.plain_bytes == len(str(big)) + len(str(tmp_path))


# ---------------------------------------------------------------- the 1% append


def test_the_block_is_the_fewest_whole_tail_records_reaching_the_target() -> None:
    log = b"".join(envelope(i, payload_lines=i % 3) for i in range(200))
    target = len(log) // 100
    start, end = bench.select_append(log, True, target)
    assert end == len(log)
    assert start == max(s for s in record_starts(log) if len(log) - s >= target)


def test_a_payload_is_never_split_even_when_the_target_falls_inside_it() -> None:
    log = envelope(0, 2) + envelope(1, payload_lines=50) + envelope(2)
    last_two = len(envelope(1, payload_lines=50)) + len(envelope(2))
    target = len(envelope(2)) + 10 * 41  # ten payload lines into record 1
    start, end = bench.select_append(log, True, target)
    assert log[start:end] == log[-last_two:]


def test_the_partial_first_line_of_a_tail_chunk_is_never_a_start() -> None:
    log = envelope(0) + envelope(1)
    chunk = log[5:]  # starts mid-envelope: not a known line start
    assert bench.select_append(chunk, False, len(chunk)) is None
    start, _end = bench.select_append(chunk, False, 10)
    assert chunk[start:] == envelope(1)


def test_a_log_smaller_than_the_target_is_appended_whole() -> None:
    log = envelope(0, 1) + envelope(1)
    assert bench.select_append(log, True, 10 * len(log)) == (0, len(log))


def test_a_tab_line_or_blank_line_never_starts_the_block() -> None:
    log = envelope(0) + b"\n" + b"\tdangling payload\n" + envelope(1)
    starts = set()
    for target in range(1, len(log) + 1):
        picked = bench.select_append(log, True, target)
        assert picked is not None
        starts.add(picked[0])
    assert starts == {0, len(log) - len(envelope(1))}


def test_an_unfinished_last_line_is_left_out_and_closed_before_appending(tmp_path: Path) -> None:
    whole = envelope(0, 1) + envelope(1, 1)
    path = tmp_path / "trace.log"
    path.write_bytes(whole + b'V0101 00:00:00.000000 1 x.py:1] {"trunc')
    block = bench.tail_block(path, fraction=0.01)
    assert block == envelope(1, 1)
    bench.append_to(path, block)
    assert path.read_bytes().endswith(b'{"trunc\n' + envelope(1, 1))


def test_a_last_record_bigger_than_the_first_chunk_is_still_found(tmp_path: Path) -> None:
    huge = envelope(9, payload_lines=5000)  # ~205 KB, beyond the first 64 KiB read
    path = tmp_path / "trace.log"
    path.write_bytes(b"".join(envelope(i, 1) for i in range(50)) + huge)
    assert bench.tail_block(path, fraction=0.01) == huge


def test_a_log_without_any_envelope_line_has_nothing_to_append(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    path.write_bytes(b"\tonly\n\tpayload\n")
    with pytest.raises(ValueError, match="no whole TORCH_TRACE record"):
        bench.tail_block(path)


def test_on_a_real_log_about_one_percent_of_whole_records_is_appended(tmp_path: Path) -> None:
    path = corpus_copy(next((TORCH_213 / "02_training").glob("*.log")), tmp_path)
    log = path.read_bytes()
    block = bench.tail_block(path)
    assert log.endswith(block)
    assert len(log) - len(block) in record_starts(log)
    assert 0.01 <= len(block) / len(log) < 0.05
    bench.append_to(path, block)
    assert path.read_bytes() == log + block


# ---------------------------------------------------------------- /proc parsing and the tree


def test_stat_fields_are_read_after_a_process_name_holding_parentheses() -> None:
    fields = ["S", "41", *["0"] * 9, "250", "17", *["0"] * 30]
    text = "1234 (we ird) (name) " + " ".join(fields) + "\n"
    assert bench.parse_stat(text) == (41, 250, 17)


def test_status_figures_and_a_zombie_without_them() -> None:
    status = "Name:\tpython\nVmHWM:\t  90000 kB\nVmRSS:\t   81234 kB\n"
    assert bench.parse_status_kib(status, "VmRSS") == 81234
    assert bench.parse_status_kib(status, "VmHWM") == 90000
    assert bench.parse_status_kib("Name:\tpython\nState:\tZ (zombie)\n", "VmRSS") == 0


ROLLUP = """55d0c8a7e000-7ffc3b7f3000 ---p 00000000 00:00 0                          [rollup]
Rss:               81920 kB
Pss_Anon:          70000 kB
Pss:               30512 kB
Pss_Dirty:         29000 kB
Pss_File:           1200 kB
Shared_Clean:       9000 kB
"""
STATUS = "Name:\tpython\nVmHWM:\t  90000 kB\nVmRSS:\t   81920 kB\n"
ZOMBIE_STATUS = "Name:\tpython\nState:\tZ (zombie)\n"


def test_pss_is_the_plain_pss_line_of_the_rollup_not_its_breakdown() -> None:
    assert bench.parse_pss_kib(ROLLUP) == 30512
    assert bench.parse_pss_kib("") is None


def test_a_process_with_a_readable_rollup_counts_its_pss() -> None:
    assert bench.member_memory(STATUS, ROLLUP) == bench.MemberMemory(81920, 30512, False)


@pytest.mark.parametrize("rollup", [None, ""])
def test_an_unreadable_rollup_falls_back_to_vmrss_and_says_so(rollup: str | None) -> None:
    assert bench.member_memory(STATUS, rollup) == bench.MemberMemory(81920, 81920, True)


def test_a_zombie_without_memory_is_no_fallback() -> None:
    assert bench.member_memory(ZOMBIE_STATUS, None) == bench.MemberMemory(0, 0, False)
    assert bench.member_memory(None, None) == bench.MemberMemory(0, 0, False)


def test_tree_members_follow_parent_chains_even_through_exited_processes() -> None:
    # 10 -> 11 -> 12; 11 has exited but is remembered, so 12 is still in the tree; 20 is not.
    parents = {10: 1, 11: 10, 12: 11, 13: 10, 20: 1, 21: 20}
    assert bench.tree_members(10, parents) == {10, 11, 12, 13}


BUFFER_MIB = 64
FORKED_TREE = f"""
import os, sys
buf = b"x" * ({BUFFER_MIB} << 20)  # written, so every page is resident, then shared by fork
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        sys.stdin.read()
        os._exit(0)
    kids.append(pid)
print("ready", flush=True)
sys.stdin.read()
for pid in kids:
    os.waitpid(pid, 0)
"""


@pytest.fixture
def forked_tree() -> Iterator[None]:
    """A child holding a written 64 MiB buffer and two forked children sharing it copy-on-write,
    all alive until the fixture ends."""
    proc = subprocess.Popen([sys.executable, "-c", FORKED_TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline() == b"ready\n"
        yield
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_pss_counts_pages_shared_by_forked_workers_once_and_rss_once_per_process(forked_tree: None) -> None:
    sampler = bench.TreeSampler(0.02)
    sampler.sample()
    buffer_kib = BUFFER_MIB * 1024
    assert sampler.max_processes >= 3
    assert sampler.pss_fallbacks == 0
    assert sampler.peak_kib >= 3 * buffer_kib
    assert buffer_kib <= sampler.peak_pss_kib < 2 * buffer_kib
    assert sampler.peak_kib - sampler.peak_pss_kib >= 1.8 * buffer_kib
    assert sampler.busy_s > 0


def test_without_a_readable_rollup_the_tree_pss_is_its_rss_and_the_fallback_is_counted(
    forked_tree: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_read = bench.read_proc
    monkeypatch.setattr(bench, "read_proc", lambda pid, name: None if name == "smaps_rollup" else real_read(pid, name))
    sampler = bench.TreeSampler(0.02)
    sampler.sample()
    assert sampler.peak_pss_kib == sampler.peak_kib >= 3 * BUFFER_MIB * 1024
    assert sampler.pss_fallbacks >= 3


def test_sampling_starts_fast_and_settles_at_the_interval() -> None:
    pauses = bench.sample_pauses(0.02)
    assert [next(pauses) for _ in range(8)] == [0.001, 0.002, 0.004, 0.008, 0.016, 0.02, 0.02, 0.02]


# ---------------------------------------------------------------- medians, ratios, report


def test_median_and_missing_values() -> None:
    assert bench.median([3.0, 1.0, 2.0]) == 2.0
    assert bench.median([4.0, 1.0]) == 2.5
    assert math.isnan(bench.median([]))
    assert bench.fmt_num(bench.median([])) == "-"
    assert bench.fmt_num(1234.5678, 1) == "1,234.6"


@pytest.mark.parametrize(
    ("num", "den", "shown"),
    [(3.0, 2.0, "1.50x"), (1.0, 4.0, "0.25x"), (1.0, 0.0, "n/a"), (math.nan, 1.0, "n/a"), (1.0, math.nan, "n/a")],
)
def test_ratio_formatting(num: float, den: float, shown: str) -> None:
    assert bench.fmt_ratio(num, den) == shown
    assert (bench.ratio(num, den) is None) == (shown == "n/a")


def test_table_columns_line_up() -> None:
    lines = bench.render_table(["name", "wall s"], [["whole: legacy", "0.04"], ["x", "12.50"]])
    assert lines[0] == "name           wall s"
    assert lines[2] == "whole: legacy    0.04"
    assert lines[3] == "x               12.50"


def make_run(
    wall: float, user: float = 1.0, *, proc_user: float = 0.0, rss: int = 4096, pss: int = 4096, fallbacks: int = 0
) -> Any:
    """A Run with the given timings and memory, and fixed other figures."""
    out = bench.DiskUsage(disk_bytes=1000, plain_bytes=1500, allocated_bytes=4096, files=3)
    return bench.Run(
        wall_s=wall, wait4_user_s=user, wait4_sys_s=0.5, proc_user_s=proc_user, proc_sys_s=0.0, reaped=1,
        ru_maxrss_kib=2048, tree_peak_rss_kib=rss, tree_peak_pss_kib=pss, pss_fallbacks=fallbacks, sampler_cpu_s=0.1,
        hwm_sum_kib=rss, max_processes=1, samples=5, out=out,
    )  # fmt: skip


def test_ratios_are_of_the_medians_of_paired_runs() -> None:
    legacy = bench.Series("legacy", ["legacy"], [make_run(1.0), make_run(2.0), make_run(30.0)])
    ours = bench.Series("ours", ["ours"], [make_run(4.0), make_run(5.0), make_run(6.0)])
    result = bench.ScenarioResult("whole", bench.VERSUS, "11_large/x.log", legacy, ours)
    _header, _rule, row = bench.ratio_table([result])
    log_name, scenario, basis, *ratios = row.split()
    assert (log_name, scenario, basis) == ("11_large/x.log", "whole", "ours/legacy")
    cells = dict(zip(bench.RATIO_COLUMNS, ratios, strict=True))
    assert cells["wall s"] == "2.50x"  # median 5 / median 2, not mean or per-pair
    assert cells["user s"] == "1.00x"
    table = "\n".join(bench.log_table([result]))
    assert "whole: ours/legacy" in table
    assert "2.50x" in table


def test_the_summary_memory_ratio_is_tree_pss_and_each_log_table_keeps_the_rss_ratio() -> None:
    legacy = bench.Series("legacy", ["legacy"], [make_run(1.0, rss=300 * 1024, pss=300 * 1024)])
    ours = bench.Series("ours", ["ours"], [make_run(1.0, rss=120 * 1024, pss=75 * 1024)])
    result = bench.ScenarioResult("whole", bench.VERSUS, "11_large/x.log", legacy, ours)
    header, _rule, row = bench.ratio_table([result])
    cells = dict(zip(bench.RATIO_COLUMNS, row.split()[3:], strict=True))
    assert "tree PSS MB" in header and "tree RSS MB" not in header
    assert cells["tree PSS MB"] == "0.25x"
    table = bench.log_table([result])
    columns = [n for n, _g, _d in bench.MEDIAN_COLUMNS]
    ours_row, ratio_row = table[3].split()[-len(columns) :], table[4].split()
    assert ours_row[columns.index("tree PSS MB")] == "75.0"
    assert ours_row[columns.index("tree RSS MB")] == "120.0"
    assert "0.25x" in ratio_row and "0.40x" in ratio_row


def test_the_memory_legend_gives_the_sampling_cost_and_warns_when_some_pss_was_really_rss() -> None:
    def result(fallbacks: int) -> Any:
        runs = [make_run(1.0, fallbacks=fallbacks)]
        return bench.ScenarioResult(
            "whole", bench.VERSUS, "x.log", bench.Series("l", [], runs), bench.Series("o", [], runs)
        )

    clean = "\n".join(bench.memory_legend([result(0)], 0.02))
    assert "PSS" in clean and "WARNING" not in clean
    assert "sampling itself used at most 10% of one core" in clean  # 0.1 s of sampling in a 1 s run
    assert "WARNING: in 2 run(s) some process's smaps_rollup was unreadable" in "\n".join(
        bench.memory_legend([result(4)], 0.02)
    )


def test_a_failed_scenario_is_shown_as_failed_not_as_figures() -> None:
    empty = bench.Series("-", [])
    failed = bench.ScenarioResult("append", bench.RERUN, "01_simple/x.log", empty, empty, error="exit 1")
    _header, _rule, row = bench.ratio_table([failed])
    assert row.split()[3:] == ["failed"] * len(bench.RATIO_COLUMNS)


def test_cpu_seen_in_proc_but_missed_by_wait4_is_used() -> None:
    assert make_run(1.0, user=2.0, proc_user=1.9).user_s == 2.0
    missed = make_run(1.0, user=0.04, proc_user=2.0)
    assert missed.cpu_check_failed()
    assert missed.user_s == 2.0
    assert missed.cpu_s == 2.5


def test_scenarios_are_a_comma_list_of_known_names() -> None:
    assert [s.name for s in bench.scenario_list("whole, noop,append")] == ["whole", "noop", "append"]
    assert bench.SCENARIOS["eager"].ours_flags == ("--eager",)
    with pytest.raises(Exception, match="unknown scenario"):
        bench.scenario_list("whole,fast")
