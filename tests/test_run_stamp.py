"""A report already up to date is known without starting doit (tlparse_tasks/run_stamp.py), and
only then: every change doit would act on sends the run through doit again."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.logs import simple_log, write
from tlparse_tasks import loader
from tlparse_tasks.cli import main
from tlparse_tasks.lock import incomplete_marker
from tlparse_tasks.run import Outcome
from tlparse_tasks.run_stamp import STAMP_ROW

DB = ".tlparse-doit.db"
EVERY_TASK = 3  # at least parse, a module and assemble


@pytest.fixture
def doit_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv of every doit run started in-process."""
    calls: list[list[str]] = []
    original = loader.run_doit

    def counted(cfg: Any, argv: list[str], *rest: Any) -> int:
        calls.append(argv)
        return original(cfg, argv, *rest)

    monkeypatch.setattr(loader, "run_doit", counted)
    return calls


def built(tmp_path: Path, *flags: str) -> tuple[Path, Path]:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    assert main([str(log), "-o", str(out), "--no-browser", *flags]) == 0
    return log, out


def rerun(log: Path, out: Path, *flags: str) -> Outcome:
    assert main([str(log), "-o", str(out), "--no-browser", *flags]) == 0
    assert Outcome.last is not None
    return Outcome.last


def test_an_unchanged_report_is_up_to_date_without_doit(tmp_path: Path, doit_runs: list[list[str]],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    log, out = built(tmp_path)
    first = capsys.readouterr().err
    assert len(doit_runs) == 1
    outcome = rerun(log, out)
    assert len(doit_runs) == 1  # no second doit run
    assert outcome.executed == [] and len(outcome.uptodate) >= EVERY_TASK
    assert {"parse", "assemble"} <= set(outcome.uptodate)
    assert capsys.readouterr().err == first  # the same closing stats


def forget_a_task(out: Path) -> None:
    with sqlite3.connect(out / DB) as conn:
        conn.execute("delete from doit where task_id = 'assemble'")


def drop_the_stamp(out: Path) -> None:
    with sqlite3.connect(out / DB) as conn:
        conn.execute("delete from doit where task_id = ?", (STAMP_ROW,))


def append_to_log(log: Path, out: Path) -> None:
    with open(log, "a") as handle:
        handle.write(simple_log().splitlines(keepends=True)[0])


def touch_a_target(log: Path, out: Path) -> None:
    (out / "index.html").unlink()


def mark_unfinished(out: Path) -> None:
    incomplete_marker(out / DB).write_text("{}")


@pytest.mark.parametrize(("change", "flags"), [
    (lambda log, out: append_to_log(log, out), ()),
    (lambda log, out: touch_a_target(log, out), ()),
    (lambda log, out: forget_a_task(out), ()),
    (lambda log, out: drop_the_stamp(out), ()),
    (lambda log, out: mark_unfinished(out), ()),
    (lambda log, out: None, ("--eager",)),
    (lambda log, out: None, ("--modules", "stack_trie")),
    (lambda log, out: None, ("--custom-header-html", "<b>x</b>")),
    (lambda log, out: None, ("--parse-only",)),
    (lambda log, out: None, ("--overwrite",)),
], ids=["log-appended", "target-deleted", "doit-forgot-a-task", "no-stamp", "unfinished-run",
        "eager", "modules-subset", "header", "parse-only", "overwrite"])
def test_any_change_doit_would_act_on_runs_doit(tmp_path: Path, doit_runs: list[list[str]],
                                               change: Callable[[Path, Path], None], flags: tuple[str, ...]) -> None:
    log, out = built(tmp_path)
    change(log, out)
    rerun(log, out, *flags)
    assert len(doit_runs) == 2
    assert (out / "index.html").is_file()


def test_a_changed_template_runs_doit(tmp_path: Path, doit_runs: list[list[str]]) -> None:
    """A custom modules.yaml with its own templates: editing one re-renders its module."""
    from tlparse_tasks.resources import TEMPLATE_DIR

    config = tmp_path / "conf"
    (config / "templates").mkdir(parents=True)
    (config / "modules.yaml").write_text("version: 1\nmodules:\n  - id: stack_trie\n    name: Stack trie\n"
                                         "    entry: tlparse_tasks.modules.stack_trie:render\n"
                                         "    subscriptions: [manifest.json]\n    strategy: eager\n"
                                         "    templates: [stack_trie.html]\n")
    mine = config / "templates" / "stack_trie.html"
    mine.write_text((TEMPLATE_DIR / "stack_trie.html").read_text())
    log, out = built(tmp_path, "--modules-config", str(config / "modules.yaml"))
    rerun(log, out, "--modules-config", str(config / "modules.yaml"))
    assert len(doit_runs) == 1
    mine.write_text(mine.read_text() + "\n<!-- edited -->\n")
    outcome = rerun(log, out, "--modules-config", str(config / "modules.yaml"))
    assert len(doit_runs) == 2 and "module:stack_trie" in outcome.executed


def test_a_log_grown_while_it_was_parsed_is_parsed_again(tmp_path: Path, doit_runs: list[list[str]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The log's stamp is taken before the build: what a writer appends during the parse is
    not taken for parsed."""
    from tlparse_tasks.parse import parser

    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    original = parser.parse_log

    def parse_then_append(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        append_to_log(log, out)
        return result

    monkeypatch.setattr(parser, "parse_log", parse_then_append)
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1"]) == 0
    monkeypatch.setattr(parser, "parse_log", original)
    outcome = rerun(log, out, "-j", "1")
    assert len(doit_runs) == 2 and "parse" in outcome.executed
