"""The files of the intermediate store and which envelope types go to which file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..rules.status import cache_status_of_name

#: The typed JSONL streams, in the order the parse opens them; `index` holds every line.
JSONL_STREAMS = (
    "graphs", "codegen", "guards", "compilation_metrics", "artifacts", "cache",
    "tensor_metadata", "export", "index",
)
#: Legacy's raw.jsonl, byte for byte (string table first, then one sorted-key line per envelope):
#: made once by the parse, hard-linked into the report by the raw module.
RAW_JSONL = "raw.jsonl"
#: Every file a module may subscribe to.
INTERMEDIATE_FILES = (
    "manifest.json", "string_table.json", "chromium_events.json",
    *(f"{name}.jsonl" for name in JSONL_STREAMS), RAW_JSONL,
)
#: The files a resumed parse appends to: a resume point saves the size of each.
APPENDED_FILES = tuple(name for name in INTERMEDIATE_FILES if name not in ("manifest.json", "string_table.json"))
#: The parse's own resume point. A module that keeps a state of its own subscribes to it (search):
#: every store file's bytes before that point are final while the point stays in its history.
PARSE_STATE_FILE = "parse_state.json"
#: The files a module may subscribe to.
SUBSCRIBABLE_FILES = (*INTERMEDIATE_FILES, PARSE_STATE_FILE)

_GRAPHS = (
    "dynamo_output_graph", "aot_forward_graph", "aot_backward_graph", "aot_inference_graph",
    "aot_joint_graph", "inductor_pre_grad_graph", "inductor_post_grad_graph",
    "optimize_ddp_split_graph", "optimize_ddp_split_child", "compiled_autograd_graph", "graph_dump",
)
_GUARDS = (
    "dynamo_guards", "dynamo_cpp_guards_str", "guard_added_fast", "symbolic_shape_specialization",
    "guard_added", "propagate_real_tensors_provenance", "create_unbacked_symbol", "expression_created",
)
_METRICS = (
    "compilation_metrics", "bwd_compilation_metrics", "aot_autograd_backward_compilation_metrics",
    "dynamo_start",
)
#: Envelope type → stream; anything unlisted is a generic artifact.
ROUTES: dict[str, str] = {
    **dict.fromkeys(_GRAPHS, "graphs"),
    "inductor_output_code": "codegen",
    "dump_file": "codegen",
    **dict.fromkeys(_GUARDS, "guards"),
    **dict.fromkeys(_METRICS, "compilation_metrics"),
    **dict.fromkeys(("describe_storage", "describe_tensor", "describe_source"), "tensor_metadata"),
    **dict.fromkeys(("exported_program", "missing_fake_kernel", "mismatched_fake_kernel"), "export"),
}


def stream_for(kind: str, metadata: Any) -> str:
    """The stream an accepted envelope of type `kind` is written to.

    Cache artifacts (`fx_graph_cache_miss`, …) get a stream of their own.
    """
    if kind == "artifact" and isinstance(metadata, dict) and \
            cache_status_of_name(str(metadata.get("name", ""))) is not None:
        return "cache"
    return ROUTES.get(kind, "artifacts")


def streams_of_type(kind: str) -> tuple[str, ...]:
    """The typed streams that may hold an accepted entry of type `kind` (without its metadata,
    an artifact may be a cache artifact)."""
    if kind == "artifact":
        return ("artifacts", "cache")
    return (ROUTES.get(kind, "artifacts"),)


#: The store's folder inside OUT.
STORE_DIR = "intermediate"


def intermediate_dir(out: Path) -> Path:
    """Where a report's store lives."""
    return out / STORE_DIR
