"""run.py: the one validated run config, the pool policy, dodo's DB rule, `doit clean`'s actions
and the parse's up-to-date check."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.logs import cid, entry, simple_log, write
from tlparse_tasks.actions import clean_assemble, clean_module, clean_parse, log_parsed, run_parse
from tlparse_tasks.cli import main
from tlparse_tasks.config import ModulesConfig, load_config
from tlparse_tasks.parse import parser
from tlparse_tasks.resources import default_modules_yaml
from tlparse_tasks.run import (
    MAX_AUTO_JOBS,
    POOL_MIN_LOG_BYTES,
    POOL_MIN_MODULES,
    Outcome,
    RunError,
    RunOptions,
    build_config,
    dodo_doit_config,
    doit_argv,
    doit_command,
    options_from_vars,
    resolve_jobs,
    split_names,
)


@pytest.fixture(scope="module")
def modules() -> ModulesConfig:
    return load_config(default_modules_yaml())


def test_split_names() -> None:
    assert split_names(" a, b,,c ,") == ("a", "b", "c")
    assert split_names("") == () and split_names(None) == ()


@pytest.mark.parametrize(("options", "message"), [
    (RunOptions(modules=("nosuch",)), "unknown module `nosuch` (see tlparse --list-modules)"),
    (RunOptions(skip=("stack_trie", "nope")), "unknown module `nope` (see tlparse --list-modules)"),
    (RunOptions(modules=("stack_trie",), export=True),
     "module `stack_trie` does not run in export mode (see tlparse --list-modules)"),
    (RunOptions(jobs=-1), "-j/--jobs must be 0 (automatic) or a number of processes, not -1"),
])
def test_bad_options_are_refused_with_one_line(tmp_path: Path, modules: ModulesConfig,
                                               options: RunOptions, message: str) -> None:
    with pytest.raises(RunError) as caught:
        build_config(tmp_path / "t.log", tmp_path / "out", modules, options)
    assert str(caught.value) == message
    assert not (tmp_path / "out").exists()


def test_the_config_carries_every_option(tmp_path: Path, modules: ModulesConfig) -> None:
    options = RunOptions(modules=("stack_trie", "raw"), skip=("raw",), plain_text=True,
                         inductor_provenance=True, eager=True, custom_header_html="<b>h</b>",
                         strict=True, strict_compile_id=True, jobs=3)
    cfg = build_config(tmp_path / "t.log", tmp_path / "out", modules, options)
    assert [m.id for m in cfg.active_modules()] == ["stack_trie"]
    assert (cfg.plain_text, cfg.inductor_provenance, cfg.eager, cfg.strict, cfg.strict_compile_id) == (
        True, True, True, True, True)
    assert cfg.custom_header_html == "<b>h</b>" and cfg.jobs == 3 and cfg.mode == "default"
    assert build_config(tmp_path / "t.log", tmp_path / "o", modules, RunOptions(export=True)).mode == "export"


def test_a_pool_only_when_it_pays(tmp_path: Path, modules: ModulesConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    log, out = tmp_path / "t.log", tmp_path / "out"
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert resolve_jobs(build_config(log, out, modules, RunOptions())) == MAX_AUTO_JOBS
    assert doit_argv(build_config(log, out, modules, RunOptions())) == ["run", "-n", "4", "-P", "process"]
    few = RunOptions(modules=tuple(m.id for m in modules.modules[: POOL_MIN_MODULES - 1]))
    assert resolve_jobs(build_config(log, out, modules, few)) == 1
    assert doit_argv(build_config(log, out, modules, few)) == ["run"]
    assert doit_argv(build_config(log, out, modules, RunOptions(parse_only=True))) == ["run", "parse"]
    assert resolve_jobs(build_config(log, out, modules, RunOptions(jobs=2, modules=("raw",)))) == 2  # -j wins
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert resolve_jobs(build_config(log, out, modules, RunOptions())) == 1


def test_a_small_log_runs_in_one_process(tmp_path: Path, modules: ModulesConfig,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    log, out = tmp_path / "t.log", tmp_path / "out"
    log.write_bytes(b"x" * 1000)
    assert resolve_jobs(build_config(log, out, modules, RunOptions())) == 1
    assert resolve_jobs(build_config(log, out, modules, RunOptions(jobs=2))) == 2  # -j wins
    with log.open("r+b") as handle:
        handle.truncate(POOL_MIN_LOG_BYTES)  # sparse: no disk needed
    assert resolve_jobs(build_config(log, out, modules, RunOptions())) == 2


def test_doit_vars_build_the_same_config(tmp_path: Path) -> None:
    given = {"modules": "stack_trie, raw", "skip": "raw", "eager": "1", "plain_text": "yes",
             "inductor_provenance": "on", "export": "0", "custom_header_html": "<i>x</i>"}
    options = options_from_vars(lambda name: given.get(name, ""))
    assert options == RunOptions(modules=("stack_trie", "raw"), skip=("raw",), eager=True, plain_text=True,
                                 inductor_provenance=True, custom_header_html="<i>x</i>")
    assert options_from_vars(lambda name: "").modules is None  # no modules= means all


@pytest.mark.parametrize(("argv", "command"), [
    ([], "run"), (["out=x"], "run"), (["list", "--all", "out=x"], "list"), (["out=x", "list"], "list"),
    (["-f", "dodo.py", "list"], "list"), (["--dir", "d", "forget"], "forget"), (["parse"], "parse"),
])
def test_doit_command(argv: list[str], command: str) -> None:
    assert doit_command(argv) == command


def test_dodo_makes_out_only_for_commands_that_write(tmp_path: Path, modules: ModulesConfig) -> None:
    cfg = build_config(tmp_path / "t.log", tmp_path / "out", modules, RunOptions())
    listed = dodo_doit_config(cfg, ["list", "--all"])
    assert listed["dep_file"] == ":memory:" and not cfg.out.exists()
    ran = dodo_doit_config(cfg, ["log=t.log"])
    assert ran["dep_file"] == str(cfg.out / ".tlparse-doit.db") and cfg.out.is_dir()
    assert ran["default_tasks"] == ["parse", "module", "assemble"]
    (cfg.out / ".tlparse-doit.db").write_bytes(b"")
    assert dodo_doit_config(cfg, ["list"])["dep_file"] == str(cfg.out / ".tlparse-doit.db")  # for --status


def record(out: Path, module_id: str, files: list[str]) -> None:
    (out / ".modules").mkdir(parents=True, exist_ok=True)
    (out / ".modules" / f"{module_id}.json").write_bytes(orjson.dumps({"files": files}))


def test_clean_module_removes_only_what_its_record_lists(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for name in ("-_0_0_0/graph.txt", "data/m/0.js", "mine.txt", "-_0_0_0/mine.txt"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (out / "link").symlink_to(tmp_path)  # a planted link: ../outside.txt through it must survive
    record(out, "m", ["-_0_0_0/graph.txt", "data/m/0.js", "../outside.txt", "link/outside.txt", "/etc/hosts"])
    clean_module(str(out), "m")
    assert not (out / "-_0_0_0" / "graph.txt").exists() and not (out / "data").exists()
    assert not (out / ".modules").exists()  # the record went, and its empty folder
    assert (out / "mine.txt").read_text() == "x" and (out / "-_0_0_0" / "mine.txt").exists()
    assert outside.read_text() == "keep" and (out / "link").is_symlink()


def test_clean_dry_run_lists_and_keeps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "raw.log").write_text("x")
    record(out, "raw", ["raw.log"])
    clean_module(str(out), "raw", dryrun=True)
    assert capsys.readouterr().out.splitlines() == ["would remove raw.log", "would remove .modules/raw.json"]
    assert (out / "raw.log").exists()


def test_clean_parse_and_assemble(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "intermediate").mkdir(parents=True)
    for name in ("manifest.json", "index.jsonl", "parse_state.json", "notes.txt"):
        (out / "intermediate" / name).write_text("x")
    for name in ("index.html", "modules.js", "style.css", "custom.css"):
        (out / name).write_text("x")
    clean_parse(str(out))
    clean_assemble(str(out))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "custom.css", "intermediate", "intermediate/notes.txt"]


# -- what makes the parse up to date: the bytes it recorded reading, not a later checksum -------

APPENDED = entry({"artifact": {"name": "appended_as_the_parse_ended", "encoding": "string"}, **cid(7)}, "late")


def test_a_record_appended_as_the_parse_ends_is_parsed_by_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    original = parser.parse_log

    def parse_then_append(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        with open(log, "a") as handle:  # a writer appends just as the parser reached the end
            handle.write(APPENDED)
        return result

    monkeypatch.setattr(parser, "parse_log", parse_then_append)
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1"]) == 0
    assert "appended_as_the_parse_ended" not in (out / "compile_directory.json").read_text()
    monkeypatch.setattr(parser, "parse_log", original)
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1"]) == 0
    assert Outcome.last is not None and "parse" in Outcome.last.executed
    assert "appended_as_the_parse_ended" in (out / "compile_directory.json").read_text()
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1"]) == 0
    assert Outcome.last.executed == []  # and then it is up to date


def test_the_parse_is_up_to_date_only_for_the_bytes_it_read(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    out.mkdir()
    values = run_parse(str(log), str(out), {})
    assert log_parsed(None, values, str(log), str(out))
    assert log_parsed(None, {}, str(log), str(out))  # no stamp: the digest decides
    data = log.read_bytes()
    log.write_bytes(data.replace(b"forward", b"backwar"))  # same size, other bytes
    assert not log_parsed(None, {}, str(log), str(out))
    log.write_bytes(data + APPENDED.encode())
    assert not log_parsed(None, values, str(log), str(out))
    (out / "intermediate" / "manifest.json").unlink()
    assert not log_parsed(None, values, str(log), str(out))


def test_doit_looks_for_no_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """doit's plugin search reads every installed distribution's entry points, three times a
    run (doit_main.py): a report runs without it, and says so by building."""
    import doit.plugin

    searched: list[str] = []
    monkeypatch.setattr(doit.plugin, "entry_points", lambda **kw: searched.append(kw.get("group", "")) or [])
    log = write(tmp_path / "a.log", simple_log())
    assert main([str(log), "-o", str(tmp_path / "out"), "--no-browser"]) == 0
    assert (tmp_path / "out" / "index.html").is_file() and searched == []
