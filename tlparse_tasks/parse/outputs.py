"""Which report files a log entry produces, and their legacy `_N` numbers.

Legacy numbers every output with one global counter in log order, so the numbering has to be
decided during the single streaming pass; the modules later write the files at these paths.
The order of the checks below is the legacy parser registry order (spec §2.2).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import orjson

from ..rules.names import (
    GENERATED_MODULE_PAGE,
    eval_with_key_number,
    eval_with_key_page,
    name_digest,
    suffixed,
)
from ..rules.status import cache_suffix
from ..safepath import safe_component
from .envelope import map_of, optional, string, struct

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
#: The two fields of a guard / data-dependent entry that legacy reads more strictly than the parse
#: does (measured on 0.4.3): a value of another shape (a list of names in `locals`, a null source)
#: makes legacy drop the whole line, so it takes no output number.
LEGACY_GUARD_FIELDS = struct(optional_fields={
    "symbol_to_sources": map_of(string),
    "frame_locals": struct(optional_fields={"locals": map_of(optional(string)),
                                            "symbols": map_of(optional(string))}),
})
#: Suffixed names tried for one logged name before it shares a file (each try a new digest).
MAX_CLAIMS = 16


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


def _candidates(path: str, name: str, reserved: bool) -> Iterator[str]:
    """The paths `name` may take, in order: `path` itself, then suffixed ones."""
    if not reserved:
        yield path
    for attempt in range(1, MAX_CLAIMS + 1):
        yield suffixed(path, name, attempt)


def legacy_guard_page(envelope: dict[str, Any]) -> str | None:
    """The key of an export entry legacy writes a numbered guard page for, else None: an
    evaluated guard (`guard_added` with prefix `eval`) or a data-dependent specialisation, as
    long as legacy could read the entry (`LEGACY_GUARD_FIELDS`). The export module gives the
    entries legacy drops pages of its own, outside the numbering."""
    guard = envelope.get("guard_added")
    if isinstance(guard, dict) and guard.get("prefix") == "eval":
        key, entry = "guard_added", guard
    elif envelope.get("propagate_real_tensors_provenance") is not None:
        key, entry = "propagate_real_tensors_provenance", envelope["propagate_real_tensors_provenance"]
    else:
        return None
    return key if LEGACY_GUARD_FIELDS(entry) is None else None


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
    """Assigns paths and numbers; `counter` is the global legacy output counter.

    Numbered files (`name_N.txt`) are unique by their number. Files without one (dump_file
    pages, `payloads/` files) are unique by name, and names are cleaned up to be safe, so two
    different logged names can clean up to one file (`a/b`, `a_b`, `a?b`). `owners` remembers
    which name owns each of those paths (the parse state saves it, so a resumed parse keeps the
    same paths); a later different name gets a suffixed path of its own.
    """

    plain_text: bool = False
    export: bool = False
    counter: int = 0
    owners: dict[str, str] = field(default_factory=dict)  # path → digest of the logged name

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
            if (producer := legacy_guard_page(envelope)) is not None:
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
            candidates.append(("global", "dump_file", self.dump_file_page(envelope["dump_file"]["name"])))
        if envelope.get("compilation_metrics") is not None:
            candidates.append(("html", "compilation_metrics", f"{directory}/compilation_metrics.html"))
        return self._number(candidates, payload), errors

    def claim(self, path: str, name: str, *, reserved: bool = False) -> str:
        """`path` for the logged `name`, unless another name owns it: then a suffixed path.

        The same name always gets the same path (legacy overwrites the file, and so do we).
        A `reserved` path is never given to `name` as it is (it belongs to other names).
        """
        digest = name_digest(name)
        candidate = path
        for candidate in _candidates(path, name, reserved):
            if self.owners.setdefault(candidate, digest) == digest:
                return candidate
        return candidate  # only a log crafted against the digest gets here: share, don't stop

    def dump_file_page(self, name: str) -> str:
        """`dump_file/<name>.html`, or the page of generated FX module N (`<eval_with_key>.N`
        anywhere in the name), which every name holding that key shares and stack frames link
        to; other names never take such a page."""
        number = eval_with_key_number(name)
        if number is not None:
            return self.claim(eval_with_key_page(number), f"<eval_with_key>.{number}")
        page = f"dump_file/{safe_component(name)}.html"
        return self.claim(page, name, reserved=GENERATED_MODULE_PAGE.fullmatch(page) is not None)

    def payload_file(self, has_payload: str) -> str:
        """`payloads/<has_payload>.txt`: legacy names the file by the declared hash string."""
        return self.claim(f"payloads/{safe_component(has_payload)}.txt", has_payload)

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
