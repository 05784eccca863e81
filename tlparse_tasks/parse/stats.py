"""Parse statistics, printed in the legacy `Stats { ... }` form."""

from __future__ import annotations

# Legacy counters in legacy order, then ours (only printed when non-zero):
#   fail_utf8   lines that are not UTF-8 (legacy skips them silently, then aborts the run)
# Where we count more than legacy:
#   fail_json                 also a string-table index above parser.MAX_STRING_INDEX
#   fail_json_serialization   lines whose JSON nests deeper than the store keeps (cut, once per line)
LEGACY_FIELDS = (
    "ok", "other_rank", "fail_glog", "fail_json", "fail_payload_md5", "fail_dynamo_guards_json",
    "fail_parser", "fail_key_conflict", "fail_json_serialization", "unknown",
)
OUR_FIELDS = ("fail_utf8",)
ALL_FIELDS = LEGACY_FIELDS + OUR_FIELDS
# What `--strict` treats as a failure (legacy §1.11, plus lines we could not decode).
STRICT_FIELDS = ("fail_glog", "fail_json", "fail_payload_md5", "other_rank",
                 "fail_dynamo_guards_json", "fail_parser", "fail_utf8")


def empty_stats() -> dict[str, int]:
    return {name: 0 for name in ALL_FIELDS}


def format_stats(stats: dict[str, int]) -> str:
    parts = [f"{name}: {stats[name]}" for name in ALL_FIELDS if stats.get(name)]
    return "Stats { " + ", ".join(parts) + (" }" if parts else "}")


def strict_failures(stats: dict[str, int]) -> int:
    return sum(stats.get(name, 0) for name in STRICT_FIELDS)
