"""doit's runners, made safe for a report build: no hang, no orphan, no DB trusted too early.

doit's `MRunner` waits on its result queue with no timeout, so a worker killed mid-task (by
`kill -9` or the kernel's out-of-memory killer) leaves the main process waiting forever, and a
killed main process leaves its workers running. `SafeMRunner` keeps doit's scheduling and adds:

- workers die with the main process (`PR_SET_PDEATHSIG`), ignore Ctrl-C (the main process stops
  them) and take SIGTERM's default action;
- the main process polls its result queue and checks its workers; one that died fails the run
  at once, through doit's own runtime-error path, with a one-line message naming the task;
- whatever ends the run (an error, Ctrl-C, SIGTERM), the workers are stopped and reaped;
- a task with a working set (`meta` OWN_PROCESS: the parse and every module with a declared
  cost, when the bytes the run will read make it last: tasks.task_meta) runs in a child of its
  worker, forked for it: CPython keeps most of a heap it has grown, so run in the worker
  itself, its 4-20 MB would stay there under every later task (on 11_large this took the
  tree's peak PSS from ~84 to ~69 MB, for a few milliseconds per fork; a re-run after an
  append forks none);
- the workers fork after the main process has loaded the modules' code (the warm-up), but a
  first task that needs none of it (`meta` EARLY: the parse) does not wait for that: it starts
  at once in a process of its own, which exits after it, and the warm-up runs meanwhile.

Both runners end the run journal (lock.end_run) only when their task loop ended normally with
every task done, after doit has written its DB. `safe_runners()` puts them in place of doit's
for one in-process run; dodo.py calls `install()` for its doit process.
"""

from __future__ import annotations

import gc
import os
import pickle
import queue
import signal
import sqlite3
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing import Queue as ProcessQueue
from multiprocessing import SimpleQueue
from pathlib import Path
from typing import Any

from doit import cmd_run
from doit.exceptions import InvalidTask, TaskFailed
from doit.runner import ERROR, MRunner, Runner

from . import gc_pause, parse_ahead
from .lock import end_run
from .orphans import die_with_parent
from .tasks import COST, EARLY, OWN_PROCESS

#: How often the main process looks at its workers while it waits for a result (seconds).
POLL_SECONDS = 0.2
#: How long stopped workers get to exit before they are killed (seconds).
STOP_GRACE_SECONDS = 2.0


class WorkerDied(InvalidTask):  # type: ignore[misc]  # doit ships no type hints
    """A worker process died. doit's run_all reports an InvalidTask as a runtime error (one
    message, no traceback) and still writes its DB, which is why this derives from it."""


def _run_ended(runner: Runner) -> None:
    """The task loop ended normally and doit wrote its DB: the journal may close."""
    name = getattr(runner.dep_manager, "name", None)
    if isinstance(name, str) and name != ":memory:":
        end_run(Path(name))


def db_not_saved(runner: Runner, error: Exception) -> int:
    """doit could not write its DB: one line through the reporter (fserrors' format). The run
    journal stays open, so the next run redoes every task."""
    name = getattr(runner.dep_manager, "name", "?")
    runner.reporter.runtime_error(f"cannot write the dependency DB {name}: {error}")
    return int(ERROR)


def run_all_journaled(runner: Runner, run_all: Callable[[Any], Any], task_dispatcher: Any) -> int:
    """A runner's `run_all` (doit's, given as `run_all`) that ends the run journal only when the
    task loop ended normally with every task done and doit wrote its DB."""
    runner.loop_ended = False  # run_tasks sets it when its loop ends normally
    try:
        result = int(run_all(task_dispatcher))
    except sqlite3.Error as error:  # writing the DB at the end failed (a full disk)
        return db_not_saved(runner, error)
    if runner.loop_ended and result == 0:  # a failed task leaves half a report: keep the journal
        _run_ended(runner)
    return result


class SafeRunner(Runner):  # type: ignore[misc]
    """doit's serial runner, closing the run journal only after a normal end."""

    def run_all(self, task_dispatcher: Any) -> int:
        return run_all_journaled(self, super().run_all, task_dispatcher)

    def run_tasks(self, task_dispatcher: Any) -> None:
        gc_pause.resume()  # the start-up is over: the tasks run here
        super().run_tasks(task_dispatcher)
        self.loop_ended = True


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (", perhaps out of memory" if -code == signal.SIGKILL else "")
    return f"exited with code {code}"


class WatchedQueue:
    """The runner's queues. In the main process `get()` waits in short slices and checks the
    workers in between."""

    def __init__(self, runner: SafeMRunner) -> None:
        self.runner = runner
        self.inner: Any = ProcessQueue()

    def put(self, item: Any) -> None:
        if item is None:
            self.runner.stops_sent += 1  # a worker will exit normally on this
        self.inner.put(item)

    def get(self) -> Any:
        if os.getpid() != self.runner.main_pid:
            return self.inner.get()
        while True:
            try:
                item = self.inner.get(timeout=POLL_SECONDS)
            except queue.Empty:
                self.runner.check_workers()
                continue
            if isinstance(item, dict) and "reporter" not in item and "name" in item:
                self.runner.task_finished(item["name"])
            return item

    def empty(self) -> bool:
        return bool(self.inner.empty())

    def cancel_join_thread(self) -> None:
        self.inner.cancel_join_thread()


class QueueSlot:
    """A place in doit's count of worker processes that no process takes: doit then keeps one
    job more in the queue than the workers can take (see SafeMRunner._run_start_processes).
    doit only joins it and, when a run fails, terminates it."""

    pid = None
    exitcode = 0

    def join(self, timeout: float | None = None) -> None:
        """Nothing runs here."""

    def terminate(self) -> None:
        """Nothing runs here."""


class SafeMRunner(MRunner):  # type: ignore[misc]
    """doit's multiprocessing runner that notices dead workers and leaves none behind."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.main_pid = os.getpid()
        self.workers: list[Any] = []
        self.queues: list[WatchedQueue] = []
        self.stops_sent = 0
        self.running: dict[int, str] = {}  # worker pid → the task it started last
        self.early: Any = None  # the process running the first task before the warm-up, if any
        self.early_jobs: Any = None  # its queue, kept until the run ends
        self.one_task = False  # in that process: run the task here, then exit
        # workers note each task they start here: written at once, unlike a Queue's put (its
        # feeder thread may not have sent it when a module kills its process)
        self.notes: Any = SimpleQueue()

    def Queue(self) -> WatchedQueue:  # doit's name for its queue factory
        watched = WatchedQueue(self)
        self.queues.append(watched)
        return watched

    # -- main process ------------------------------------------------------------------------

    def _run_start_processes(self, job_q: Any, result_q: Any) -> list[Any]:
        """Fork the workers, after the warm-up (safe_runners): what it loads (the modules' code
        and templates) is then shared by every worker and task process instead of being
        loaded again, privately, by each. Objects alive now are moved out of the garbage
        collector's reach first: a collection in a worker writes into every tracked object's
        header, copying the pages it shares with this process (gc.freeze).

        A first task that needs none of that (EARLY: the parse) starts before the warm-up, in
        a process of its own with a queue of its own (`start_early`). doit counts that process
        as one more worker: as it takes no further job, one job more than the free workers can
        take waits in the queue, and one stop message is left over at the end. A parse the CLI
        started ahead of doit (parse_ahead.py) needs no such process: the first worker takes
        its outcome, and a `QueueSlot` stands in for the early process, so that a job waits in
        the queue all the same: a worker that ends a task takes the next at once, instead of
        waiting for this process to record the task it ended (~1 ms, 8 times a worker in a
        re-run after an append)."""
        first = self.get_next_job(None)
        if _warm_up is not None and first is not None:
            task = self.tasks.get(getattr(first, "name", None))
            if task is not None and (task.meta or {}).get(EARLY) and not parse_ahead.any_started():
                self.early = self.start_early(first, result_q)
                first = self.get_next_job(None)
            _warm_up()
        gc.freeze()
        try:
            self.workers = self.start_workers(first, job_q, result_q)
        finally:
            gc.unfreeze()
            gc_pause.resume()  # the start-up is over here; each worker resumes for itself
        if self.early is not None:
            self.workers.insert(0, self.early)
            return self.workers
        ahead = self.get_next_job(None) if self.workers else None
        if ahead is None:
            return self.workers
        job_q.put(ahead)  # a job (or a hold) for the queue slot
        return [*self.workers, QueueSlot()]

    def start_workers(self, first: Any, job_q: Any, result_q: Any) -> list[Any]:
        """doit's own start: a worker per process wanted, each with a job (`first`, then the
        next ones; a hold when none is ready), no more workers than jobs."""
        workers = []
        job = first
        for _ in range(self.num_process):
            if job is None:
                break
            job_q.put(job)
            worker = self.Child(target=self.execute_task_subprocess, args=(job_q, result_q, self.reporter.__class__))
            worker.start()
            workers.append(worker)
            job = self.get_next_job(None) if len(workers) < self.num_process else None
        return workers

    def start_early(self, job: Any, result_q: Any) -> Any:
        """A process that runs `job` (in itself: it exits after it) and sends doit its result."""
        own = self.early_jobs = ProcessQueue()
        own.put(job)
        own.put(None)
        process = self.Child(target=self.execute_one_task, args=(own, result_q, self.reporter.__class__))
        process.start()
        return process

    def read_notes(self) -> None:
        while not self.notes.empty():
            pid, name = self.notes.get()
            self.running[pid] = name

    def task_finished(self, name: str) -> None:
        self.read_notes()
        self.running = {pid: task for pid, task in self.running.items() if task != name}

    def check_workers(self) -> None:
        """Fail the run if more workers ended than were told to stop (the early process stops
        by itself, after sending its result)."""
        ended = [w for w in self.workers if w.exitcode is not None and not (w is self.early and w.exitcode == 0)]
        if len(ended) <= self.stops_sent:
            return
        self.read_notes()
        dead = next((w for w in ended if w.exitcode != 0), ended[0])
        task = self.running.get(dead.pid)
        doing = f"while running {task}" if task else "between tasks"
        self.stop_workers()
        raise WorkerDied(f"a worker process (pid {dead.pid}) died {doing} ({describe_exit(dead.exitcode)}); "
                         "the report is incomplete: run the same command again to finish it")

    def stop_workers(self) -> None:
        """SIGTERM every worker, SIGKILL those still there after a grace period, reap all."""
        for worker in self.workers:
            if worker.exitcode is None:
                worker.terminate()
        for worker in self.workers:
            worker.join(STOP_GRACE_SECONDS)
            if worker.exitcode is None:
                worker.kill()
                worker.join()
        for watched in self.queues:  # unread items must not hold up this process's exit
            watched.cancel_join_thread()

    def run_tasks(self, task_dispatcher: Any) -> None:
        try:
            super().run_tasks(task_dispatcher)
        except BaseException:
            self.stop_workers()
            raise
        self.loop_ended = True

    def _run_tasks_init(self, task_dispatcher: Any) -> None:
        """doit queues tasks as they become ready (once the parse ends, in a set's order);
        each time it does, the costliest go first (the tasks' `meta` cost, tasks.COST), so no
        worker is left running a big module alone at the end."""
        super()._run_tasks_init(task_dispatcher)
        update_waiting = task_dispatcher._update_waiting

        def update_then_order(processed: Any) -> None:
            update_waiting(processed)
            costliest_first(task_dispatcher.ready)

        task_dispatcher._update_waiting = update_then_order

    def run_all(self, task_dispatcher: Any) -> int:
        return run_all_journaled(self, super().run_all, task_dispatcher)

    # -- worker process ----------------------------------------------------------------------

    def execute_task_subprocess(self, job_q: Any, result_q: Any, reporter_class: Any) -> None:
        die_with_parent(self.main_pid)
        gc_pause.resume()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process; it stops us
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        super().execute_task_subprocess(job_q, result_q, reporter_class)

    def execute_one_task(self, job_q: Any, result_q: Any, reporter_class: Any) -> None:
        """The early process: its queue holds one job, then the stop."""
        self.one_task = True
        self.execute_task_subprocess(job_q, result_q, reporter_class)

    def execute_task(self, task: Any) -> Any:
        if os.getpid() != self.main_pid:  # tell the main process which task this worker runs
            self.notes.put((os.getpid(), task.name))
            if (task.meta or {}).get(OWN_PROCESS) and not self.one_task:  # the early process exits after it
                return self.execute_in_child(task)
        return super().execute_task(task)

    def execute_in_child(self, task: Any) -> Any:
        """Run `task` as doit's `execute_task` does, but in a child of this worker, which hands
        back what the worker would send on (the failure, the task's values, the actions'
        output) and exits: the heap the task grew goes with it. A child that dies is this task's
        failure, in one line."""
        if task.teardown:
            self.teardown_list.append(task)
        self.reporter.execute_task(task)
        sys.stdout.flush()
        sys.stderr.flush()
        read_end, write_end = os.pipe()
        worker = os.getpid()
        gc.freeze()  # a collection in the child must not copy the pages it shares with us
        try:
            child = os.fork()
        finally:
            gc.unfreeze()
        if child == 0:  # pragma: no cover  # the child's coverage ends with os._exit
            os.close(read_end)
            _run_and_exit(task, self.stream, worker, write_end)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(child, 0)
        if not data:  # one line, as a dead worker is reported
            return TaskFailed(f"the process running {task.name} died "
                              f"({describe_exit(os.waitstatus_to_exitcode(status))})")
        failure, state, outs, errs = pickle.loads(data)
        task.update_from_pickle(state)
        for action, out, err in zip(task.actions, outs, errs, strict=False):  # none when the outcome did not pickle
            action.out, action.err = out, err
        return failure


def _run_and_exit(task: Any, stream: Any, worker: int, write_end: int) -> None:
    """In a worker's child: run the task, write its outcome to `write_end` (pickled, as doit's
    result queue carries it) and exit without running the worker's exit handlers."""
    code = 1
    try:
        die_with_parent(worker)
        failure = task.execute(stream)
        try:
            data = pickle.dumps((failure, task.pickle_safe_dict(), [a.out for a in task.actions],
                                 [a.err for a in task.actions]))
        except Exception as error:  # a value or an exception that does not pickle
            data = pickle.dumps((TaskFailed(f"{task.name}: its outcome cannot be sent back ({error})"), {}, [], []))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def costliest_first(ready: deque[Any]) -> None:
    """Reorder doit's queue of ready nodes by their task's cost, highest first (stable)."""
    if len(ready) > 1:
        ordered = sorted(ready, key=lambda node: -float((node.task.meta or {}).get(COST, 0)))
        ready.clear()
        ready.extend(ordered)


def install() -> tuple[Any, Any]:
    """Make doit's `run` command use the safe runners; returns the ones it replaced."""
    previous = (cmd_run.Runner, cmd_run.MRunner)
    cmd_run.Runner, cmd_run.MRunner = SafeRunner, SafeMRunner
    return previous


@contextmanager
def safe_runners(warm_up: Callable[[], None] | None = None) -> Iterator[None]:
    """The safe runners for the body (one in-process doit run). `warm_up` runs in the main
    process just before a pool's workers fork (SafeMRunner._run_start_processes)."""
    global _warm_up
    previous = install()
    _warm_up = warm_up
    try:
        yield
    finally:
        cmd_run.Runner, cmd_run.MRunner = previous
        _warm_up = None


_warm_up: Callable[[], None] | None = None


