"""Fuzzing as a habit: a short, reproducible fuzz run on every test run, the regression inputs
in tests/regressions/, and tests that the oracle itself catches what it is meant to catch.

The short run draws case seeds with Hypothesis (derandomized, so CI sees the same cases every
time); a failure names the case so that `scripts/fuzz --replay SEED:0:MODE:SOURCE` shows it again.
Failures matching a regression recipe still marked `xfail` are tolerated here: that recipe is
where the known bug is tracked.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import oracle
from tests.fuzz.cases import Case, make_case, minimize, run_case, seed_logs
from tests.fuzz.generate import random_log
from tests.fuzz.mutate import mutate
from tests.fuzz.oracle import (
    LOG_NAME,
    Finding,
    run_command,
    run_grow,
    run_parse,
    run_resume,
    scratch,
    stderr_findings,
    store_findings,
    time_limit,
)
from tests.fuzz.recipes import Recipe, all_recipes, known_bugs, load
from tests.fuzz.values import MARKER
from tests.logs import cid, entry, simple_log
from tlparse_tasks.parse import parser as parser_module
from tlparse_tasks.parse.parser import parse_log

REPO = Path(__file__).resolve().parents[1]
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def short_run(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow])


def unknown_failures(findings: list[Finding]) -> list[Finding]:
    known = known_bugs()
    return [f for f in findings
            if not any(p.search(f"{f.kind}: {f.message} at {f.where}") for p in known)]


def check(case: Case) -> None:
    with tempfile.TemporaryDirectory() as root:
        outcome = case.run(Path(root))
    failures = unknown_failures(outcome.findings)
    assert not failures, (f"{case.label}\nreplay: scripts/fuzz --replay {case.replay}\n"
                          + "\n".join(f"{f.kind}: {f.message} at {f.where}\n{f.detail}" for f in failures))


# -- the short run (about a minute on two cores) ------------------------------------------------

@short_run(200)
@given(SEEDS)
def test_generated_logs_parse(seed: int) -> None:
    check(make_case(seed, 0, "parse", "generate"))


@short_run(250)
@given(SEEDS)
def test_mutated_corpus_logs_parse(seed: int) -> None:
    check(make_case(seed, 0, "parse", "mutate"))


@short_run(50)
@given(SEEDS)
def test_resumed_parse_equals_a_fresh_one(seed: int) -> None:
    check(make_case(seed, 0, "resume", "mutate" if seed % 2 else "generate"))


@pytest.mark.slow
@short_run(24)
@given(SEEDS)
def test_fuzzed_logs_through_the_command(seed: int) -> None:
    check(make_case(seed, 0, "command", "mutate" if seed % 2 else "generate"))


@pytest.mark.slow
@short_run(6)
@given(SEEDS)
def test_updated_report_equals_a_fresh_one(seed: int) -> None:
    check(make_case(seed, 0, "grow", "mutate" if seed % 2 else "generate"))


# -- regression inputs --------------------------------------------------------------------------

def recipe_param(path: Path) -> object:
    recipe = load(path)
    marks = [pytest.mark.xfail(strict=True, reason=recipe.xfail)] if recipe.xfail else []
    return pytest.param(recipe, id=path.stem, marks=marks)


@pytest.mark.parametrize("recipe", [recipe_param(path) for path in all_recipes()])
def test_regression_input(recipe: Recipe, tmp_path: Path) -> None:
    """Exit 0 through the command with every oracle property, and the counts the recipe expects."""
    started = time.perf_counter()
    outcome = run_case(recipe.mode, recipe.data, recipe.cut, tmp_path, recipe.seconds, recipe.flags)
    assert not outcome.findings, "\n".join(f"{f.kind}: {f.message} at {f.where}\n{f.detail}"
                                           for f in outcome.findings)
    assert time.perf_counter() - started < recipe.seconds
    assert outcome.out is not None
    manifest = orjson.loads((outcome.out / "intermediate" / "manifest.json").read_bytes())
    assert {name: manifest["stats"][name] for name in recipe.stats} == recipe.stats
    problems = [p["message"] for p in manifest["problems"]]
    for text in recipe.problems:
        assert any(text in message for message in problems), (text, problems)
    for text in recipe.stderr:
        assert text in outcome.stderr, (text, outcome.stderr[-3000:])


def test_regression_recipes_are_small_files() -> None:
    """Big inputs are recipes expanded at test time, not committed bytes."""
    paths = all_recipes()
    assert len(paths) >= 5
    assert all(path.stat().st_size < 64 << 10 for path in paths)
    assert len(load(REPO / "tests" / "regressions" / "long-frame-filename-10mb.json").data) > 10 << 20


# -- the oracle catches what it should ------------------------------------------------------------

def test_an_exception_in_the_parse_is_a_finding_with_our_frame(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: object, record: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(parser_module.LogParser, "process", boom)
    outcome = run_parse(simple_log().encode(), tmp_path)
    [finding] = outcome.findings
    assert finding.kind == "exception" and finding.message == "ValueError: boom"
    assert finding.where.startswith("tlparse_tasks/parse/parser.py:")


def test_a_module_failure_is_a_command_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module that raises makes the command exit 1; the finding names the error and our frame."""
    from tlparse_tasks.modules import raw

    def boom(ctx: object) -> None:
        raise KeyError("no such thing")

    monkeypatch.setattr(raw, "render", boom)
    outcome = run_command(simple_log().encode(), tmp_path)
    [finding] = outcome.findings
    assert finding.kind == "exit" and "KeyError" in finding.message
    assert finding.where.startswith("tlparse_tasks/")


def test_time_limit_turns_a_hang_into_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def spin(self: object, record: object) -> None:
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(parser_module.LogParser, "process", spin)
    started = time.perf_counter()
    outcome = run_parse(simple_log().encode(), tmp_path, limit=0.5)
    assert [f.kind for f in outcome.findings] == ["hang"]
    assert time.perf_counter() - started < 5
    with time_limit(5):
        pass  # the alarm is cleared afterwards
    time.sleep(0.05)


def test_writes_outside_out_and_links_out_of_it_are_findings(tmp_path: Path) -> None:
    outcome = run_parse(simple_log().encode(), tmp_path)
    assert outcome.findings == []
    folder, out = scratch(tmp_path)
    (folder.parent / "escaped.txt").write_text("x")
    os.symlink(tmp_path, out / "link")
    from tests.fuzz.oracle import outside_writes

    messages = sorted(f.message for f in outside_writes(tmp_path, out))
    assert messages == ["a/b/c/out/link links outside OUT", "wrote a/b/escaped.txt outside OUT"]


def test_broken_store_files_are_findings(tmp_path: Path) -> None:
    run_parse(simple_log().encode(), tmp_path)
    intermediate = scratch(tmp_path)[1] / "intermediate"
    assert store_findings(intermediate.parent) == []
    with open(intermediate / "graphs.jsonl", "ab") as handle:
        handle.write(b'{"type": "dynamo_output_graph", "surprise": 1}\n')
    [schema] = store_findings(intermediate.parent)
    assert schema.kind == "schema" and schema.message.startswith("graphs.jsonl: /:")
    with open(intermediate / "cache.jsonl", "ab") as handle:
        handle.write(b'{"nan": NaN}\n')  # Python's json reads it; strict JSON does not
    assert sorted(f.kind for f in store_findings(intermediate.parent)) == ["json", "schema"]


def test_unescaped_log_text_in_html_is_a_finding(tmp_path: Path) -> None:
    from tests.fuzz.oracle import report_findings

    out = tmp_path / "out"
    out.mkdir()
    (out / "page.html").write_text(f"<p>&lt;x-fuzz-marker&gt; {MARKER}</p>")
    assert [f.kind for f in report_findings(out)] == ["unescaped"]


def test_stderr_must_be_problem_lines() -> None:
    assert stderr_findings(f"/t/{LOG_NAME}:3: invalid envelope JSON\n", command=False) == []
    assert stderr_findings("Stats { ok: 1 }\n", command=True) == []
    assert [f.kind for f in stderr_findings("Traceback (most recent call last):\n", command=True)] == ["stderr"]


def test_a_resume_that_differs_from_a_fresh_parse_is_a_finding(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The resumed parse (the second of three) loses one record: the stores differ."""
    data = (simple_log() + entry({"artifact": {"name": "x", "encoding": "string"}, **cid()}, "p")).encode()
    assert run_resume(data, len(simple_log()), tmp_path / "same").findings == []
    calls: list[Path] = []
    process = parser_module.LogParser.process

    def counted_parse(log: Path, out: Path, **kwargs: Any) -> Any:
        calls.append(log)
        return parse_log(log, out, **kwargs)

    def lossy_process(self: parser_module.LogParser, record: Any) -> None:
        if len(calls) == 2 and b'"name": "x"' in (record.text or b""):
            return
        process(self, record)

    monkeypatch.setattr(oracle, "parse_log", counted_parse)
    monkeypatch.setattr(parser_module.LogParser, "process", lossy_process)
    [finding] = run_resume(data, len(simple_log()), tmp_path / "differs").findings
    assert finding.kind == "resume" and "artifacts.jsonl" in finding.message and len(calls) == 3


def test_an_update_that_differs_from_a_fresh_report_is_a_finding(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The update (the second of three runs) leaves a stray file: the reports differ."""
    calls: list[Path] = []
    command = oracle.command

    def leaves_a_file(log: Path, out: Path, flags: tuple[str, ...], stderr: Any) -> int:
        calls.append(out)
        code = command(log, out, flags, stderr)
        if len(calls) == 2:
            (out / "stray.txt").write_text("x")
        return code

    data = (simple_log() + entry({"artifact": {"name": "x", "encoding": "string"}, **cid()}, "p")).encode()
    assert run_grow(data, len(simple_log()), tmp_path / "same").findings == []
    monkeypatch.setattr(oracle, "command", leaves_a_file)
    [finding] = run_grow(data, len(simple_log()), tmp_path / "differs").findings
    assert finding.kind == "grow" and finding.detail.endswith(": stray.txt") and len(calls) == 3


# -- the generators ----------------------------------------------------------------------------------

def test_cases_are_reproducible_and_varied() -> None:
    assert make_case(7, 3) == make_case(7, 3)
    cases = [make_case(7, i) for i in range(400)]
    assert {c.mode for c in cases} == {"parse", "command", "resume", "grow"}
    assert {flag for c in cases for flag in c.flags} == {"--eager", "--plain-text", "--export", "--inductor-provenance"}
    assert len({c.data for c in cases}) == 400
    assert any(c.label.endswith("generated") for c in cases) and any("mutated by" in c.label for c in cases)
    assert len(seed_logs()) >= 5


def test_mutations_change_logs_and_generated_logs_hold_envelopes() -> None:
    import random

    rng = random.Random(1)
    base = simple_log().encode()
    changed = sum(mutate(base, rng)[0] != base for _ in range(100))
    assert changed > 80
    logs = [random_log(rng) for _ in range(50)]
    assert all(b'] {"' in log for log in logs)
    assert any(b"\xed\xa0\x80" in log for log in logs)  # lone surrogates: invalid UTF-8
    assert any(b"has_payload" in log for log in logs)


def test_minimize_keeps_only_the_lines_that_fail() -> None:
    data = b"".join(b"line %d\n" % i for i in range(40))
    assert minimize(data, lambda d: b"line 17\n" in d and b"line 3\n" in d) == b"line 3\nline 17\n"


@pytest.mark.slow
def test_scripts_fuzz_runs_cases_and_saves_what_fails(tmp_path: Path) -> None:
    """The long-run driver, for a handful of cases: it counts them and says where failures go."""
    result = subprocess.run([str(REPO / "scripts" / "fuzz"), "--seed", "5", "--cases", "4", "--minutes", "2",
                             "--crashes", str(tmp_path / "crashes"), "--no-minimise"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode in (0, 1), result.stderr
    assert "inputs run: 4 (" in result.stdout and str(tmp_path / "crashes") in result.stdout
    saved = list((tmp_path / "crashes").glob("*.json"))
    assert (result.returncode == 1) == bool(saved)
    for path in saved:
        assert load(path).data


def test_replay_shows_a_case(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.fuzz.__main__ import main

    code = main(["--replay", "3:0:parse:generate"])
    out = capsys.readouterr().out
    assert out.startswith("seed 3 case 0 (parse): generated [parse, ")
    assert make_case(3, 0, "command").flags == make_case(3, 0, "command").flags
    assert code in (0, 1)


def test_io_of_the_oracle_stays_quiet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Command runs capture their own output (a test run stays readable)."""
    outcome = run_command(simple_log().encode(), tmp_path)
    assert outcome.findings == [] and "Stats {" in outcome.stderr
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
