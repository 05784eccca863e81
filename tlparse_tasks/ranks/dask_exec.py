"""`--dask ADDRESS`: the per-rank tasks run on a Dask distributed cluster; doit stays the DAG.

doit still decides what is up to date and in which order tasks run, and records every result
in OUT's dependency DB. Only the actions of `rankN:*` tasks travel: each is a module-level
function with plain-data arguments (tasks.py), so a worker that has tlparse-tasks installed and
sees OUT and the logs at the same paths (a shared filesystem) runs it exactly as a local process
would, and the output is the same. The cross-rank modules and the landing page run locally.

`ADDRESS`: `local` or `local:N` starts a LocalCluster of N worker processes (default: one per
core, at most 4) for this run and stops it after; `tcp://host:port` joins a running scheduler.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from doit import cmd_run
from doit.exceptions import TaskError, TaskFailed
from doit.runner import MThreadRunner

from .. import gc_pause
from ..workers import _run_ended, db_not_saved

_LOCAL = re.compile(r"^local(?::([1-9][0-9]*))?$")
_REMOTE = re.compile(r"^(tcp|tls|ucx|inproc)://\S+$")
MAX_LOCAL_WORKERS = 4
MISSING = ("--dask needs the optional dask[distributed] package: "
           "pip install 'tlparse-tasks[dask]' (or pip install 'dask[distributed]')")


class DaskError(Exception):
    """Raised as a RunError's message by the caller."""


def check_address(address: str) -> None:
    """Refuse a malformed address or a missing Dask before anything is written."""
    from ..run import RunError

    if not (_LOCAL.match(address) or _REMOTE.match(address)):
        raise RunError(f"--dask {address}: expected local, local:N or tcp://host:port")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise RunError(MISSING) from None


def run_action(function: Any, args: list[Any], kwargs: dict[str, Any]) -> tuple[Any, str | None]:
    """On a worker: one doit Python action; (its values dict or None, a failure message)."""
    try:
        result = function(*args, **kwargs)
    except Exception as error:  # reported by the main process as the task's failure
        return None, f"{type(error).__name__}: {error}"
    if isinstance(result, TaskFailed | TaskError):
        return None, str(result.message)
    if result is False:
        return None, "the action returned False"
    return (result if isinstance(result, dict) else None), None


class DaskRunner(MThreadRunner):  # type: ignore[misc]  # doit ships no type hints
    """doit's thread runner whose threads hand `rankN:*` actions to Dask and wait for them."""

    client: ClassVar[Any] = None

    def execute_task(self, task: Any) -> Any:
        if not task.name.startswith("rank") or self.client is None:
            return super().execute_task(task)
        self.reporter.execute_task(task)
        task.executed = True
        for action in task.actions:
            future = self.client.submit(run_action, action.py_callable, list(action.args), dict(action.kwargs),
                                        pure=False, key=f"{task.name}-{os.urandom(4).hex()}")
            values, failure = future.result()
            if failure is not None:
                return TaskFailed(f"{task.name}: {failure}")
            if values:
                task.values.update(values)
                task.result = values
        return None

    def run_all(self, task_dispatcher: Any) -> int:
        import sqlite3

        self.loop_ended = False
        try:
            result = int(super().run_all(task_dispatcher))
        except sqlite3.Error as error:
            return db_not_saved(self, error)
        if self.loop_ended:
            _run_ended(self)
        return result

    def run_tasks(self, task_dispatcher: Any) -> None:
        gc_pause.resume()  # the start-up is over: tasks run in this process's threads
        super().run_tasks(task_dispatcher)
        self.loop_ended = True


def connect(address: str) -> tuple[Any, Any]:
    """(client, cluster or None): a LocalCluster for `local[:N]`, else the scheduler at `address`."""
    from distributed import Client, LocalCluster

    match = _LOCAL.match(address)
    if match is None:
        return Client(address), None  # type: ignore[no-untyped-call]
    workers = int(match.group(1)) if match.group(1) else min(MAX_LOCAL_WORKERS, os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,  # type: ignore[no-untyped-call]
                           dashboard_address=None)
    return Client(cluster), cluster  # type: ignore[no-untyped-call]


def slots(client: Any) -> int:
    """Tasks in flight at once: every worker thread of the cluster."""
    info = client.scheduler_info()
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))


@contextmanager
def dask_execution(address: str) -> Iterator[list[str]]:
    """Connect (or start a LocalCluster), put DaskRunner in doit's place; yields the `doit run`
    arguments. Everything is stopped on the way out."""
    client, cluster = connect(address)
    previous = cmd_run.MThreadRunner
    DaskRunner.client = client
    cmd_run.MThreadRunner = DaskRunner
    try:
        yield ["run", "-n", str(max(2, slots(client))), "-P", "thread"]
    finally:
        cmd_run.MThreadRunner = previous
        DaskRunner.client = None
        client.close()
        if cluster is not None:
            cluster.close()
