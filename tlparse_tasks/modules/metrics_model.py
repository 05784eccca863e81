"""Page models of the compilation_metrics module: what each metrics page and failure row shows.

Pure functions from log data to dataclasses (no I/O), so that the module's driver stays a
single streaming pass and these can be tested on their own. Values print as legacy prints
them (tinytemplate over serde_json): null → "", floats shortest round-trip in ryu's style.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..module_api import listed_file
from ..rules.compile_id import UNKNOWN_GROUP, CompileId
from ..rules.graph_break import GraphBreak, break_for_restart
from ..rules.status import metrics_status
from ..rules.urls import report_href
from .common import format_value, truthy
from .kit import StackView, frame_of

# Fields legacy types as f64: an integer in the log still prints as a float ("5" → "5.0").
F64_FIELDS = frozenset({
    "start_time", "entire_frame_compile_time_s", "backend_compile_time_s",
    "inductor_compile_time_s", "code_gen_time_s", "dynamo_time_before_restart_s", "elapsed_time",
})
# Fields the metrics pages show in their own sections; everything else goes to "Other fields".
SHOWN_FORWARD = frozenset({
    "co_name", "co_filename", "co_firstlineno", "cache_size", "accumulated_cache_size",
    "guard_count", "shape_env_guard_count", "graph_op_count", "graph_node_count",
    "graph_input_count", "entire_frame_compile_time_s", "backend_compile_time_s",
    "inductor_compile_time_s", "code_gen_time_s", "dynamo_time_before_restart_s", "fail_type",
    "fail_reason", "fail_user_frame_filename", "fail_user_frame_lineno", "non_compliant_ops",
    "compliant_custom_ops", "restart_reasons",
})
SHOWN_BWD = frozenset({"inductor_compile_time_s", "code_gen_time_s", "fail_type", "fail_reason"})
SHOWN_AOT = frozenset({"fail_type", "fail_reason"})

HELP = {
    "entire": "Wall time of the whole frame conversion (convert_frame), backend included",
    "backend": "Wall time spent in the backend compiler (e.g. inductor)",
    "inductor": "Wall time spent in inductor",
    "restart": "Time dynamo spent on analysis attempts that were restarted",
}
STATUS_TEXT = {"error": "failed", "empty": "empty graph", "break": "restarted", "ok": "compiled"}


def number_text(value: Any, f64: bool = False) -> str:
    """A log value as legacy shows it; f64 fields print integers as floats (`5.0`).

    Legacy's JSON reader rounds some floats one ulp off (0.025464773178100586 shows as
    …582); we show the logged value exactly (the legacy-diff tool names this `float-rounding`).
    """
    return format_value(value, as_float=f64)


def field_text(metrics: dict[str, Any], key: str) -> str:
    return number_text(metrics.get(key), key in F64_FIELDS)


def raw_key(directory: str) -> str:
    """The compile-id key an entry is indexed under (legacy: the raw id; all unknowns share one)."""
    return directory if CompileId.from_directory(directory) else UNKNOWN_GROUP


def lookup_key(directory: str) -> str:
    """The key a metrics page looks stacks and guards up with: attempt forced to 0."""
    cid = CompileId.from_directory(directory)
    return cid.metrics_key().directory if cid else UNKNOWN_GROUP


@dataclass(frozen=True)
class Row:
    """A label and its printed value; `help` is shown as a `[?]` tooltip."""

    label: str
    value: str
    help: str = ""


@dataclass(frozen=True)
class OtherField:
    """A logged field no section shows; `blocks` holds multi-line text shown preformatted."""

    key: str
    value: str
    blocks: tuple[str, ...] = ()
    lazy: LazyValue | None = None  # a large value loaded on demand (shared between pages)


@dataclass(frozen=True)
class LazyValue:
    """A large logged value kept once in a data shard that the page loads when it is opened:
    inductor/dynamo config dicts repeat on every compile of a run."""

    shard: str
    src: str
    size: str


@dataclass(frozen=True)
class Specialization:
    """A symbol specialized to a value, and the stacks that did it."""

    symbol: str
    sources: list[str]
    value: str
    user_stack: StackView
    stack: StackView


@dataclass(frozen=True)
class GuardAdded:
    """A symbolic guard added during the compile, and the stacks that added it."""

    expr: str
    user_stack: StackView
    stack: StackView


@dataclass(frozen=True)
class Failure:
    """Why a compile failed, and the user code it failed in, as failures_and_restarts.html shows
    it."""

    fail_type: str
    reason: str
    user_file: str | None
    user_line: str


@dataclass
class MetricsPage:
    """compilation_metrics_N.html."""

    root: str
    display: str
    mini_frame: StackView | None
    files: list[FileLink]
    stack: StackView | None
    times: list[Row]
    failure: Failure | None
    restart_reasons: list[str]
    cache: list[Row]
    graph: list[Row]
    compliant_ops: list[str]
    non_compliant_ops: list[str]
    specializations: list[Specialization]
    guards: list[GuardAdded]
    other: list[OtherField]
    status: str
    recompile_reason: str = ""  # why this compile happened (newer torch logs it in the metrics)

    @property
    def lazy_values(self) -> bool:
        """Some values load on demand, so the page needs modules.js."""
        return any(f.lazy is not None for f in self.other)

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]


@dataclass
class BackwardPage:
    """bwd_compilation_metrics_N.html or aot_autograd_backward_compilation_metrics_N.html."""

    root: str
    display: str
    times: list[Row]
    failure: Failure | None
    other: list[OtherField]
    status: str

    @property
    def lazy_values(self) -> bool:
        """Some values load on demand, so the page needs modules.js."""
        return any(f.lazy is not None for f in self.other)

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]


@dataclass(frozen=True)
class FailureRow:
    """One row of failures_and_restarts.html."""

    display: str
    href: str | None
    restart: bool
    kind: str
    description: str
    source: str


@dataclass
class Summary:
    """What the index shows: counts and every metrics page."""

    restarts: int = 0
    failures: int = 0
    pages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.restarts + self.failures


class OutputRef(NamedTuple):
    """What an Output files entry shows of a planned output. Every output of the log is kept
    until the end (a compile id's list grows along the log), so a tuple, not the record's dict:
    a third of the memory on a 100 MB log."""

    url: str
    kind: str
    name: str
    number: int | None
    suffix: str
    readable_url: str | None = None


def output_ref(output: dict[str, Any]) -> OutputRef:
    """A planned output (an index record's `outputs` item) as kept; a name equal to the URL is
    the same string, and the few kinds are shared."""
    url, name = output["url"], output["name"]
    return OutputRef(url, sys.intern(output["kind"]), url if name == url else name, output["number"],
                     output["suffix"], output.get("readable_url"))


class FileLink(NamedTuple):
    """A `listed_file` item as a tuple (artifact_list.html reads either by attribute): a page's
    Output files repeat on every later page of its compile id and are all kept."""

    url: str | None
    name: str
    number: int | None
    suffix: str
    readable_url: str | None
    external: bool


def file_link(output: OutputRef, page_dir: str, root: str) -> FileLink:
    """An Output files entry (a `listed_file` item) with a working href and a real name.

    Legacy renders `{cid_dir}/` + the URL with its first path component dropped and the rest
    joined with "" (under `<base href="..">`), which breaks dump_file entries
    (`-_0_0_0/eval_with_key_3.html`) and external links (`http://x/y` → `-_0_0_0/xy`, no name).
    We link each output where it really is and name it by its path (the link name for links).
    """
    url = output.url
    if output.kind == "link":
        return FileLink(**listed_file(url, output.name, output.number, output.suffix, external=True))
    directory, _, base = url.partition("/")
    name = base if directory == page_dir and base else url
    readable = output.readable_url
    return FileLink(**listed_file(root + url, name, output.number, output.suffix,
                                  root + readable if readable else None))


def other_fields(metrics: dict[str, Any], shown: frozenset[str]) -> list[OtherField]:
    """Logged fields no section shows (null ones left out), in log order."""
    return [other_field(key, value) for key, value in metrics.items() if key not in shown and value is not None]


def other_field(key: str, value: Any) -> OtherField:
    """One of them: multi-line text (or a list of it) is shown preformatted."""
    if isinstance(value, str) and "\n" in value:
        return OtherField(key, "", (value,))
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value) and \
            any("\n" in v for v in value):
        return OtherField(key, "", tuple(value))
    return OtherField(key, number_text(value, key in F64_FIELDS))


def shown_fields(kind: str) -> frozenset[str]:
    """The fields a page of this kind shows in its own sections."""
    return {"compilation_metrics": SHOWN_FORWARD, "bwd_compilation_metrics": SHOWN_BWD}.get(kind, SHOWN_AOT)


def failure_of(metrics: dict[str, Any], with_source: bool) -> Failure | None:
    """The failure a page shows: legacy tests `fail_type` for truthiness."""
    if not truthy(metrics.get("fail_type")):
        return None
    source = metrics.get("fail_user_frame_filename") if with_source else None
    return Failure(str(metrics["fail_type"]), number_text(metrics.get("fail_reason")),
                   str(source) if truthy(source) else None,
                   number_text(metrics.get("fail_user_frame_lineno")))


def mini_frame(metrics: dict[str, Any]) -> StackView | None:
    """The compiled frame (co_filename:co_firstlineno in co_name), only if all three are logged."""
    name, filename, line = (metrics.get(k) for k in ("co_name", "co_filename", "co_firstlineno"))
    if name is None or filename is None or line is None:
        return None
    return StackView([frame_of(str(filename), line, name, None)])


def string_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


ViewOf = Callable[[Any], StackView]  # a logged stack → its view (`kit.stack_of` with the strings)


def specialization(data: dict[str, Any], view: ViewOf) -> Specialization:
    return Specialization(number_text(data.get("symbol")), string_list(data.get("sources")),
                          number_text(data.get("value")), view(data.get("user_stack")), view(data.get("stack")))


def guard_added(data: dict[str, Any], view: ViewOf) -> GuardAdded:
    return GuardAdded(number_text(data.get("expr")), view(data.get("user_stack")), view(data.get("stack")))


def inductor_times(metrics: dict[str, Any]) -> list[Row]:
    """Inductor and code generation times, each only when logged and non-zero (as legacy)."""
    rows = []
    if truthy(metrics.get("inductor_compile_time_s")):
        rows.append(Row("Inductor", field_text(metrics, "inductor_compile_time_s"), HELP["inductor"]))
    if truthy(metrics.get("code_gen_time_s")):
        rows.append(Row("Code Gen Time", field_text(metrics, "code_gen_time_s")))
    return rows


def forward_page(metrics: dict[str, Any], *, root: str, display: str, files: list[FileLink],
                 stack: StackView | None, specializations: list[Specialization],
                 guards: list[GuardAdded], other: list[OtherField] | None = None,
                 frame: Callable[[dict[str, Any]], StackView | None] = mini_frame) -> MetricsPage:
    """Everything compilation_metrics.html shows, in legacy's order and conditions (`other`:
    the other fields as the module shows them, `other_fields` by default; `frame`: `mini_frame`
    or what gives the same)."""
    times = [Row("Entire Frame", field_text(metrics, "entire_frame_compile_time_s"), HELP["entire"]),
             Row("Backend", field_text(metrics, "backend_compile_time_s"), HELP["backend"])]
    times += inductor_times(metrics)
    times.append(Row("Dynamo Time Before Restart", field_text(metrics, "dynamo_time_before_restart_s"),
                     HELP["restart"]))
    cache = [Row("Cache Size", field_text(metrics, "cache_size")),
             Row("Accumulated Cache Size", field_text(metrics, "accumulated_cache_size"))]
    graph = [Row(label, field_text(metrics, key)) for label, key in (
        ("Guard Count", "guard_count"), ("Shape Env Guards", "shape_env_guard_count"),
        ("Graph Ops", "graph_op_count"), ("Graph Nodes", "graph_node_count"),
        ("Graph Inputs", "graph_input_count"))]
    return MetricsPage(
        root=root, display=display, mini_frame=frame(metrics), files=files, stack=stack,
        times=times, failure=failure_of(metrics, with_source=True),
        restart_reasons=string_list(metrics.get("restart_reasons")), cache=cache, graph=graph,
        compliant_ops=string_list(metrics.get("compliant_custom_ops")),
        non_compliant_ops=string_list(metrics.get("non_compliant_ops")),
        specializations=specializations, guards=guards,
        other=other_fields(metrics, SHOWN_FORWARD) if other is None else other, status=metrics_status(metrics),
        recompile_reason=number_text(metrics.get("recompile_reason")))


def backward_page(kind: str, metrics: dict[str, Any], *, root: str, display: str,
                  other: list[OtherField] | None = None) -> BackwardPage:
    """bwd_compilation_metrics (times if truthy, failures) or the AOT autograd one (failures)."""
    times = inductor_times(metrics) if kind == "bwd_compilation_metrics" else []
    failure = failure_of(metrics, with_source=False)
    # A backward entry logs no graph, so only the failure part of the compile-status rule applies.
    status = "error" if metrics_status(metrics) == "error" else "ok"
    return BackwardPage(root, display, times, failure,
                        other_fields(metrics, shown_fields(kind)) if other is None else other, status)


def failure_rows(metrics: dict[str, Any], display: str, href: str | None,
                 breaks: Sequence[GraphBreak] = ()) -> list[FailureRow]:
    """One row per restart reason, then one for the failure (legacy order).

    A restart's source is the user location of the graph break (of an earlier attempt) that
    it names, when one was logged. Legacy aborts the whole run on a fail_type without
    fail_reason; we show the row with an empty description instead.
    """
    href = report_href(href) if href else None
    rows = [FailureRow(display, href, True, "RestartAnalysis", reason, _break_location(reason, breaks))
            for reason in string_list(metrics.get("restart_reasons"))]
    if metrics.get("fail_type") is not None:
        filename = metrics.get("fail_user_frame_filename")
        lineno = metrics.get("fail_user_frame_lineno")
        source = f"{'N/A' if filename is None else filename}:{0 if lineno is None else number_text(lineno)}"
        rows.append(FailureRow(display, href, False, str(metrics["fail_type"]),
                               number_text(metrics.get("fail_reason")), source))
    return rows


def _break_location(reason: str, breaks: Sequence[GraphBreak]) -> str:
    found = break_for_restart(reason, breaks)
    return (found.location or "") if found is not None else ""
