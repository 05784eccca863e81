"""Crafting TORCH_TRACE log lines for tests (valid md5s, glog prefixes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PREFIX = "V1206 15:18:01.123456 140000 torch/_dynamo/x.py:10] "


def entry(envelope: dict[str, Any], payload: str | None = None, *, prefix: str = PREFIX) -> str:
    """One envelope line plus its tab-indented payload lines (md5 filled in)."""
    envelope = dict(envelope)
    if payload is not None:
        envelope["has_payload"] = hashlib.md5(payload.encode()).hexdigest()
    text = prefix + json.dumps(envelope, ensure_ascii=False) + "\n"
    if payload is not None:
        text += "".join(f"\t{line}\n" for line in payload.split("\n"))
    return text


def cid(frame: int = 0, compile_: int = 0, attempt: int = 0) -> dict[str, int]:
    return {"frame_id": frame, "frame_compile_id": compile_, "attempt": attempt}


def simple_log() -> str:
    """A tiny but complete compile: a stack, a graph, an artifact, metrics."""
    return "".join([
        entry({"str": ["/home/user/model.py", 0]}),
        entry({"dynamo_start": {"stack": [{"line": 12, "name": "forward", "filename": 0}]}, **cid()}),
        entry({"dynamo_output_graph": {"sizes": {}}, **cid()}, "class GraphModule:\n    pass"),
        entry({"artifact": {"name": "fx_graph_cache_miss", "encoding": "json"}, **cid()}, '{"key": 1}'),
        entry({"compilation_metrics": {"graph_op_count": 3, "restart_reasons": []}, **cid()}),
    ])


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path
