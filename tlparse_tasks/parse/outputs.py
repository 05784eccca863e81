"""Which report files a log entry produces, and their legacy `_N` numbers.

Legacy numbers every output with one global counter in log order, so the numbering has to be
decided during the single streaming pass; the modules later write the files at these paths.
The order of the checks below is the legacy parser registry order (spec §2.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import orjson

from ..rules.names import eval_with_key_number, eval_with_key_page
from ..rules.status import cache_suffix
from ..safepath import safe_component

# Sentinel envelopes whose payload is written verbatim as `{dir}/{key}.txt`, in registry order.
PAYLOAD_SENTINELS = (
    "optimize_ddp_split_graph",
    "compiled_autograd_graph",
    "aot_forward_graph",
    "aot_backward_graph",
    "aot_inference_graph",
    "aot_joint_graph",
    "inductor_post_grad_graph",
    "inductor_pre_grad_graph",
    "dynamo_cpp_guards_str",
)
KERNEL_STACK_TRACES = "inductor_provenance_tracking_kernel_stack_traces"
#: Every envelope key that can produce an output: an envelope with none of them has none.
PRODUCERS = frozenset((
    *PAYLOAD_SENTINELS, "graph_dump", "dynamo_output_graph", "dynamo_guards", "inductor_output_code",
    "optimize_ddp_split_child", "aot_autograd_backward_compilation_metrics", "bwd_compilation_metrics",
    "link", "artifact", "dump_file", "compilation_metrics",
))
EXPORT_PRODUCERS = frozenset(("exported_program", "guard_added", "propagate_real_tensors_provenance"))


@dataclass(frozen=True)
class PlannedOutput:
    """One entry of the compile directory: a file (or link) and its number."""

    kind: str  # payload | reformat_json | html | global | link
    producer: str  # the envelope key that produces it
    url: str  # relative path, or the external URL of a link
    name: str  # what the index shows
    number: int
    suffix: str = ""
    readable_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "producer": self.producer, "url": self.url, "name": self.name,
            "number": self.number, "suffix": self.suffix, "readable_url": self.readable_url,
        }


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def numbered(path: str, number: int) -> str:
    """`a/b.c.txt` → `a/b.c_N.txt` (legacy `add_unique_suffix`)."""
    head, _, name = path.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    new = f"{stem}_{number}" + (f".{ext}" if ext else "")
    return f"{head}/{new}" if head else new


@dataclass
class OutputPlanner:
    """Assigns paths and numbers; `counter` is the global legacy output counter."""

    plain_text: bool = False
    export: bool = False
    counter: int = 0

    def plan(self, envelope: dict[str, Any], directory: str, payload: str,
             guards_json_ok: bool) -> tuple[list[PlannedOutput], list[str]]:
        """Outputs for one accepted entry, plus parser errors (legacy `fail_parser`)."""
        candidates: list[tuple[str, str, str]] = []  # (kind, producer, path or url|name)
        errors: list[str] = []
        if envelope.keys().isdisjoint(EXPORT_PRODUCERS if self.export else PRODUCERS):
            return [], errors  # most entries (chromium events, tensor metadata, …)
        if self.export:
            if envelope.get("exported_program") is not None:
                candidates.append(("payload", "exported_program", f"{directory}/exported_program.txt"))
            # Export handling runs after the parsers: evaluated guards and data-dependent
            # specialisations each get a page of their own.
            guard = envelope.get("guard_added")
            if (isinstance(guard, dict) and guard.get("prefix") == "eval") or \
                    envelope.get("propagate_real_tensors_provenance") is not None:
                producer = "guard_added" if guard is not None else "propagate_real_tensors_provenance"
                candidates.append(("html", producer, f"{directory}/symbolic_guard_information.html"))
            return self._number(candidates, payload), errors
        for key in PAYLOAD_SENTINELS:
            if envelope.get(key) is not None:
                candidates.append(("payload", key, f"{directory}/{key}.txt"))
        if envelope.get("graph_dump") is not None:
            name = safe_component(envelope["graph_dump"]["name"])
            candidates.append(("payload", "graph_dump", f"{directory}/{name}.txt"))
        if envelope.get("dynamo_output_graph") is not None:
            candidates.append(("payload", "dynamo_output_graph", f"{directory}/dynamo_output_graph.txt"))
        if envelope.get("dynamo_guards") is not None and guards_json_ok:
            candidates.append(("html", "dynamo_guards", f"{directory}/dynamo_guards.html"))
        if envelope.get("inductor_output_code") is not None:
            filename = envelope["inductor_output_code"].get("filename")
            stem = ""
            if filename:
                stem = safe_component(PurePosixPath(filename.replace("\\", "/")).stem, "code")
            base = f"inductor_output_code_{stem}" if filename else "inductor_output_code"
            if self.plain_text:
                candidates.append(("payload", "inductor_output_code", f"{directory}/{base}.txt"))
            else:
                candidates.append(("html", "inductor_output_code", f"{directory}/{base}.html"))
        if envelope.get("optimize_ddp_split_child") is not None:
            name = safe_component(envelope["optimize_ddp_split_child"]["name"])
            candidates.append(("payload", "optimize_ddp_split_child",
                               f"{directory}/optimize_ddp_split_child_{name}.txt"))
        for key in ("aot_autograd_backward_compilation_metrics", "bwd_compilation_metrics"):
            if envelope.get(key) is not None:
                candidates.append(("html", key, f"{directory}/{key}.html"))
        if envelope.get("link") is not None:
            link = envelope["link"]
            candidates.append(("link", "link", link["url"] + "\0" + link["name"]))
        if envelope.get("artifact") is not None:
            artifact = envelope["artifact"]
            name = safe_component(artifact["name"])
            if artifact["encoding"] == "string":
                candidates.append(("payload", "artifact", f"{directory}/{name}.txt"))
            elif artifact["encoding"] == "json":
                candidates.append(("reformat_json", "artifact", f"{directory}/{name}.json"))
            else:
                errors.append(f"Parser artifact failed: Unsupported encoding: {artifact['encoding']}")
        if envelope.get("dump_file") is not None:
            name = envelope["dump_file"]["name"]
            number = eval_with_key_number(name)
            page = eval_with_key_page(number) if number is not None else f"dump_file/{safe_component(name)}.html"
            candidates.append(("global", "dump_file", page))
        if envelope.get("compilation_metrics") is not None:
            candidates.append(("html", "compilation_metrics", f"{directory}/compilation_metrics.html"))
        return self._number(candidates, payload), errors

    def _number(self, candidates: list[tuple[str, str, str]], payload: str) -> list[PlannedOutput]:
        outputs = []
        for kind, producer, where in candidates:
            if kind == "link":
                url, _, name = where.partition("\0")
                outputs.append(PlannedOutput(kind, producer, url, name, self.counter))
                self.counter += 1
                continue
            path = where if kind == "global" else numbered(where, self.counter)
            readable = None
            if kind == "reformat_json" and PurePosixPath(where).name.startswith(KERNEL_STACK_TRACES):
                # Legacy also writes a readable HTML twin when the payload is JSON; it takes a
                # number, so the JSON's entry shows the next one (`_14.json` listed as (15)).
                readable = ""
                if _is_json(payload):
                    readable = path[: -len(".json")] + "_readable.html"
                    self.counter += 1
            outputs.append(PlannedOutput(kind, producer, path, path, self.counter,
                                         cache_suffix(path), readable))
            self.counter += 1
        return outputs
