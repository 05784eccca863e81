"""The export module (`-e`): the draft-export report and the symbolic guard information pages,
on the corpus (legacy's paths, every failure kind the log holds) and on crafted logs (escaping,
entries legacy drops, deep provenance chains, no empty links)."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from devtools.legacy_diff import DEFAULT_LEGACY, first_difference
from tests.browser_support import build_report
from tests.conftest import LEGACY_TESTS, TORCH_213, corpus_copy
from tests.logs import entry

EXPORT_LOGS = sorted([*LEGACY_TESTS.glob("export*.log"), *(TORCH_213 / "08_export").glob("*.log")])
KIND_OF_TYPE = {
    "propagate_real_tensors_provenance": "Data Dependent Error",
    "guard_on_data_dependent_error": "Data Dependent Error",
    "missing_fake_kernel": "Missing Fake Kernel",
    "mismatched_fake_kernel": "Mismatched Fake Kernel",
}
ENVELOPE_KEY = re.compile(r'\] \{"([a-z_]+)": (\{[^\n]*)')
DOC = "https://docs.google.com/document/d/1_W62p8WJOQQUzPsJYa7s701JXt0qf2OfLub2sbkHOaU/edit#heading=h.ahugy69p2jmz"


def expected_kinds(log: Path) -> Counter[str]:
    """The failure kinds a log holds, read from its text without the tool: one per
    data-dependent entry, evaluated guard, fake-kernel entry, and a partial graph of a trace
    that stopped without a data-dependent error before it."""
    kinds: Counter[str] = Counter()
    pending_error = False
    for line in log.read_text(encoding="utf-8").splitlines():
        match = ENVELOPE_KEY.search(line)
        if match is None:
            continue
        key, rest = match.groups()
        if key in KIND_OF_TYPE:
            kinds[KIND_OF_TYPE[key]] += 1
            pending_error = key == "guard_on_data_dependent_error" or pending_error
        elif key == "guard_added" and '"prefix": "eval"' in rest:
            kinds["Guard Evaluated"] += 1
        elif key == "artifact" and '"name": "make_fx_fail_partial"' in rest:
            if not pending_error:
                kinds["Failed Trace"] += 1
            pending_error = False
    return kinds


class Cells(HTMLParser):
    """The text of each cell of the issue table, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._in_table = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == "tlp-export-issues":
            self._in_table = True
        elif tag == "tr" and self._in_table:
            self.rows.append([])
        elif tag == "td" and self._in_table:
            self._cell = []
        if tag == "a":
            self.links.append(attributes.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def cells(html: str) -> Cells:
    parser = Cells()
    parser.feed(html)
    return parser


def run_legacy(log: Path, out: Path) -> None:
    subprocess.run([str(DEFAULT_LEGACY), str(log), "-e", "-o", str(out), "--no-browser", "--overwrite"],
                   capture_output=True, check=True, timeout=120)


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module", params=EXPORT_LOGS, ids=lambda p: p.name)
def reports(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the log, our -e report of it)."""
    root = tmp_path_factory.mktemp("export")
    log = corpus_copy(request.param, root)
    return log, build_report(log, root / "ours", "-e").parent


def test_report_names_every_failure_kind_its_log_holds(reports: tuple[Path, Path]) -> None:
    log, out = reports
    rows = [row for row in cells((out / "index.html").read_text()).rows if row]
    assert Counter(row[0] for row in rows) == expected_kinds(log)
    html = (out / "index.html").read_text()
    if rows:
        assert f"{len(rows)} issue" in html and "Congratulations" not in html
    else:
        assert "Congratulations! No issues are found during export" in html


def test_no_empty_link_and_every_link_resolves(reports: tuple[Path, Path]) -> None:
    _, out = reports
    links = cells((out / "index.html").read_text()).links
    assert "" not in links
    for href in links:
        if not href.startswith(("#", "https://")):
            assert (out / href).is_file(), href


@pytest.mark.legacy
@pytest.mark.skipif(not DEFAULT_LEGACY.exists(), reason="legacy tlparse 0.4.3 is not in .legacy-venv")
def test_every_legacy_path_exists_and_text_is_identical(reports: tuple[Path, Path], tmp_path: Path) -> None:
    log, out = reports
    run_legacy(log, tmp_path / "legacy")
    legacy = files(tmp_path / "legacy")
    assert legacy <= files(out)
    for path in legacy:
        if not path.endswith(".html"):
            assert first_difference(tmp_path / "legacy" / path, out / path) is None, path


# -- the spec's §8 tests 8 and 9 -----------------------------------------------------------------

@pytest.mark.parametrize(("name", "extra"), [("export.log", ()), ("export.log", ("--strict",)),
                                              ("export_guard_added.log", ())])
def test_legacy_integration_prefixes(name: str, extra: tuple[str, ...], tmp_path: Path) -> None:
    """Spec §8 #8/#9: the exported program, index.html and a symbolic guard page (export.log is
    run with --strict there: strict is not checked in export mode, its md5 mismatch passes)."""
    out = build_report(corpus_copy(LEGACY_TESTS / name, tmp_path), tmp_path / "out", "-e", *extra).parent
    written = files(out)
    for prefix in ("-_-_-_-/exported_program", "index.html", "-_-_-_-/symbolic_guard_information"):
        assert any(p.startswith(prefix) for p in written), prefix
    assert {"-_-_-_-/symbolic_guard_information_0.html", "-_-_-_-/exported_program_1.txt"} <= written


def test_guard_page_shows_expression_stacks_locals_and_provenance(tmp_path: Path) -> None:
    out = build_report(corpus_copy(LEGACY_TESTS / "export.log", tmp_path), tmp_path / "out", "-e").parent
    page = (out / "-_-_-_-/symbolic_guard_information_0.html").read_text()
    assert "More detailed information on <code>Eq((((-u0)//3)) + 5, 0)</code>" in page
    assert "User Stack" in page and "Framework Stack" in page
    assert "test_draft_export.py:279" in page and "return z[:a]" in page
    assert "<code>z</code>" in page and "Tensor(shape: torch.Size([2*s0])" in page
    assert "<code>s0</code></td><td><code>L[&#39;args&#39;][0][1].size()[0]</code>" in page
    assert page.count('class="tlp-tree-node"') >= 5 and "<b>Method:</b> <code>int_floordiv</code>" in page
    index = (out / "index.html").read_text()
    assert 'href="-_-_-_-/symbolic_guard_information_0.html"' in index
    assert 'href="-_-_-_-/exported_program_1.txt"' in index


# -- crafted logs ----------------------------------------------------------------------------------

HOSTILE = "<img src=x onerror=alert(1)>"


def provenance(expr: str, node: int, locals_: object, **more: object) -> dict[str, object]:
    return {"propagate_real_tensors_provenance": {
        "expr": expr, "result": "True", "expr_node_id": node, "user_stack": [], "stack": [],
        "symbol_to_sources": {}, "frame_locals": {"locals": locals_, "symbols": {}}, **more}}


def created(result: str, node: int, args: list[int]) -> dict[str, object]:
    return {"expression_created": {"method": "add", "result": result, "result_id": node,
                                   "arguments": [f"a{a}" for a in args], "argument_ids": args,
                                   "user_stack": [], "stack": []}}


def export_report(tmp_path: Path, lines: list[str]) -> Path:
    log = tmp_path / "crafted.log"
    log.write_text("".join(lines))
    return build_report(log, tmp_path / "out", "-e").parent


def test_entries_legacy_drops_count_and_get_pages_outside_its_numbering(tmp_path: Path) -> None:
    out = export_report(tmp_path, [
        entry(created("u0 + 1", 7, [])),
        entry(provenance("u0 + 1 > 2", 7, {"n": ["u0"]})),  # legacy: fail_json, dropped
        entry({"guard_on_data_dependent_error": {"expr": "Eq(u0, 1)", "expr_id": 7, "stack": []}}),
        entry({"artifact": {"name": "make_fx_fail_partial", "encoding": "string"}}, "partial graph"),
        entry({"exported_program": {}}, "ExportedProgram: ..."),
    ])
    written = files(out)
    assert "-_-_-_-/exported_program_0.txt" in written  # legacy's number: the dropped line took none
    assert {"-_-_-_-/symbolic_guard_information_line2.html", "-_-_-_-/symbolic_guard_information_line3.html"} <= written
    rows = [row for row in cells((out / "index.html").read_text()).rows if row]
    assert [row[0] for row in rows] == ["Data Dependent Error", "Data Dependent Error"]
    assert "partial graph" in rows[1][2]
    page = (out / "-_-_-_-/symbolic_guard_information_line2.html").read_text()
    assert "tlparse 0.4.3 drops this entry" in page and "[&#34;u0&#34;]" in page


def test_everything_from_the_log_is_escaped(tmp_path: Path) -> None:
    out = export_report(tmp_path, [
        entry(provenance(HOSTILE, 1, {HOSTILE: HOSTILE})),
        entry({"missing_fake_kernel": {"op": HOSTILE}}),
        entry({"mismatched_fake_kernel": {"op": "x", "reason": HOSTILE}}),
        entry({HOSTILE.replace(" ", "_"): {}}),
    ])
    for path in ("index.html", "-_-_-_-/symbolic_guard_information_0.html"):
        html = (out / path).read_text()
        assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html, path
    rows = [row[0] for row in cells((out / "index.html").read_text()).rows if row]
    assert rows == ["Data Dependent Error", "Missing Fake Kernel", "Mismatched Fake Kernel"]
    assert f'href="{DOC}"' in (out / "index.html").read_text()


def test_no_exported_program_is_said_not_linked(tmp_path: Path) -> None:
    out = export_report(tmp_path, [entry({"missing_fake_kernel": {"op": "a.b"}})])
    html = (out / "index.html").read_text()
    assert "No exported program was logged" in html and 'href=""' not in html


def test_unknown_entries_are_listed(tmp_path: Path) -> None:
    out = export_report(tmp_path, [entry({"export": {}}, "start!"), entry({"export": {}}, "start!"),
                                   entry({"exported_program": {}}, "EP")])
    html = (out / "index.html").read_text()
    assert "Other entries" in html and "<td><code>export</code></td><td>2</td>" in html
    assert "Congratulations" in html


def test_a_deep_provenance_chain_renders_without_recursion(tmp_path: Path) -> None:
    depth = 3000
    lines = [entry(created("s0", 0, []))]
    lines += [entry(created(f"s{i}", i, [i - 1])) for i in range(1, depth)]
    lines.append(entry(provenance("deep", depth - 1, {})))
    out = export_report(tmp_path, lines)
    page = (out / "-_-_-_-/symbolic_guard_information_0.html").read_text()
    assert page.count('class="tlp-tree-node"') == 2000 and "the rest are left out" in page
    assert page.count("<details") == page.count("</details>")


def test_provenance_shows_nodes_logged_before_the_guard_only(tmp_path: Path) -> None:
    out = export_report(tmp_path, [
        entry(created("early", 1, [])),
        entry(provenance("x", 1, {})),
        entry(created("late", 1, [])),
    ])
    page = (out / "-_-_-_-/symbolic_guard_information_0.html").read_text()
    assert "early" in page and "late" not in page


def test_store_outputs_stay_valid_json(tmp_path: Path) -> None:
    out = export_report(tmp_path, [entry(provenance("x", 1, {"n": "u0"}))])
    records = [json.loads(line) for line in (out / "intermediate/guards.jsonl").read_text().splitlines()]
    assert records[0]["outputs"][0]["url"] == "-_-_-_-/symbolic_guard_information_0.html"


def test_all_ranks_html_builds_each_ranks_export_report(tmp_path: Path) -> None:
    """Issue 7 item 3: legacy crashes on `--all-ranks-html -e`; each rank gets its own report."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "dedicated_log_torch_trace_rank_0_a.log").write_bytes((LEGACY_TESTS / "export.log").read_bytes())
    (logs / "dedicated_log_torch_trace_rank_1_b.log").write_bytes(
        (TORCH_213 / "08_export" / "dedicated_log_torch_trace_0qtkqqoa.log").read_bytes())
    build_report(logs, tmp_path / "out", "--all-ranks-html", "-e")
    out = tmp_path / "out"
    assert (out / "rank_0/-_-_-_-/symbolic_guard_information_0.html").is_file()
    kinds = [[row[0] for row in cells((out / f"rank_{r}/index.html").read_text()).rows if row] for r in (0, 1)]
    assert kinds == [["Data Dependent Error"],
                     ["Missing Fake Kernel", "Mismatched Fake Kernel", "Data Dependent Error"]]
