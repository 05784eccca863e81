"""The parse, started before doit: its task depends on nothing, and its work need not wait for the
command to import doit and build the tasks (~0.04 s on every run).

When the parse is sure to run (the log is not what the store was parsed from: another path, or
another size), the CLI forks a process that runs it at once (`parsing_ahead`), beside the rest of
the start-up. The parse task's action, when doit gets to it, takes that process's outcome
(`outcome`) instead of parsing: doit still runs the task, records its values and orders the
modules after it. A process that ended without an outcome (killed) leaves the store as any
interrupted parse does; the action then parses itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from . import gc_pause
from .fserrors import describe
from .orphans import die_with_parent

#: The parses started ahead, by their (log, OUT) as the parse task names them.
_STARTED: dict[tuple[str, str], Started] = {}


@dataclass
class Started:
    """A parse running in the process `pid`, which writes its outcome into `read_fd`'s pipe."""

    pid: int
    read_fd: int
    outcome: dict[str, Any] | None = None


class ParseCrashed(RuntimeError):
    """The parse started ahead failed with an error that is not about a file (a bug)."""


def parse_is_due(log: str, manifest: dict[str, Any] | None) -> bool:
    """True when the parse task cannot be up to date: no store yet, or one parsed from another
    log or from a log of another size (the parse task's own check, `actions.log_parsed`, says
    the same then, without needing doit's saved values)."""
    if manifest is None:
        return True
    try:
        source = manifest["source"]
        return bool(str(source["path"]) != os.path.realpath(log) or int(source["size"]) != os.stat(log).st_size)
    except (KeyError, TypeError, ValueError, OSError):
        return True


@contextlib.contextmanager
def parsing_ahead(log: str, out: str, parse: Callable[[], dict[str, Any]]) -> Iterator[None]:
    """Run `parse` (which returns the task's values) in a process forked now, for the parse
    task of (`log`, `out`) to take up (`outcome`) in this process or one forked from it. The
    process is waited for on the way out."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:  # no process to spare: the task parses as it would have
        os.close(read_fd)
        os.close(write_fd)
        yield
        return
    if pid == 0:  # the parse's own process
        os.close(read_fd)
        _run_and_exit(parse, write_fd, parent)
    os.close(write_fd)
    key = (log, out)
    started = _STARTED[key] = Started(pid, read_fd)
    try:
        yield
    finally:
        if _STARTED.get(key) is started:
            del _STARTED[key]
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(read_fd)


def _run_and_exit(parse: Callable[[], dict[str, Any]], write_fd: int, parent: int) -> None:
    """Parse, send the outcome, and leave without any of the parent's exit work (or die with
    the parent, as a pool's workers do)."""
    code = 1
    try:
        die_with_parent(parent)
        gc_pause.resume()
        try:
            outcome: dict[str, Any] = {"values": parse()}
        except OSError as error:  # the parse task's one-line failure (fserrors.one_line_errors)
            outcome = {"failed": describe(error)}
        except Exception:  # a bug: the task fails with its traceback, as it would have
            outcome = {"crashed": traceback.format_exc()}
        data = orjson.dumps(outcome)
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
        code = 0
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def started(log: str, out: str) -> bool:
    """A parse of (`log`, `out`) was started ahead in this run: the parse task is not up to date
    whatever the store says by now (it may have finished already), so that doit runs the task
    and records its values."""
    return (log, out) in _STARTED


def any_started() -> bool:
    """Some parse runs ahead: the pool needs no early process for it (workers.py)."""
    return bool(_STARTED)


def outcome(log: str, out: str) -> dict[str, Any] | None:
    """The outcome of the parse of (`log`, `out`) started ahead: {"values": …}, {"failed":
    message} or {"crashed": traceback}; None when none was started, or it ended without one."""
    started = _STARTED.get((log, out))
    if started is None:
        return None
    if started.outcome is None:
        chunks = []
        while chunk := os.read(started.read_fd, 1 << 16):
            chunks.append(chunk)
        try:
            started.outcome = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:  # it ended before it could say: killed
            return None
    return started.outcome
