"""Stage 1 on every corpus log agrees with tlparse 0.4.3: Stats, raw lines, unknown fields, output numbers.

The expected numbers were taken once from the legacy binary and are hardcoded; the tests never run it:

    .legacy-venv/bin/tlparse LOG -o OUT --overwrite --no-browser

Each rank file of a multi-rank folder was run on its own as a single log. Export logs were run
without --export, because --export prints no Stats. The Stats agree with every "tlparse (default)"
line in corpus/torch-2.13/README.md and the Stats column of spec §9. For 11_large the
README gives the Stats; the rest was measured the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, LEGACY_TESTS, TORCH_213, corpus_copy
from tlparse_tasks.parse.parser import ParseOptions, parse_log
from tlparse_tasks.parse.stats import ALL_FIELDS


@dataclass(frozen=True)
class Legacy:
    """What tlparse 0.4.3 reported for one log, and how far we deliberately differ from it."""

    stats: dict[str, int]  # the printed `Stats { ... }` (legacy leaves out zero fields)
    outputs: int  # highest `number` in compile_directory.json + 1 (0 when it lists nothing)
    raw: int  # raw.jsonl lines after the string-table line
    unknown_fields: frozenset[str] = frozenset()  # the "Unknown fields: {...}" line
    # guard_added / propagate_real_tensors_provenance lines whose frame_locals hold lists
    # (`"locals": {"n": ["u1"]}`). Legacy wants strings there and counts each line as
    # fail_json ("invalid type: sequence, expected a string"). We accept them (README, deliberate
    # differences), so for each one our ok is one higher and our fail_json one lower. The lines
    # still parse as JSON objects, so legacy writes them to raw.jsonl too, and `raw` is the same.
    accepted: int = 0

    def our_stats(self) -> dict[str, int]:
        stats = dict.fromkeys(ALL_FIELDS, 0) | self.stats
        stats["ok"] += self.accepted
        stats["fail_json"] -= self.accepted
        return stats


CMR = frozenset({"compilation_metrics_runtime"})
CREATE_SYMBOL = frozenset({"create_symbol"})
T = "tlparse-0.4.3-tests/"
MR = T + "multi_rank_runtime/dedicated_log_torch_trace_rank_"
LARGE = "torch-2.13/11_large/dedicated_log_torch_trace_ubbygp7s.log.xz"

EXPECTED: dict[str, Legacy] = {
    T + "artifacts.log": Legacy({"ok": 7}, outputs=6, raw=7),
    T + "autotune_with_compile_id.log": Legacy({"ok": 81, "unknown": 1}, outputs=16, raw=21, unknown_fields=CMR),
    T + "cache_hit_miss.log": Legacy({"ok": 369}, outputs=37, raw=241),
    T + "chromium_events.log": Legacy({"ok": 13}, outputs=3, raw=7),
    T + "collectives_parity/dedicated_log_torch_trace_rank_0.log":
        Legacy({"ok": 500, "fail_payload_md5": 6, "unknown": 4}, outputs=79, raw=150, unknown_fields=CMR),
    T + "comp_failure.log": Legacy({"ok": 13}, outputs=3, raw=7),
    T + "comp_metrics.log": Legacy({"ok": 12}, outputs=9, raw=12),
    # Export logs, counted by a plain run (legacy --export prints no Stats).
    T + "export.log": Legacy({"ok": 18, "fail_payload_md5": 1}, outputs=0, raw=18),
    T + "export_guard_added.log": Legacy({"ok": 3, "fail_payload_md5": 1}, outputs=0, raw=3),
    T + "graph_exec_order_tests/dedicated_log_torch_trace_rank_0_a74od7a1.log":
        Legacy({"ok": 245, "fail_payload_md5": 2, "unknown": 2}, outputs=42, raw=71, unknown_fields=CMR),
    T + "graph_exec_order_tests/dedicated_log_torch_trace_rank_1_fglwclht.log":
        Legacy({"ok": 245, "unknown": 2}, outputs=42, raw=71, unknown_fields=CMR),
    T + "inductor_provenance_aot_cuda_log.txt": Legacy({"ok": 105}, outputs=14, raw=26),
    T + "inductor_provenance_aot_debug_handle_log.txt": Legacy({"ok": 118}, outputs=14, raw=25),
    T + "inductor_provenance_aot_log.txt": Legacy({"ok": 74}, outputs=13, raw=25),
    T + "inductor_provenance_aot_log_old.txt": Legacy({"ok": 70}, outputs=15, raw=27),
    T + "inductor_provenance_extended_log.txt": Legacy({"ok": 106, "fail_payload_md5": 1}, outputs=16, raw=27),
    T + "inductor_provenance_jit_cuda_log.txt":
        Legacy({"ok": 133, "unknown": 1}, outputs=18, raw=38, unknown_fields=CMR),
    T + "inductor_provenance_jit_debug_handle_log.txt":
        Legacy({"ok": 146, "unknown": 1}, outputs=19, raw=38, unknown_fields=CMR),
    T + "inductor_provenance_jit_log.txt": Legacy({"ok": 101}, outputs=17, raw=36),
    T + "links.log": Legacy({"ok": 9}, outputs=8, raw=9),
    T + "multi_rank_logs/dedicated_log_torch_trace_rank_0.log": Legacy({"ok": 13}, outputs=3, raw=7),
    T + "multi_rank_logs/dedicated_log_torch_trace_rank_1.log": Legacy({"ok": 808}, outputs=204, raw=264),
    T + "multi_rank_logs/dedicated_log_torch_trace_rank_2.log": Legacy({"ok": 13}, outputs=3, raw=7),
    T + "multi_rank_logs/dedicated_log_torch_trace_rank_3.log": Legacy({"ok": 297}, outputs=90, raw=118),
    T + "multi_rank_messy_input/another.log": Legacy({}, outputs=0, raw=0),  # no trace lines: `Stats { }`
    T + "multi_rank_messy_input/dedicated_log_torch_trace_rank_0.log": Legacy({"ok": 64}, outputs=10, raw=14),
    T + "multi_rank_messy_input/dedicated_log_torch_trace_rank_1.log": Legacy({"ok": 64}, outputs=10, raw=14),
    T + "multi_rank_messy_input/some_other_file.txt": Legacy({}, outputs=0, raw=0),
    MR + "0.log": Legacy({"ok": 500, "fail_payload_md5": 4, "unknown": 4}, outputs=79, raw=150, unknown_fields=CMR),
    MR + "1.log": Legacy({"ok": 500, "fail_payload_md5": 4, "unknown": 4}, outputs=79, raw=150, unknown_fields=CMR),
    MR + "2.log": Legacy({"ok": 500, "fail_payload_md5": 4, "unknown": 4}, outputs=79, raw=150, unknown_fields=CMR),
    MR + "3.log": Legacy({"ok": 500, "fail_payload_md5": 4, "unknown": 4}, outputs=79, raw=150, unknown_fields=CMR),
    MR + "4.log": Legacy({"ok": 499, "fail_payload_md5": 3, "unknown": 4}, outputs=78, raw=149, unknown_fields=CMR),
    MR + "5.log": Legacy({"ok": 224}, outputs=45, raw=74),
    MR + "6.log": Legacy({"ok": 224}, outputs=45, raw=74),
    T + "multi_rank_schedule/dedicated_log_torch_trace_rank_0_6u3fubwl.log": Legacy({"ok": 159}, outputs=30, raw=41),
    T + "multi_rank_schedule/dedicated_log_torch_trace_rank_1_n8zycf07.log":
        Legacy({"ok": 159, "fail_payload_md5": 1}, outputs=30, raw=41),
    T + "multi_rank_schedule/dedicated_log_torch_trace_rank_2.log": Legacy({"ok": 159}, outputs=30, raw=41),
    T + "simple.log": Legacy({"ok": 64}, outputs=10, raw=14),
    T + "simple_corrupted_json.log": Legacy({"ok": 64, "fail_payload_md5": 1}, outputs=10, raw=14),
    "torch-2.13/01_simple/dedicated_log_torch_trace_hv_7_v3h.log": Legacy({"ok": 170}, outputs=18, raw=34),
    "torch-2.13/02_training/dedicated_log_torch_trace_aambwkd9.log": Legacy({"ok": 616}, outputs=74, raw=179),
    "torch-2.13/03_graph_breaks/dedicated_log_torch_trace_qljjxkkz.log":
        Legacy({"ok": 1138, "unknown": 2}, outputs=172, raw=252, unknown_fields=CREATE_SYMBOL),
    "torch-2.13/05_failure/dedicated_log_torch_trace_kqq2ecy2.log": Legacy({"ok": 380}, outputs=47, raw=79),
    "torch-2.13/05_failure/dedicated_log_torch_trace_vvxdk024.log": Legacy({"ok": 175}, outputs=21, raw=29),
    "torch-2.13/06_cache/dedicated_log_torch_trace_3ieita2m.log": Legacy({"ok": 525}, outputs=64, raw=108),
    "torch-2.13/06_cache/dedicated_log_torch_trace_8vuvh52_.log": Legacy({"ok": 268}, outputs=58, raw=102),
    # Deliberate: 1 propagate_real_tensors_provenance line with `"locals": {"n": ["u2"]}`.
    # Ours: ok 8, fail_json 0.
    "torch-2.13/08_export/dedicated_log_torch_trace_0qtkqqoa.log":
        Legacy({"ok": 7, "fail_json": 1}, outputs=0, raw=8, accepted=1),
    # Deliberate: 2 guard_added lines (runtime_assert) with `"locals": {"n": ["u1"]}`.
    # Ours: ok 542, fail_json 0.
    "torch-2.13/08_export/dedicated_log_torch_trace_f5jej_pq.log":
        Legacy({"ok": 540, "fail_json": 2, "unknown": 6}, outputs=5, raw=534, accepted=2,
               unknown_fields=frozenset({"export", "guard_on_data_dependent_error", "create_symbol"})),
    # Deliberate: like 0qtkqqoa (the same draft_export capture, from the TORCH_TRACE run).
    # Ours: ok 8, fail_json 0.
    "torch-2.13/08_export/dedicated_log_torch_trace_fdl1xnyi.log":
        Legacy({"ok": 7, "fail_json": 1}, outputs=0, raw=8, accepted=1),
    "torch-2.13/08_export/dedicated_log_torch_trace_glthcbd1.log":
        Legacy({"ok": 35, "unknown": 2}, outputs=5, raw=27, unknown_fields=CREATE_SYMBOL),
    # The leading torch_version artifact has no `rank` key, so it counts as other_rank.
    "torch-2.13/10_multi_rank/dedicated_log_torch_trace_rank_0_4nuw_fn8.log":
        Legacy({"ok": 884, "other_rank": 1}, outputs=137, raw=232),
    "torch-2.13/10_multi_rank/dedicated_log_torch_trace_rank_1_r9x4pi9r.log":
        Legacy({"ok": 1058, "other_rank": 1, "unknown": 2}, outputs=156, raw=258, unknown_fields=CREATE_SYMBOL),
    "torch-2.13/12_aoti/dedicated_log_torch_trace_oqcjbh8_.log":
        Legacy({"ok": 144, "unknown": 1}, outputs=13, raw=17, unknown_fields=CREATE_SYMBOL),
    LARGE: Legacy({"ok": 38273, "unknown": 600}, outputs=6801, raw=12801, unknown_fields=CREATE_SYMBOL),
}

PROVENANCE_TYPES = ("guard_added", "propagate_real_tensors_provenance")


@dataclass(frozen=True)
class Parsed:
    """One parse of a corpus log: its manifest, index.jsonl records and raw.jsonl lines."""

    manifest: dict[str, Any]
    index: list[dict[str, Any]]
    raw: list[dict[str, Any]]  # raw.jsonl after its string-table line
    streams: dict[str, list[dict[str, Any]]]  # the typed records of guards.jsonl and export.jsonl


def corpus_logs() -> list[str]:
    """Every corpus log, relative to the corpus root: *.log/*.txt (rank files too) and 11_large."""
    found = [p for p in LEGACY_TESTS.rglob("*") if p.suffix in (".log", ".txt")]
    found += TORCH_213.glob("*/*.log")
    found += TORCH_213.glob("*/*.log.xz")
    return sorted(str(p.relative_to(CORPUS)) for p in found)


def params(logs: list[str], xfail: dict[str, str] | None = None) -> list[Any]:
    """pytest params named by log; 11_large is `slow`; `xfail` maps a log to a known-bug reason."""
    result = []
    for log in logs:
        marks: list[pytest.MarkDecorator] = [pytest.mark.slow] if log == LARGE else []
        if xfail and log in xfail:
            marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=xfail[log]))
        result.append(pytest.param(log, id=log, marks=marks))
    return result


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Parsed]:
    """Parse a corpus log (a copy in a temp dir) once per module and option set."""
    done: dict[tuple[str, bool], Parsed] = {}

    def parse(log: str, export: bool = False) -> Parsed:
        key = (log, export)
        if key not in done:
            work = tmp_path_factory.mktemp("corpus")
            result = parse_log(corpus_copy(CORPUS / log, work), work / "out", ParseOptions(export=export),
                               stderr=None)
            store = work / "out" / "intermediate"
            raw = read_jsonl(store / "raw.jsonl")
            assert set(raw[0]) == {"string_table"}
            done[key] = Parsed(result.manifest, read_jsonl(store / "index.jsonl"), raw[1:],
                               {name: read_jsonl(store / f"{name}.jsonl") for name in ("guards", "export")})
        return done[key]

    return parse


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_table_covers_the_corpus() -> None:
    """Every corpus log has legacy numbers, so a new log cannot go untested."""
    assert sorted(EXPECTED) == corpus_logs()


@pytest.mark.parametrize("log", params(sorted(EXPECTED)))
def test_stats_match_legacy(log: str, parsed: Callable[..., Parsed]) -> None:
    """manifest stats equal legacy's Stats (zero fields included), up to the deliberate differences."""
    assert parsed(log).manifest["stats"] == EXPECTED[log].our_stats()


@pytest.mark.parametrize("log", params(sorted(EXPECTED)))
def test_unknown_fields_match_legacy(log: str, parsed: Callable[..., Parsed]) -> None:
    """The set of unknown envelope keys is the one legacy prints."""
    assert set(parsed(log).manifest["unknown_fields"]) == EXPECTED[log].unknown_fields


@pytest.mark.parametrize("log", params(sorted(EXPECTED)))
def test_raw_lines_match_legacy(log: str, parsed: Callable[..., Parsed]) -> None:
    """raw.jsonl has as many envelope lines as legacy's."""
    assert len(parsed(log).raw) == EXPECTED[log].raw


@pytest.mark.parametrize("log", params(sorted(EXPECTED)))
def test_accepted_lines_are_the_frame_locals_lists(log: str, parsed: Callable[..., Parsed]) -> None:
    """The lines legacy rejects and we accept are exactly the provenance entries with list locals,
    in raw.jsonl and among the accepted (typed) records alike."""
    result = parsed(log)
    raw = [line for line in result.raw
           if any(isinstance(line.get(kind), dict) and _has_list_locals(line[kind]) for kind in PROVENANCE_TYPES)]
    typed = [record for records in result.streams.values() for record in records
             if record["type"] in PROVENANCE_TYPES and _has_list_locals(record["metadata"])]
    assert len(raw) == len(typed) == EXPECTED[log].accepted


def _has_list_locals(metadata: dict[str, Any]) -> bool:
    frame_locals = metadata.get("frame_locals") or {}
    return any(isinstance(value, list) for value in (frame_locals.get("locals") or {}).values())


@pytest.mark.parametrize("log", params(sorted(EXPECTED)))
def test_output_count_matches_legacy(log: str, parsed: Callable[..., Parsed]) -> None:
    """totals.outputs (our global counter) = the numbers legacy assigned in compile_directory.json."""
    assert parsed(log).manifest["totals"]["outputs"] == EXPECTED[log].outputs


# -- facts pinned by the legacy integration tests (spec §8 / §3.4 / §3.5) ------------------------

def test_simple_has_fourteen_raw_lines(parsed: Callable[..., Parsed]) -> None:
    """simple.log: legacy raw.jsonl has 15 lines, the string table and 14 envelopes."""
    assert len(parsed(T + "simple.log").raw) == 14


def test_comp_metrics_raw_lines_and_payload_files(parsed: Callable[..., Parsed]) -> None:
    """comp_metrics.log: 12 raw lines (13 with the string table) and exactly three payloads/ files."""
    index = parsed(T + "comp_metrics.log").index
    assert len(parsed(T + "comp_metrics.log").raw) == 12
    payloads = {Path(record["payload_file"]).stem for record in index
                if (record["payload_file"] or "").startswith("payloads/")}
    assert payloads == {"11726d08889974e57b12edee2812504e", "29e35548d59d0e446f0c8a3f3010cc72",
                        "e18e1bcb67140c0a67427a6119556f7a"}


def test_cache_hit_miss_numbering(parsed: Callable[..., Parsed]) -> None:
    """cache_hit_miss.log: the numbered cache artifacts legacy's test_cache_hit_miss expects."""
    urls = {output["url"] for record in parsed(T + "cache_hit_miss.log").index for output in record["outputs"]}
    assert {"-_1_0_0/fx_graph_cache_miss_33.json", "-_1_0_0/fx_graph_cache_miss_9.json",
            "-_1_0_0/fx_graph_cache_hit_20.json"} <= urls


def test_graph_breaks_unknown_fields(parsed: Callable[..., Parsed]) -> None:
    """03_graph_breaks: torch 2.13's create_symbol is the only key tlparse 0.4.3 does not know."""
    manifest = parsed("torch-2.13/03_graph_breaks/dedicated_log_torch_trace_qljjxkkz.log").manifest
    assert manifest["unknown_fields"] == {"create_symbol": 2}


# -- export mode ---------------------------------------------------------------------------------

# exported_program files of `tlparse LOG --export` (numbers from the file names) and how many
# numbers it used. In export.log and export_guard_added.log a guard_added (prefix "eval") /
# propagate_real_tensors_provenance line comes first. Legacy writes its
# symbolic_guard_information_0.html there, which takes number 0; so do we.
# In 0qtkqqoa and fdl1xnyi legacy rejects the only provenance line (frame_locals lists) and
# numbers nothing for it; we accept the line but number nothing either (outputs.legacy_guard_page:
# the export module gives it a page outside the numbering), so the exported program is `_0`.
EXPORT_MODE: dict[str, tuple[list[str], int]] = {
    T + "export.log": (["-_-_-_-/exported_program_1.txt"], 2),
    T + "export_guard_added.log": (["-_-_-_-/exported_program_1.txt"], 2),
    "torch-2.13/08_export/dedicated_log_torch_trace_f5jej_pq.log":
        (["-_-_-_-/exported_program_0.txt", "-_-_-_-/exported_program_1.txt"], 2),
    "torch-2.13/08_export/dedicated_log_torch_trace_glthcbd1.log": ([], 0),
    "torch-2.13/08_export/dedicated_log_torch_trace_0qtkqqoa.log": (["-_-_-_-/exported_program_0.txt"], 1),
    "torch-2.13/08_export/dedicated_log_torch_trace_fdl1xnyi.log": (["-_-_-_-/exported_program_0.txt"], 1),
}


@pytest.mark.parametrize("log", params(sorted(EXPORT_MODE)))
def test_export_mode_numbers_match_legacy(log: str, parsed: Callable[..., Parsed]) -> None:
    """With export=True, exported_program files carry legacy's numbers."""
    result = parsed(log, export=True)
    urls = [output["url"] for record in result.index for output in record["outputs"]
            if output["producer"] == "exported_program"]
    assert (urls, result.manifest["totals"]["outputs"]) == EXPORT_MODE[log]


@pytest.mark.parametrize("log", params(sorted(EXPORT_MODE)))
def test_export_mode_keeps_the_counts(log: str, parsed: Callable[..., Parsed]) -> None:
    """Export mode changes which outputs are planned, not which lines are accepted."""
    plain, export = parsed(log).manifest["stats"], parsed(log, export=True).manifest["stats"]
    for name in ("ok", "other_rank", "fail_glog", "fail_json", "fail_payload_md5", "unknown"):
        assert export[name] == plain[name], name
