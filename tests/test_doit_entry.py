"""`doit log=… out=…` from the repository root, and adding a module without touching core code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.logs import simple_log, write

REPO = Path(__file__).resolve().parents[1]
DOIT = [sys.executable, "-m", "doit"]


def doit(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([*DOIT, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_doit_builds_a_report_from_the_repo_root(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    result = doit(f"log={log}", f"out={out}")
    assert result.returncode == 0, result.stderr
    assert (out / "index.html").is_file() and (out / "compile_directory.json").is_file()
    assert (out / ".tlparse-doit.db").is_file()  # the dependency DB lives in OUT
    again = doit(f"log={log}", f"out={out}")
    assert again.returncode == 0
    assert "-- module:stack_trie" in again.stdout and ".  module:stack_trie" not in again.stdout


def test_doit_in_parallel_finishes_its_run_journal(tmp_path: Path) -> None:
    """`doit -n 2` runs through tlparse_tasks.workers' runner, which closes the run journal."""
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    result = doit("-n", "2", "-P", "process", f"log={log}", f"out={out}")
    assert result.returncode == 0, result.stderr
    assert (out / "index.html").is_file()
    assert sorted(p.name for p in out.glob(".tlparse*")) == [".tlparse-doit.db", ".tlparse.lock"]
    again = doit("-n", "2", "-P", "process", f"log={log}", f"out={out}")
    assert again.returncode == 0 and "-- module:stack_trie" in again.stdout  # trusted: up to date


def test_doit_list_shows_the_module_tasks(tmp_path: Path) -> None:
    result = doit("list", "--all", f"out={tmp_path / 'out'}")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert {"parse", "module:stack_trie", "module:compile_directory", "assemble"} <= set(names)


def test_doit_task_selection(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    result = doit(f"log={log}", f"out={out}", "modules=stack_trie")
    assert result.returncode == 0, result.stderr
    assert "Compile directory" not in (out / "index.html").read_text()


def test_doit_list_writes_nothing(tmp_path: Path) -> None:
    """Listing reads: no OUT, no dependency DB, not even the default `tl_out` of the working dir."""
    for args in (["list"], ["list", "--all", f"out={tmp_path / 'out'}"], ["out=" + str(tmp_path / "o2"), "list"]):
        result = doit("-f", str(REPO / "dodo.py"), *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "assemble" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_doit_forget_without_a_task_name_forgets_the_report(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    assert doit(f"log={log}", f"out={out}").returncode == 0
    forget = doit("forget", f"log={log}", f"out={out}")
    assert forget.returncode == 0, forget.stderr
    assert "forgetting module:stack_trie" in forget.stdout
    again = doit(f"log={log}", f"out={out}")
    assert ".  module:stack_trie" in again.stdout and ".  assemble" in again.stdout  # ran again


def test_doit_clean_removes_what_the_report_wrote_and_nothing_else(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    assert doit(f"log={log}", f"out={out}").returncode == 0
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"index.html", "modules.js", "style.css", "compile_directory.json", "raw.jsonl",
            "intermediate/manifest.json", ".modules/raw.json"} <= written
    (out / "notes.txt").write_text("mine")
    (out / "-_0_0_0" / "mine.txt").write_text("mine too")
    result = doit("clean", f"log={log}", f"out={out}")
    assert result.returncode == 0, result.stderr
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert left == ["-_0_0_0", "-_0_0_0/mine.txt", ".tlparse-doit.db", ".tlparse.lock", "notes.txt"]
    rebuilt = doit(f"log={log}", f"out={out}")
    assert rebuilt.returncode == 0 and (out / "index.html").is_file()


def test_doit_refuses_an_unknown_module_in_one_line(tmp_path: Path) -> None:
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    for var in ("modules=nosuch", "skip=nosuch"):
        result = doit(f"log={log}", f"out={out}", var)
        assert result.returncode != 0
        assert result.stderr.strip() == "ERROR: unknown module `nosuch` (see tlparse --list-modules)"
    assert not out.exists()


NEW_MODULE = '''"""A module added by a user: counts compile ids."""

from tlparse_tasks.module_api import IndexEntry, ModuleContext, ModuleOutput


def render(ctx: ModuleContext) -> ModuleOutput:
    count = len(ctx.manifest["compile_ids"])
    ctx.write_text("compile_id_count.txt", str(count))
    html = ctx.render("compile_count.html", count=count)
    return ModuleOutput(index_entries=[IndexEntry(section="compile_count", title="Compile count", html=html)])
'''
NEW_ENTRY = """
  - id: compile_count
    name: Compile count
    entry: extra_modules.compile_count:render
    subscriptions: [manifest.json]
    strategy: eager
    templates: [compile_count.html]
"""


def test_a_module_is_one_yaml_entry_plus_one_python_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    ignore = shutil.ignore_patterns(".venv", ".legacy-venv", ".git", "tl_out", "__pycache__", ".pytest_cache")
    shutil.copytree(REPO, repo, ignore=ignore)
    (repo / "extra_modules").mkdir()
    (repo / "extra_modules" / "__init__.py").write_text("")
    (repo / "extra_modules" / "compile_count.py").write_text(NEW_MODULE)
    (repo / "templates" / "compile_count.html").write_text("<p>{{ count }} compile ids</p>\n")
    with open(repo / "modules.yaml", "a") as handle:
        handle.write(NEW_ENTRY)
    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    result = doit(f"log={log}", f"out={out}", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert (out / "compile_id_count.txt").read_text() == "1"
    assert "<p>1 compile ids</p>" in (out / "index.html").read_text()
    listed = doit("list", f"out={out}", cwd=repo).stdout
    assert "module" in listed
    assert "module:compile_count" in doit("list", "--all", f"out={out}", cwd=repo).stdout


def test_doit_removes_what_a_killed_overwrite_left_to_reuse(tmp_path: Path) -> None:
    """`tlparse --overwrite` puts the old report in OUT's pool (recycle); a run killed before
    the end leaves it. doit does not reuse it, but does not leave it lying either."""
    from tlparse_tasks.recycle import POOL_NAME, retire

    log = write(tmp_path / "t.log", simple_log())
    out = tmp_path / "out"
    assert doit(f"log={log}", f"out={out}").returncode == 0
    retire(out, keep=frozenset({".tlparse.lock"}))
    result = doit(f"log={log}", f"out={out}")
    assert result.returncode == 0, result.stderr
    assert not (out / POOL_NAME).exists() and (out / "index.html").is_file()
