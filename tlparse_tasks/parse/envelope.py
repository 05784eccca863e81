"""Typed validation of envelopes, mirroring which lines the legacy tool accepts.

Legacy deserialises each envelope into a strict Rust struct: a wrong type in any *known*
field rejects the whole line (`fail_json`). We check the same shapes with small predicate
combinators so that our `ok` count matches, and we say which field was wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..rules.compile_id import COMPILE_ID_KEYS

Check = Callable[[Any], str | None]  # returns an error text, or None when valid


def _is_int(value: Any) -> bool:
    return type(value) is int


def u32(value: Any) -> str | None:
    return None if _is_int(value) and 0 <= value <= 0xFFFFFFFF else "expected u32"


def u64(value: Any) -> str | None:
    return None if _is_int(value) and 0 <= value < 2**64 else "expected u64"


def i32(value: Any) -> str | None:
    return None if _is_int(value) and -(2**31) <= value < 2**31 else "expected i32"


def f64(value: Any) -> str | None:
    return None if (_is_int(value) or type(value) is float) else "expected a number"


def string(value: Any) -> str | None:
    return None if isinstance(value, str) else "expected a string"


def anything(value: Any) -> str | None:
    return None


def optional(check: Check) -> Check:
    def run(value: Any) -> str | None:
        return None if value is None else check(value)

    return run


def list_of(check: Check) -> Check:
    def run(value: Any) -> str | None:
        if not isinstance(value, list):
            return "expected a list"
        for index, item in enumerate(value):
            error = check(item)
            if error:
                return f"[{index}]: {error}"
        return None

    return run


def map_of(check: Check) -> Check:
    def run(value: Any) -> str | None:
        if not isinstance(value, dict):
            return "expected an object"
        for key, item in value.items():
            error = check(item)
            if error:
                return f"{key}: {error}"
        return None

    return run


def struct(required: dict[str, Check] | None = None, optional_fields: dict[str, Check] | None = None) -> Check:
    """An object with required and optional (nullable) fields; unknown fields are ignored."""
    required = required or {}
    optional_fields = optional_fields or {}

    def run(value: Any) -> str | None:
        if not isinstance(value, dict):
            return "expected an object"
        for key, check in required.items():
            if key not in value:
                return f"missing field `{key}`"
            error = check(value[key])
            if error:
                return f"{key}: {error}"
        for key, check in optional_fields.items():
            item = value.get(key)
            if item is not None:
                error = check(item)
                if error:
                    return f"{key}: {error}"
        return None

    return run


def pair_string_u32(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) != 2:
        return "expected [string, u32]"
    return string(value[0]) or u32(value[1])


EMPTY = struct()
FRAME = struct({"filename": u32, "line": i32, "name": string},
               {"loc": string, "uninterned_filename": string})
STACK = list_of(FRAME)
SYMBOLIC_PROVENANCE = struct(optional_fields={
    "expr": string, "result": string, "user_stack": STACK, "stack": STACK,
    "expr_node_id": u64, "symbol_to_sources": anything, "frame_locals": anything,
    "prefix": string,
})

# Every top-level key legacy knows, with the shape it requires (None values always pass).
ENVELOPE_FIELDS: dict[str, Check] = {
    "rank": u32,
    "has_payload": string,
    "stack": STACK,
    "dynamo_start": struct(optional_fields={"stack": STACK}),
    "str": pair_string_u32,
    "dynamo_output_graph": EMPTY,
    "optimize_ddp_split_graph": EMPTY,
    "optimize_ddp_split_child": struct({"name": string}),
    "compiled_autograd_graph": EMPTY,
    "dynamo_guards": EMPTY,
    "aot_forward_graph": EMPTY,
    "aot_backward_graph": EMPTY,
    "aot_inference_graph": EMPTY,
    "aot_joint_graph": EMPTY,
    "inductor_pre_grad_graph": EMPTY,
    "inductor_post_grad_graph": EMPTY,
    "dynamo_cpp_guards_str": EMPTY,
    "inductor_output_code": struct(optional_fields={"filename": string}),
    "compilation_metrics": struct(optional_fields={
        "co_name": string, "co_filename": string, "co_firstlineno": i32,
        "cache_size": u64, "accumulated_cache_size": u64, "guard_count": u64,
        "shape_env_guard_count": u64, "graph_op_count": u64, "graph_node_count": u64,
        "graph_input_count": u64, "start_time": f64, "entire_frame_compile_time_s": f64,
        "backend_compile_time_s": f64, "inductor_compile_time_s": f64, "code_gen_time_s": f64,
        "dynamo_time_before_restart_s": f64, "fail_type": string, "fail_reason": string,
        "fail_user_frame_filename": string, "fail_user_frame_lineno": u32,
        "non_compliant_ops": list_of(string), "compliant_custom_ops": list_of(string),
        "restart_reasons": list_of(string),
    }),
    "bwd_compilation_metrics": struct(optional_fields={
        "inductor_compile_time_s": f64, "code_gen_time_s": f64,
        "fail_type": string, "fail_reason": string,
    }),
    "aot_autograd_backward_compilation_metrics": struct(optional_fields={
        "start_time": f64, "elapsed_time": f64, "fail_type": string, "fail_reason": string,
    }),
    "graph_dump": struct({"name": string}),
    "link": struct({"name": string, "url": string}),
    "symbolic_shape_specialization": struct(optional_fields={
        "symbol": string, "sources": list_of(string), "value": string, "reason": string,
        "stack": STACK, "user_stack": STACK,
    }),
    # Deliberately looser than legacy: frame_locals may hold lists (issue: legacy fail_json).
    "propagate_real_tensors_provenance": SYMBOLIC_PROVENANCE,
    "guard_added": SYMBOLIC_PROVENANCE,
    "create_unbacked_symbol": struct(optional_fields={
        "symbol": string, "node_id": u64, "user_stack": STACK, "stack": STACK, "vr": string,
    }),
    "expression_created": struct(optional_fields={
        "method": string, "result": string, "result_id": u64, "arguments": list_of(string),
        "argument_ids": list_of(u64), "user_stack": STACK, "stack": STACK,
    }),
    "missing_fake_kernel": struct(optional_fields={"op": string, "reason": string}),
    "mismatched_fake_kernel": struct(optional_fields={"op": string, "reason": string}),
    "artifact": struct({"name": string, "encoding": string}),
    "describe_storage": struct({"id": anything, "describer_id": anything, "size": anything}),
    "describe_tensor": struct({"id": anything, "describer_id": anything, "ndim": anything,
                               "dtype": anything, "device": anything, "size": anything}),
    "describe_source": struct({"describer_id": anything, "id": anything, "source": anything}),
    "dump_file": struct({"name": string}),
    "chromium_event": EMPTY,
    "guard_added_fast": struct(optional_fields={"expr": string, "stack": STACK, "user_stack": STACK}),
    "exported_program": EMPTY,
}

# Keys that describe the envelope rather than say what it is.
META_KEYS = frozenset({"rank", "has_payload", "stack", *COMPILE_ID_KEYS})
KNOWN_KEYS = frozenset(ENVELOPE_FIELDS) | META_KEYS


def validate(envelope: dict[str, Any]) -> str | None:
    """Why legacy would reject this envelope, or None when it would accept it.

    Only the envelope's own keys are checked; when one is wrong, the first wrong field in
    legacy's field order is named (as legacy would)."""
    for key, value in envelope.items():
        check = ENVELOPE_FIELDS.get(key)
        if check is not None and value is not None and check(value):
            return _first_error(envelope)
    return None


def _first_error(envelope: dict[str, Any]) -> str | None:
    for key, check in ENVELOPE_FIELDS.items():
        value = envelope.get(key)
        if value is not None:
            error = check(value)
            if error:
                return f"{key}: {error}"
    return None


def envelope_type(envelope: dict[str, Any]) -> str | None:
    """The key that says what this envelope is: the first known type key, else the first
    unknown key (kept as a generic artifact), else None."""
    unknown = None
    for key in envelope:
        if key in META_KEYS:
            continue
        if key in ENVELOPE_FIELDS:
            return key
        if unknown is None:
            unknown = key
    return unknown


def unknown_keys(envelope: dict[str, Any]) -> list[str]:
    return [key for key in envelope if key not in KNOWN_KEYS]
