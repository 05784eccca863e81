"""Structure-aware logs: envelopes of every type `envelope.py` knows, mostly well formed so that
they reach the code behind validation, with a wrong type, an edge number or a hostile string
mixed in; payloads that match their md5 most of the time.

Lines are built like `tests/logs.py`'s `entry` (glog prefix, JSON envelope, tab payload lines),
but through `values.to_json`, so deep values and non-standard numbers can be spliced in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from random import Random
from typing import Any

from tests.fuzz.values import (
    MARKER,
    Raw,
    any_value,
    edge_int,
    hostile_string,
    nested,
    scalar,
    to_json,
)
from tests.logs import PREFIX
from tlparse_tasks.parse.envelope import ENVELOPE_FIELDS
from tlparse_tasks.parse.outputs import PAYLOAD_SENTINELS

CACHE_ARTIFACTS = ["fx_graph_cache_hit", "fx_graph_cache_miss", "fx_graph_cache_bypass", "aotautograd_cache_hit",
                   "aotautograd_cache_miss", "aotautograd_cache_bypass",
                   "inductor_provenance_tracking_kernel_stack_traces", "inductor_provenance_tracking_node_mappings"]
ENCODINGS = ["string", "json", "base64", "bytes", "", MARKER]
PREFIXES = [PREFIX, "I1206 15:18:01.123456 7 a.py:1] ", "[rank3]: V1206 15:18:01.123456 140000 torch/x.py:10] ",
            "V0000 00:00:00.000000 0 :0] ", "V1206 15:18:01.123456 99999999999999999999999 p:99999999999999999999] ",
            "V1206 15:18:01.123456 1 C:\\a:b.py:3] ", "E9999 99:99:99.999999 1 x.py:1] "]


#: Envelope type keys (and one unknown type); `rank` and `has_payload` describe, not type, an entry.
KINDS = [key for key in ENVELOPE_FIELDS if key not in ("rank", "has_payload")] + ["my_new_type"]


def maybe(rng: Random, value: Callable[[], Any], odds: float = 0.1) -> Any:
    """Usually `value()`; with `odds`, any value at all (a wrong type, most likely)."""
    return any_value(rng) if rng.random() < odds else value()


def small_id(rng: Random, span: int = 3) -> Any:
    return maybe(rng, lambda: rng.randint(0, span), 0.05)


def compile_id(rng: Random, span: int = 3) -> dict[str, Any]:
    """Compile-id keys: mostly small and valid, sometimes missing parts or wrong types."""
    keys: dict[str, Any] = {}
    if rng.random() < 0.85:
        keys.update(frame_id=small_id(rng, span), frame_compile_id=small_id(rng))
        if rng.random() < 0.7:
            keys["attempt"] = maybe(rng, lambda: rng.choice([0, 0, 1, 2]), 0.05)
    if rng.random() < 0.1:
        keys["compiled_autograd_id"] = small_id(rng)
    if rng.random() < 0.03:
        keys[rng.choice(list(keys) or ["frame_id"])] = rng.choice([edge_int(rng), hostile_string(rng), 1.0, True])
    return keys


def frame(rng: Random) -> dict[str, Any]:
    """One stack frame; the filename is a string-table index (sometimes missing, huge or wrong)."""
    result: dict[str, Any] = {
        "line": maybe(rng, lambda: rng.randint(0, 500), 0.05),
        "name": maybe(rng, lambda: rng.choice(["forward", "f", "<module>", "_compile", MARKER]), 0.05),
        "filename": maybe(rng, lambda: rng.randint(0, 6), 0.05),
    }
    if rng.random() < 0.3:
        result["loc"] = maybe(rng, lambda: hostile_string(rng), 0.05)
    if rng.random() < 0.05:
        result["uninterned_filename"] = hostile_string(rng)
    if rng.random() < 0.03:
        del result[rng.choice(["line", "name", "filename"])]
    return result


def stack(rng: Random) -> Any:
    length = rng.choice([0, 1, 2, 3, 5, 8]) if rng.random() < 0.97 else rng.choice([101, 500, 5000])
    frames = [frame(rng) for _ in range(min(length, 50))]
    while frames and len(frames) < length:  # long stacks repeat a few frames
        frames.append(frames[len(frames) % 50])
    return maybe(rng, lambda: frames, 0.03)


def metrics(rng: Random) -> dict[str, Any]:
    fields: dict[str, Callable[[], Any]] = {
        "co_name": lambda: rng.choice(["forward", MARKER]), "co_filename": lambda: hostile_string(rng),
        "co_firstlineno": lambda: rng.randint(0, 99), "graph_op_count": lambda: rng.randint(0, 9),
        "graph_node_count": lambda: rng.randint(0, 9), "guard_count": lambda: rng.randint(0, 9),
        "start_time": lambda: rng.random() * 1e9, "entire_frame_compile_time_s": lambda: rng.random(),
        "fail_type": lambda: rng.choice(["RuntimeError", MARKER]), "fail_reason": lambda: hostile_string(rng),
        "fail_user_frame_filename": lambda: hostile_string(rng), "fail_user_frame_lineno": lambda: rng.randint(0, 9),
        "restart_reasons": lambda: [hostile_string(rng) for _ in range(rng.randint(0, 2))],
        "non_compliant_ops": lambda: [hostile_string(rng)], "config_inductor": lambda: any_value(rng),
        "cache_size": lambda: rng.randint(0, 3), "elapsed_time": lambda: rng.random(),
        "inductor_compile_time_s": lambda: rng.random(), "code_gen_time_s": lambda: rng.random(),
    }
    chosen = rng.sample(sorted(fields), rng.randint(0, 6))
    return {name: maybe(rng, fields[name], 0.05) for name in chosen}


def provenance(rng: Random) -> dict[str, Any]:
    fields: dict[str, Callable[[], Any]] = {
        "expr": lambda: hostile_string(rng), "result": lambda: hostile_string(rng), "symbol": lambda: "s0",
        "stack": lambda: stack(rng), "user_stack": lambda: stack(rng), "prefix": lambda: "eval",
        "frame_locals": lambda: {"locals": {"x": any_value(rng)}, "symbols": {"s0": "x.size()[0]"}},
        "sources": lambda: [hostile_string(rng)], "value": lambda: "3", "reason": lambda: hostile_string(rng),
        "node_id": lambda: rng.randint(0, 9), "vr": lambda: "[0, inf]", "method": lambda: "add",
        "arguments": lambda: ["s0", "1"], "argument_ids": lambda: [rng.randint(0, 9)], "op": lambda: "mylib.foo",
        "expr_node_id": lambda: rng.randint(0, 9), "result_id": lambda: rng.randint(0, 9),
        "symbol_to_sources": lambda: any_value(rng),
    }
    chosen = rng.sample(sorted(fields), rng.randint(0, 5))
    return {name: maybe(rng, fields[name], 0.05) for name in chosen}


def metadata(rng: Random, kind: str) -> Any:
    """The value under the envelope's type key."""
    named = {"graph_dump", "optimize_ddp_split_child", "dump_file"}
    if kind in named:
        return {"name": maybe(rng, lambda: hostile_string(rng), 0.05)}
    if kind == "artifact":
        return {"name": maybe(rng, lambda: rng.choice([*CACHE_ARTIFACTS, hostile_string(rng)]), 0.03),
                "encoding": maybe(rng, lambda: rng.choice(ENCODINGS), 0.03)}
    if kind == "link":
        return {"name": hostile_string(rng), "url": rng.choice(["https://example.invalid/p", hostile_string(rng)])}
    if kind == "inductor_output_code":
        return {"filename": maybe(rng, lambda: rng.choice(["/tmp/ab/cabc.py", hostile_string(rng)]), 0.05)}
    if kind == "stack":
        return stack(rng)
    if kind == "dynamo_start":
        return {"stack": stack(rng)}
    if kind.endswith("compilation_metrics"):
        return metrics(rng)
    if kind.startswith("describe_"):
        return {key: scalar(rng) for key in ("id", "describer_id", "ndim", "dtype", "device", "size", "source")}
    if kind == "str":
        return [maybe(rng, lambda: hostile_string(rng), 0.05),
                maybe(rng, lambda: rng.choice([rng.randint(0, 6), edge_int(rng)]), 0.1)]
    if ENVELOPE_FIELDS.get(kind) is not None and kind in (
            "guard_added", "guard_added_fast", "propagate_real_tensors_provenance", "symbolic_shape_specialization",
            "create_unbacked_symbol", "expression_created", "missing_fake_kernel", "mismatched_fake_kernel"):
        return provenance(rng)
    return maybe(rng, dict, 0.05)


def payload(rng: Random, kind: str, meta: Any) -> str:
    """Text that suits the entry: JSON for JSON artifacts, events and guards, code otherwise."""
    roll = rng.random()
    if roll < 0.05:
        return to_json(nested(rng.choice([150, 1000, 5000])))
    if roll < 0.1:
        return hostile_string(rng)
    if kind == "chromium_event":
        event = {"name": hostile_string(rng), "ph": rng.choice(["B", "E", "X", "i", MARKER]),
                 "ts": maybe(rng, lambda: rng.randint(0, 10**6)), "pid": 0, "tid": maybe(rng, lambda: 0),
                 "args": any_value(rng)}
        return to_json(event)
    if kind == "dynamo_guards":
        return to_json([{"code": maybe(rng, lambda: hostile_string(rng)), "stack": stack(rng)}
                        for _ in range(rng.randint(0, 3))])
    if kind in ("artifact", "compilation_metrics") and isinstance(meta, dict) and meta.get("encoding") == "json":
        return to_json(any_value(rng))
    lines = [rng.choice(["def forward(self, x):", "    return x + 1", "", "\t", MARKER, hostile_string(rng)])
             for _ in range(rng.randint(1, 6))]
    return "\n".join(lines)


def envelope_line(rng: Random, span: int = 3, rank: int | None = None) -> str:
    """One envelope line with its payload lines; frame ids go up to `span`; `rank` is the log's
    rank (the parse sets aside entries of any other rank, so a stray one is rare)."""
    kind = rng.choice(KINDS)
    envelope: dict[str, Any] = {kind: metadata(rng, kind)}
    if kind != "str":
        envelope.update(compile_id(rng, span))
    if rank is not None and rng.random() < 0.97:
        envelope["rank"] = rank
    elif rng.random() < 0.003:
        envelope["rank"] = maybe(rng, lambda: rng.choice([0, 1, 2]), 0.3)
    if rng.random() < 0.05:
        envelope["stack"] = stack(rng)
    if rng.random() < 0.03:
        envelope[rng.choice(["timestamp", "thread", "payload_filename", hostile_string(rng)])] = scalar(rng)
    text = ""
    wants_payload = kind in PAYLOAD_SENTINELS or kind in (
        "dynamo_output_graph", "dynamo_guards", "inductor_output_code", "artifact", "dump_file", "graph_dump",
        "chromium_event", "exported_program", "optimize_ddp_split_child", "my_new_type")
    if (wants_payload and rng.random() < 0.95) or rng.random() < 0.03:
        text = payload(rng, kind, envelope[kind])
        envelope["has_payload"] = md5_field(rng, text)
    prefix = PREFIX if rng.random() < 0.95 else rng.choice(PREFIXES)
    line = prefix + to_json(envelope) + "\n"
    if "has_payload" in envelope and rng.random() < 0.97:
        line += "".join(f"\t{part}\n" for part in text.split("\n"))
    return line


def md5_field(rng: Random, text: str) -> Any:
    """`has_payload`: the right md5 nearly always; else wrong, upper case, not hex, or not a string."""
    right = hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()
    roll = rng.random()
    if roll < 0.9:
        return right
    return rng.choice([right.upper(), "0" * 32, right[:31], "../../" + right, "", hostile_string(rng),
                       edge_int(rng), None, Raw("[]")])


def junk_line(rng: Random) -> str:
    return rng.choice(["\tstray payload\n", "\n", "not a glog line\n", PREFIX + "{bad json\n", PREFIX + "\n",
                       PREFIX + "[1, 2]\n", PREFIX + to_json(any_value(rng)) + "\n", "\t\t\t\n", "\r\n"])


def random_log(rng: Random) -> bytes:
    """A whole log: a few string-table entries first (as torch writes them), then envelopes;
    now and then a long one over many compile ids (lists that shard, index rows that fold)."""
    lines = [f'{PREFIX}{{"str": ["/home/user/{hostile_string(rng) if rng.random() < 0.2 else "m.py"}", {i}]}}\n'
             for i in range(rng.randint(0, 4))]
    wide = rng.random() < 0.05
    span, count = (300, 400) if wide else (3, rng.randint(1, 30))
    rank = rng.choice([0, 3]) if rng.random() < 0.2 else None
    for _ in range(count):
        lines.append(junk_line(rng) if rng.random() < 0.05 else envelope_line(rng, span, rank))
    return "".join(lines).encode("utf-8", "surrogatepass")
