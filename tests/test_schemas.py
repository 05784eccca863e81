"""The intermediate store matches its JSON Schemas (tlparse_tasks/store/schemas/*.schema.json).

Every corpus log is parsed once per module; each intermediate file is then validated against its
schema (JSONL streams line by line). A crafted log covers the shapes the corpus lacks (invalid and
other-rank lines, key conflicts, null metadata, links, broken lines), and negative tests show the
schemas can fail. Definitions the streams share (typed record, planned output…) live once, in
common.schema.json; a `referencing` registry resolves the cross-file `$ref`s offline.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.conftest import CORPUS, LEGACY_TESTS, TORCH_213, corpus_copy
from tests.logs import cid, entry, write
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.resources import PACKAGE_DIR
from tlparse_tasks.store.streams import INTERMEDIATE_FILES, JSONL_STREAMS

SCHEMA_DIR = PACKAGE_DIR / "store" / "schemas"
ID_BASE = "https://tlparse-tasks.invalid/schemas/"
LARGE_LOG = TORCH_213 / "11_large" / "dedicated_log_torch_trace_ubbygp7s.log.xz"
SIMPLE_213 = TORCH_213 / "01_simple" / "dedicated_log_torch_trace_hv_7_v3h.log"
EXPORT_213 = TORCH_213 / "08_export" / "dedicated_log_torch_trace_f5jej_pq.log"
PRIVATE_FILES = {"parse_state.json"}  # resume state, deliberately without a schema
REPORT_SCHEMAS = {"multi_rank_diagnostics"}  # report files beside the store's (tests/test_multi_rank.py)
SHARED = "common"  # common.schema.json: shared `$defs` only, the schema of no file
SHARED_DEFS = ("typedRecord", "plannedOutput", "compileId", "glogTimestamp")
TYPED_STREAMS = [name for name in JSONL_STREAMS if name != "index"]


def corpus_logs() -> list[Path]:
    """Every plain-text corpus log, rank files of multi-rank folders included (11_large is .xz)."""
    logs = [p for p in LEGACY_TESTS.rglob("*") if p.suffix in (".log", ".txt")]
    logs += TORCH_213.glob("*/*.log")
    return sorted(logs)


CORPUS_PARAMS = [pytest.param(log, id=str(log.relative_to(CORPUS))) for log in corpus_logs()]
CORPUS_PARAMS.append(pytest.param(LARGE_LOG, id=str(LARGE_LOG.relative_to(CORPUS)), marks=pytest.mark.slow))


def schema_name(filename: str) -> str:
    """`graphs.jsonl` -> `graphs`, `manifest.json` -> `manifest`."""
    return filename.split(".", 1)[0]


@cache
def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file by name (`graphs`, `common`, …); read once, never mutated."""
    return {schema_name(p.name): json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(SCHEMA_DIR.glob("*.schema.json"))}


@cache
def registry() -> Registry[Any]:
    """Every schema under its `$id`, so `common.schema.json#/$defs/…` resolves without a network."""
    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in all_schemas().values())


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(all_schemas()[name], registry=registry())


def resolve(schema: dict[str, Any], ref: str) -> Any:
    """What `ref`, written inside `schema`, points at (raises if it points nowhere)."""
    return registry().resolver(base_uri=schema["$id"]).lookup(ref).contents


def refs_in(node: Any) -> Iterator[str]:
    """Every `$ref` value anywhere in a schema."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, document) for each record of an intermediate file: every line of a JSONL file."""
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                yield f"{path.name}:{number}", json.loads(line)
    else:
        yield path.name, json.loads(path.read_text(encoding="utf-8"))


def schema_errors(intermediate: Path) -> list[str]:
    """Every schema violation in an intermediate directory, as `file:line: path: message`."""
    errors = []
    for path in sorted(intermediate.iterdir()):
        if path.name in PRIVATE_FILES or path.name.startswith("."):
            continue
        check = validator(schema_name(path.name))
        for where, document in documents(path):
            for error in check.iter_errors(document):
                location = "/".join(str(part) for part in error.absolute_path)
                errors.append(f"{where}: /{location}: {error.message[:300]}")
    return errors


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """Parse a corpus log (a copy) once per module; returns its intermediate directory."""
    done: dict[Path, Path] = {}

    def parse(log: Path) -> Path:
        if log not in done:
            work = tmp_path_factory.mktemp("schemas")
            parse_log(corpus_copy(log, work), work / "out", stderr=None)
            done[log] = work / "out" / "intermediate"
        return done[log]

    return parse


# -- the schemas themselves --------------------------------------------------------------------

@pytest.mark.parametrize("name", [*sorted(schema_name(f) for f in INTERMEDIATE_FILES), SHARED])
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    """Each schema is itself valid, self-describing and identified by its file name."""
    schema = all_schemas()[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{ID_BASE}{name}.schema.json"
    assert schema["title"] and schema["description"]


def test_every_intermediate_file_has_a_schema(parsed: Callable[[Path], Path]) -> None:
    """Schemas and intermediate files correspond one to one (parse_state.json is private)."""
    written = {p.name for p in parsed(LEGACY_TESTS / "simple.log").iterdir()} - PRIVATE_FILES
    assert written == set(INTERMEDIATE_FILES)
    assert set(all_schemas()) == {schema_name(f) for f in INTERMEDIATE_FILES} | {SHARED, *REPORT_SCHEMAS}


def test_stream_schemas_refer_to_the_shared_definitions() -> None:
    """Typed streams are common.schema.json's typed record and the index uses its planned output;
    no schema keeps a copy of a shared definition, and every `$ref` anywhere resolves."""
    schemas = all_schemas()
    assert set(schemas[SHARED]) == {"$schema", "$id", "title", "description", "$defs"}
    assert set(schemas[SHARED]["$defs"]) == set(SHARED_DEFS)
    for name in TYPED_STREAMS:
        assert schemas[name]["$ref"] == "common.schema.json#/$defs/typedRecord", name
    index = schemas["index"]["properties"]
    assert index["outputs"]["items"]["$ref"] == "common.schema.json#/$defs/plannedOutput"
    assert {"$ref": "common.schema.json#/$defs/compileId"} in index["compile_id"]["anyOf"]
    for name, schema in schemas.items():
        if name != SHARED:
            assert not set(schema.get("$defs", {})) & set(SHARED_DEFS), f"{name} copies a shared $def"
        for ref in refs_in(schema):
            resolve(schema, ref)


def test_record_envelopes_are_closed() -> None:
    """Our own record shapes forbid unknown keys; only log data (metadata/extra/raw) stays open."""
    schemas = all_schemas()
    for name in ("manifest", "index", "string_table"):
        assert schemas[name]["additionalProperties"] is False, name
    defs = schemas[SHARED]["$defs"]
    assert defs["typedRecord"]["additionalProperties"] is False
    assert defs["plannedOutput"]["additionalProperties"] is False
    assert defs["typedRecord"]["properties"]["extra"]["additionalProperties"] is True
    assert schemas["raw"]["$defs"]["envelope"]["additionalProperties"] is True


# -- the corpus validates ------------------------------------------------------------------------

@pytest.mark.parametrize("log", CORPUS_PARAMS)
def test_corpus_log_matches_schemas(log: Path, parsed: Callable[[Path], Path]) -> None:
    """Every intermediate file of this log validates; the first violations are shown."""
    errors = schema_errors(parsed(log))
    assert not errors, "\n".join(errors[:20])


def test_corpus_exercises_every_stream(parsed: Callable[[Path], Path]) -> None:
    """Across the corpus each JSONL stream holds records, so no stream schema goes untested."""
    empty = {f for f in INTERMEDIATE_FILES if f.endswith(".jsonl")}
    for log in corpus_logs():
        intermediate = parsed(log)
        empty = {f for f in empty if (intermediate / f).stat().st_size == 0}
    assert not empty


@pytest.mark.parametrize("log", [LEGACY_TESTS / "simple.log", SIMPLE_213, EXPORT_213])
def test_raw_jsonl_starts_with_the_string_table(log: Path, parsed: Callable[[Path], Path]) -> None:
    """raw.jsonl's first line is string_table.json, byte for byte; no later line is a string table."""
    intermediate = parsed(log)
    with open(intermediate / "raw.jsonl", "rb") as handle:
        first = handle.readline()
        later = [json.loads(line) for line in handle]
    assert first == (intermediate / "string_table.json").read_bytes()
    assert json.loads(first)["string_table"]
    assert later and all("string_table" not in line and "timestamp" in line for line in later)


# -- shapes the corpus lacks ---------------------------------------------------------------------

KERNEL_TRACES = json.dumps({"triton_poi_0": ["File a.py, line 1\\n  foo()"]})


def edge_case_log() -> bytes:
    """A log with every record shape the store can hold, including broken lines."""
    ranked = {"rank": 0, **cid()}
    text = "".join([
        "\tstray payload line before any envelope\n",
        entry({"str": ["/home/user/model.py", 2]}),
        entry({}),  # no type key: "empty"
        entry({"dynamo_start": {"stack": [{"line": 3, "name": "f", "filename": 2, "loc": "f()"}]}, **cid()}),
        entry({"dynamo_output_graph": None, **cid()}),  # known type logged as null
        entry({"my_new_type": {"x": [1, 2]}, "stack": [{"line": 1, "name": "g", "filename": 2}], **cid()}, "data"),
        entry({"artifact": {"name": "x", "encoding": "string"}, "frame_id": "zero"}, "bad compile id"),
        entry({"artifact": {"name": "blob", "encoding": "base64"}, **cid()}, "AAAA"),
        entry({"artifact": {"name": "fx_graph_cache_bypass", "encoding": "json"}, **cid()}, "{}"),
        entry({"artifact": {"name": "inductor_provenance_tracking_kernel_stack_traces", "encoding": "json"},
               **cid()}, KERNEL_TRACES),
        entry({"artifact": {"name": "t", "encoding": "string"}, "timestamp": "conflict", **cid()}, "x"),
        entry({"link": {"name": "profile", "url": "https://example.invalid/p"}, **cid()}),
        entry({"dump_file": {"name": "<eval_with_key>.7"}}, "def forward(): pass"),
        entry({"dynamo_guards": {}, **cid()}, "not json"),
        entry({"inductor_output_code": {"filename": "/tmp/ab/cabc.py"}, **cid()}, "print(1)"),
        entry({"describe_tensor": {"id": 0, "describer_id": 0, "ndim": 1, "dtype": "f32", "device": "cpu",
                                   "size": [2]}, **cid()}),
        entry({"exported_program": {}}, "ExportedProgram: ..."),
        entry({"missing_fake_kernel": {"op": "mylib.foo", "reason": "none"}}),
        entry({"chromium_event": {}, **cid()}, json.dumps({"name": "e", "ph": "B", "ts": 1, "pid": 0})),
        entry({"compilation_metrics": {"fail_type": "Boom", "restart_reasons": []},
               "compiled_autograd_id": 1, "frame_id": 2, "frame_compile_id": 3}),
        entry({"link": {"name": 7, "url": "u"}, **cid()}),  # wrong field type: invalid
        "V1206 15:18:01.123456 140000 torch/x.py:10] {not json\n",
        entry({"artifact": {"name": "md5", "encoding": "string"}, "has_payload": "0" * 32, **cid()})
        + "\tpayload whose md5 does not match\n",
        entry({"artifact": {"name": "r0", "encoding": "string"}, **ranked}, "rank 0"),
        entry({"artifact": {"name": "r1", "encoding": "string"}, "rank": 1, **cid()}, "rank 1"),
    ])
    return text.encode() + b"V1206 15:18:01.123456 140000 torch/x.py:10] {\"\xff\": 1}\n"


@pytest.fixture(scope="module")
def edge_case_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("edge")
    parse_log(write(work / "edge.log", edge_case_log()), work / "out", stderr=io.StringIO())
    return work / "out" / "intermediate"


def test_edge_case_store_matches_schemas(edge_case_store: Path) -> None:
    """The crafted log's store validates, and it really contains the rare shapes."""
    errors = schema_errors(edge_case_store)
    assert not errors, "\n".join(errors[:20])
    index = [record for _, record in documents(edge_case_store / "index.jsonl")]
    assert {r["status"] for r in index} == {"ok", "other_rank", "invalid"}
    raw = [line for _, line in documents(edge_case_store / "raw.jsonl")]
    assert len(raw) - 1 < len(index)  # the key conflict is left out of raw.jsonl
    assert any(r["compile_id"].startswith("unknown_") for r in index if r["compile_id"])
    kinds = {o["kind"] for r in index for o in r["outputs"]}
    assert kinds == {"payload", "reformat_json", "html", "global", "link"}
    graphs = [record for _, record in documents(edge_case_store / "graphs.jsonl")]
    assert [g["metadata"] for g in graphs] == [None]
    manifest = json.loads((edge_case_store / "manifest.json").read_text(encoding="utf-8"))
    stats = manifest["stats"]
    for name in ("other_rank", "fail_glog", "fail_json", "fail_payload_md5", "fail_dynamo_guards_json",
                 "fail_parser", "fail_key_conflict", "unknown", "fail_utf8"):
        assert stats[name] > 0, name
    assert manifest["stack_trie"]["children"] and manifest["unknown_stack_trie"]["children"]


# -- the schemas can fail ------------------------------------------------------------------------

def first_record(intermediate: Path, stream: str) -> dict[str, Any]:
    record: dict[str, Any] = next(documents(intermediate / f"{stream}.jsonl"))[1]
    return record


def is_valid(name: str, document: Any) -> bool:
    return bool(validator(name).is_valid(document))


def required_keys(name: str) -> list[str]:
    """The required keys of a record schema (typed streams take theirs from the typed record they
    `$ref`, raw.jsonl from its envelope line)."""
    schema = all_schemas()[name]
    if name == "raw":
        schema = schema["$defs"]["envelope"]
    required: list[str] = schema.get("required") or resolve(schema, schema["$ref"])["required"]
    return required


@pytest.mark.parametrize("stream", [schema_name(f) for f in INTERMEDIATE_FILES if f.endswith(".jsonl")])
def test_missing_required_key_fails(stream: str, parsed: Callable[[Path], Path]) -> None:
    """Dropping any required key of a real record makes it invalid (raw.jsonl: an envelope line)."""
    intermediate = parsed(EXPORT_213 if stream == "export" else SIMPLE_213)
    record = first_record(intermediate, stream)
    if stream == "raw":
        record = [line for _, line in documents(intermediate / "raw.jsonl")][1]
    assert is_valid(stream, record)
    for key in required_keys(stream):
        broken = {k: v for k, v in record.items() if k != key}
        assert not is_valid(stream, broken), f"{stream} record without {key!r} passed"


def test_wrong_shapes_fail(parsed: Callable[[Path], Path]) -> None:
    """Unknown envelope keys, bad enums and wrong types are caught; log data stays free."""
    intermediate = parsed(LEGACY_TESTS / "cache_hit_miss.log")
    graph = first_record(intermediate, "graphs")
    index = next(r for _, r in documents(intermediate / "index.jsonl") if r["outputs"])
    raw = [line for _, line in documents(intermediate / "raw.jsonl")][1]
    assert is_valid("raw", raw) and is_valid("raw", {**raw, "anything": [{"new": None}]})
    cases: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], None]]] = [
        ("graphs", graph, lambda r: r.update(surprise=1)),
        ("graphs", graph, lambda r: r.update(type="artifact")),
        ("graphs", graph, lambda r: r.update(compile_id="0/0")),
        ("graphs", graph, lambda r: r.update(rank=-1)),
        ("graphs", graph, lambda r: r.update(timestamp="yesterday")),
        ("graphs", graph, lambda r: r.update(extra={})),
        ("graphs", graph, lambda r: r["outputs"][0].update(kind="file")),
        ("graphs", graph, lambda r: r["outputs"][0].update(suffix="x")),
        ("graphs", graph, lambda r: r["outputs"][0].pop("readable_url")),
        ("index", index, lambda r: r.update(status="fine")),
        ("index", index, lambda r: r.update(status="other_rank")),  # other_rank has no compile id
        ("index", index, lambda r: r.update(raw=raw)),  # raw.jsonl's line is not in the index
        ("index", index, lambda r: r.update(payload_md5="not an md5")),
        ("raw", raw, lambda r: r.pop("timestamp")),
        ("raw", raw, lambda r: r.update(timestamp="yesterday")),  # shared glogTimestamp
        ("raw", raw, lambda r: r.update(thread="main")),
        ("raw", {"string_table": [None, "a"]}, lambda r: r.update(string_table=[1])),
        ("index", index, lambda r: r.update(compile_id="0/0")),  # shared compileId
        ("index", index, lambda r: r["outputs"][0].update(kind="file")),  # shared plannedOutput
        ("index", index, lambda r: r["outputs"][0].update(url="")),  # a file always has a path
        ("string_table", {"string_table": ["a"]}, lambda r: r.update(string_table=[])),
        ("string_table", {"string_table": ["a"]}, lambda r: r.update(string_table=[1])),
    ]
    for name, original, mutate in cases:
        record = copy.deepcopy(original)
        mutate(record)
        assert not is_valid(name, record), f"{name}: mutation left the record valid: {record}"
    free = copy.deepcopy(graph)
    free["metadata"] = {"anything": [1, {"nested": None}]}
    free["extra"] = {"stack": [], "new_key": "v"}
    assert is_valid("graphs", free)
    assert not is_valid("chromium_events", {"name": "not an array"})
    link = copy.deepcopy(index)  # legacy keeps a link logged with an empty url
    link["outputs"][0].update(kind="link", producer="link", url="", name="profile")
    assert is_valid("index", link)


def test_manifest_version_and_keys_are_pinned(parsed: Callable[[Path], Path]) -> None:
    """The manifest must say version 2.1 and carry every top-level key."""
    manifest = json.loads((parsed(LEGACY_TESTS / "simple.log") / "manifest.json").read_text(encoding="utf-8"))
    assert is_valid("manifest", manifest)
    assert not is_valid("manifest", {**manifest, "version": "2.0"})
    assert not is_valid("manifest", {**manifest, "extra_key": 1})
    for key in manifest:
        assert not is_valid("manifest", {k: v for k, v in manifest.items() if k != key}), key
    stats = dict(manifest["stats"])
    stats.pop("fail_utf8")
    assert not is_valid("manifest", {**manifest, "stats": stats})
