"""Writing payload-backed report files exactly as legacy does (text and JSON artifacts)."""

from __future__ import annotations

from typing import Any

import orjson

from ..jsonfmt import serde_dumps
from ..module_api import ModuleContext
from .common import output_of


def pretty_json(payload: str) -> bytes:
    """serde_json's pretty printer: 2-space indent, sorted keys, shortest floats, raw UTF-8.

    A payload that is not JSON is written unchanged, as legacy does (it never fails).
    """
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload.encode("utf-8", "surrogateescape")
    try:
        return serde_dumps(value, pretty=True)
    except TypeError:  # e.g. integers beyond 64 bits
        return payload.encode("utf-8", "surrogateescape")


def write_payload_output(ctx: ModuleContext, record: dict[str, Any], producer: str | None = None) -> str | None:
    """Write the record's `payload` (.txt, verbatim) or `reformat_json` (.json) output."""
    output = output_of(record, producer or record["type"])
    if output is None or output["kind"] not in ("payload", "reformat_json"):
        return None
    payload = record.get("payload", "")
    if output["kind"] == "reformat_json":
        return ctx.write_bytes(output["url"], pretty_json(payload))
    return ctx.write_text(output["url"], payload)
