"""Processes through the real command line: a dead worker fails the run at once, no process
outlives the run, and the next run repairs the report (no --overwrite).

Each run starts in its own session, so "nothing left" means: no process in its process group.
A test-only module (written to tmp_path, loaded through --modules-config) records its pid and
waits until a release file appears, which gives the tests a worker that is surely rendering.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import TORCH_213, corpus_copy
from tests.fixture_modules import modules_yaml_with

REPO = Path(__file__).resolve().parents[1]
TRAINING = next((TORCH_213 / "02_training").glob("*.log"))
SHIPPED = ("stack_trie", "compilation_metrics", "compile_artifacts", "raw")
# Files that describe a run rather than the report.
RUN_STATE = {".tlparse-doit.db", "intermediate/parse_state.json"}
START_SECONDS = 60  # generous: a 2-core machine may be busy with other tests
EXIT_SECONDS = 5

TEST_MODULES = '''"""Modules for tests/test_processes.py only."""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from tlparse_tasks.module_api import ModuleContext, ModuleOutput


@dataclass
class Options:
    pid_file: str = ""
    release_file: str = ""


def wait_for_release(ctx: ModuleContext) -> ModuleOutput:
    """Say which process renders, then wait (at most 60 s) until the test releases it."""
    Path(ctx.options["pid_file"]).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not Path(ctx.options["release_file"]).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    ctx.write_text("released.txt", "released")
    return ModuleOutput()


def exit_at_once(ctx: ModuleContext) -> ModuleOutput:
    os._exit(3)


def say_processes(ctx: ModuleContext) -> ModuleOutput:
    """Say which process renders and its parent."""
    Path(ctx.options["pid_file"]).write_text(f"{os.getpid()} {os.getppid()}")
    ctx.write_text("said.txt", "said")
    return ModuleOutput()
'''


class Setup:
    """A copied log, a modules.yaml with shipped modules plus test modules, and helpers."""

    def __init__(self, tmp_path: Path, extra: list[dict[str, object]]) -> None:
        self.tmp = tmp_path
        self.log = corpus_copy(TRAINING, tmp_path)
        (tmp_path / "proc_test_modules.py").write_text(TEST_MODULES)
        config = yaml.safe_load(modules_yaml_with(*SHIPPED))
        config["modules"].extend(extra)
        self.config = tmp_path / "modules.yaml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.pid_file = tmp_path / "worker.pid"
        self.release = tmp_path / "release"
        self.env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}

    def args(self, out: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "tlparse_tasks", str(self.log), "-o", str(out), "--no-browser",
                "--modules-config", str(self.config), *extra]

    def start(self, out: Path, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.args(out, *extra), env=self.env, text=True, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.args(out, *extra), env=self.env, text=True, capture_output=True,
                              timeout=120)

    def rendering_pid(self, proc: subprocess.Popen[str]) -> int:
        """The pid of the process running the waiting module, once it runs."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.pid_file.exists() and self.pid_file.read_text():
                return int(self.pid_file.read_text())
            if proc.poll() is not None:
                raise AssertionError(f"the run ended first: {proc.communicate()}")
            time.sleep(0.02)
        raise AssertionError("the waiting module never started")


def waiting_module(setup_tmp: Path) -> dict[str, object]:
    return {"id": "waiter", "name": "Waiter", "entry": "proc_test_modules:wait_for_release",
            "subscriptions": ["manifest.json"], "strategy": "eager",
            "options": {"pid_file": str(setup_tmp / "worker.pid"), "release_file": str(setup_tmp / "release")}}


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path, [waiting_module(tmp_path)])
    yield made
    made.release.touch()  # never leave a waiting module behind, whatever the test did


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def wait_until_gone(pgid: int, seconds: float = EXIT_SECONDS) -> list[int]:
    deadline = time.monotonic() + seconds
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return group_members(pgid)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).as_posix() not in RUN_STATE}


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, float]:
    """Wait (bounded) for the run to end: its exit code, stderr and how long that took."""
    started = time.monotonic()
    try:
        _, err = proc.communicate(timeout=EXIT_SECONDS * 4)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("the run did not end") from None
    return proc.returncode, err, time.monotonic() - started


def test_a_killed_worker_fails_the_run_at_once_and_the_next_run_repairs_it(setup: Setup) -> None:
    out = setup.tmp / "out"
    proc = setup.start(out, "-j", "2")
    worker = setup.rendering_pid(proc)
    assert worker != proc.pid  # rendered in a worker process
    os.kill(worker, signal.SIGKILL)
    code, err, took = finish(proc)
    assert code == 1 and took < EXIT_SECONDS, (code, err, took)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"Error: a worker process (pid {worker}) died while running module:waiter")
    assert "killed by SIGKILL" in lines[0]
    assert wait_until_gone(proc.pid) == []

    setup.release.touch()
    again = setup.run(out, "-j", "2", "-v")
    assert again.returncode == 0, again.stderr
    assert "up to date: nothing" in again.stderr  # the interrupted run's DB is not trusted
    fresh = setup.run(setup.tmp / "fresh", "-j", "2")
    assert fresh.returncode == 0, fresh.stderr
    assert tree(out) == tree(setup.tmp / "fresh")


def test_a_module_that_exits_its_worker_fails_the_run_in_one_line(tmp_path: Path) -> None:
    exiter: dict[str, object] = {"id": "exiter", "name": "Exiter", "entry": "proc_test_modules:exit_at_once",
                                 "subscriptions": ["manifest.json"], "strategy": "eager"}
    assert_a_worker_dies(Setup(tmp_path, [exiter]), "module:exiter")


def assert_a_worker_dies(setup: Setup, task: str) -> None:
    """A run in which the process running `task` exits with code 3 fails at once, in one line
    naming it, and leaves no process behind."""
    proc = setup.start(setup.tmp / "out", "-j", "2")
    code, err, took = finish(proc)
    assert code == 1 and took < EXIT_SECONDS * 3, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: a worker process"), err
    assert f"died while running {task} (exited with code 3)" in lines[0]
    assert wait_until_gone(proc.pid) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_stopping_the_main_process_leaves_no_worker_behind(setup: Setup, sig: signal.Signals) -> None:
    out = setup.tmp / "out"
    proc = setup.start(out, "-j", "2")
    worker = setup.rendering_pid(proc)
    assert worker != proc.pid
    os.kill(proc.pid, sig)
    code, err, _ = finish(proc)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130), (code, err)
    if sig != signal.SIGKILL:
        assert err.strip() == "Error: interrupted"
    assert wait_until_gone(proc.pid) == []  # the worker went with it

    setup.release.touch()
    again = setup.run(out, "-j", "2")  # no --overwrite needed
    assert again.returncode == 0, again.stderr
    assert (out / "released.txt").read_text() == "released" and (out / "index.html").is_file()


def test_a_run_killed_midway_is_never_taken_as_up_to_date(setup: Setup) -> None:
    """Run 2 (--eager) rewrites most pages, then dies before doit records anything. Run 3 asks
    for the plain report again: doit's DB still describes run 1, which matches, so only the
    run journal can tell that the files on disk are run 2's."""
    out = setup.tmp / "out"
    setup.release.touch()
    assert setup.run(out, "-j", "1").returncode == 0
    setup.release.unlink()
    setup.pid_file.unlink()
    proc = setup.start(out, "-j", "1", "--eager")  # serial: the waiter is the last module task
    assert setup.rendering_pid(proc) == proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    finish(proc)
    setup.release.touch()
    again = setup.run(out, "-j", "1")
    assert again.returncode == 0, again.stderr
    fresh = setup.run(setup.tmp / "fresh", "-j", "1")
    assert fresh.returncode == 0, fresh.stderr
    assert tree(out) == tree(setup.tmp / "fresh")


def own_process_module(setup_tmp: Path, entry: str) -> dict[str, object]:
    """A test module costly enough (tasks.OWN_PROCESS_MIN_SECONDS on a 2 MB log) to run in a
    child of its worker."""
    return {"id": "costly", "name": "Costly", "entry": f"proc_test_modules:{entry}", "cost": 1000,
            "subscriptions": ["manifest.json"], "strategy": "eager",
            "options": {"pid_file": str(setup_tmp / "worker.pid"), "release_file": str(setup_tmp / "release")}}


def test_a_costly_task_runs_in_a_child_of_its_worker_and_its_outcome_comes_back(tmp_path: Path) -> None:
    """The parse and the costly module run in children of the workers (their heap goes with
    them); doit still gets each task's values, so the next run finds everything up to date."""
    setup = Setup(tmp_path, [own_process_module(tmp_path, "say_processes")])
    out = tmp_path / "out"
    proc = setup.start(out, "-j", "2", "-v")
    code, err, _ = finish(proc)
    assert code == 0, err
    pid, parent = (int(n) for n in setup.pid_file.read_text().split())
    assert proc.pid not in (pid, parent)  # not the main process, nor a worker (whose parent it is)
    assert (out / "said.txt").read_text() == "said"
    assert "ran: parse, " in err and "module:costly" in err
    again = setup.run(out, "-j", "2", "-v")
    assert again.returncode == 0 and "ran: nothing" in again.stderr, again.stderr  # the parse's values came back


def test_a_costly_task_whose_process_dies_fails_the_run_in_one_line(tmp_path: Path) -> None:
    setup = Setup(tmp_path, [own_process_module(tmp_path, "exit_at_once")])
    proc = setup.start(tmp_path / "out", "-j", "2")
    code, err, took = finish(proc)
    assert code == 1 and took < EXIT_SECONDS * 3, (code, err)
    lines = err.strip().splitlines()
    assert lines == ["Error: the process running module:costly died (exited with code 3)"], err
    assert wait_until_gone(proc.pid) == []


IMPORT_PROBE = '''"""Imported once per process that loads it: says which, in the file PROBE_FILE names."""

import os

from tlparse_tasks.module_api import ModuleContext, ModuleOutput

with open(os.environ["PROBE_FILE"], "a") as probe:
    probe.write(f"{os.getpid()}\\n")


def render(ctx: ModuleContext) -> ModuleOutput:
    ctx.write_text("rendered_by.txt", str(os.getpid()))
    return ModuleOutput()
'''


def probed_run(tmp_path: Path, name: str, source: str, *extra: str) -> tuple[Setup, Path, int, str, str]:
    """A build with the module `name:render` (its source `source`, told PROBE_FILE), then a
    second one with --overwrite: the setup, OUT, the second run's pid, its stderr and what the
    probe wrote in it."""
    probe = {"id": "probe", "name": "Probe", "entry": f"{name}:render", "cost": 1000,
             "subscriptions": ["manifest.json"], "strategy": "eager"}
    setup = Setup(tmp_path, [probe])
    (tmp_path / f"{name}.py").write_text(source)
    probe_file = tmp_path / "probe.txt"
    setup.env["PROBE_FILE"] = str(probe_file)
    out = tmp_path / "out"
    assert setup.run(out, "-j", "2").returncode == 0  # validates modules.yaml, so imports the probe
    probe_file.unlink()
    proc = setup.start(out, "-j", "2", "--overwrite", *extra)
    code, err, _ = finish(proc)
    assert code == 0, err
    return setup, out, proc.pid, err, probe_file.read_text()


def test_a_pool_finds_the_modules_loaded_by_the_process_it_forks_from(tmp_path: Path) -> None:
    """The main process loads the modules' code before the workers fork (loader.warm_up_for),
    so no worker or task process imports it again. The first run validates modules.yaml
    (which imports the entries too); the second takes the validated config from the cache."""
    _, out, pid, _, imports = probed_run(tmp_path, "proc_import_probe", IMPORT_PROBE)
    assert imports.split() == [str(pid)]  # once, in the main process
    assert int((out / "rendered_by.txt").read_text()) != pid  # and rendered in the pool


EARLY_PROBE = '''"""Imported by the main process's warm-up: says which processes it had started by then."""

import os
from pathlib import Path

from tlparse_tasks.module_api import ModuleContext, ModuleOutput


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


Path(os.environ["PROBE_FILE"]).write_text(" ".join(map(str, [os.getpid(), *children_of(os.getpid())])))


def render(ctx: ModuleContext) -> ModuleOutput:
    ctx.write_text("rendered_by.txt", f"{os.getpid()} {os.getppid()}")
    return ModuleOutput()
'''


def test_the_parse_runs_while_the_main_process_loads_the_modules(tmp_path: Path) -> None:
    """The parse needs none of the modules' code: it starts in a process of its own before the
    warm-up (forked by the CLI before doit, parse_ahead.py; else doit's early one, tasks.EARLY),
    and the workers that render the modules fork after it."""
    setup, out, pid, err, seen = probed_run(tmp_path, "proc_early_probe", EARLY_PROBE, "-v")
    main, *started = (int(n) for n in seen.split())
    assert main == pid and len(started) == 1, (main, started)  # one process before the warm-up
    rendered_by, worker = (int(n) for n in (out / "rendered_by.txt").read_text().split())
    assert started[0] not in (rendered_by, worker)  # and it rendered no module
    assert "ran: parse, " in err
    again = setup.run(out, "-j", "2", "-v")
    assert again.returncode == 0 and "ran: nothing" in again.stderr, again.stderr  # the parse's values came back


PARSE_EXITS = '''"""sitecustomize for one test: the parse ends its process with code 3."""

import os

import tlparse_tasks.parse.parser as parser


def exit_at_once(*args, **kwargs):
    os._exit(3)


parser.parse_log = exit_at_once
'''


def test_an_early_parse_whose_process_dies_fails_the_run_in_one_line(tmp_path: Path) -> None:
    setup = Setup(tmp_path, [])
    (tmp_path / "sitecustomize.py").write_text(PARSE_EXITS)
    assert_a_worker_dies(setup, "parse")


PARSE_WAITS = '''"""sitecustomize for one test: the parse says it started, then waits."""

import os
import time
from pathlib import Path

import tlparse_tasks.parse.parser as parser


def wait(*args, **kwargs):
    Path(os.environ["PARSE_STARTED"]).write_text(str(os.getpid()))
    time.sleep(60)


parser.parse_log = wait
'''


def test_killing_the_main_process_kills_the_parse_started_ahead(tmp_path: Path) -> None:
    """The parse forked before doit (parse_ahead.py) dies with the main process, as workers do:
    nothing goes on writing into OUT, or holds its lock, after a `kill -9`."""
    setup = Setup(tmp_path, [])
    (tmp_path / "sitecustomize.py").write_text(PARSE_WAITS)
    started = tmp_path / "parse_started.txt"
    setup.env["PARSE_STARTED"] = str(started)
    proc = setup.start(tmp_path / "out", "-j", "2")
    deadline = time.monotonic() + EXIT_SECONDS * 4
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started.exists() and int(started.read_text()) != proc.pid  # parsing, in a process of its own
    os.kill(proc.pid, signal.SIGKILL)
    code, _, _ = finish(proc)
    assert code == -signal.SIGKILL
    assert wait_until_gone(proc.pid) == []
