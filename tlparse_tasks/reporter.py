"""The doit reporter of our runs: quiet like legacy, keeping what ran for `-v`."""

from __future__ import annotations

from typing import Any, TextIO

from doit.exceptions import TaskFailed
from doit.reporter import ErrorOnlyReporter


class QuietReporter(ErrorOnlyReporter):  # type: ignore[misc]  # doit ships no type hints
    """Legacy prints nothing per step; we keep the task outcomes for `-v` (run.Outcome)."""

    def __init__(self, outstream: TextIO, options: dict[str, Any] | None = None) -> None:
        super().__init__(outstream, options or {})
        self.executed: list[str] = []
        self.uptodate: list[str] = []
        self.errors: list[str] = []  # doit's runtime errors (e.g. a worker died): one line each

    def runtime_error(self, msg: str) -> None:
        self.errors.append(" ".join(msg.split()))

    def add_failure(self, task: Any, fail: Any) -> None:
        """A failure an action reported in one line (a filesystem error, fserrors) is kept as
        an error of the run; any other keeps doit's report, traceback included."""
        if isinstance(fail, TaskFailed) and not fail.traceback:
            self.errors.append(" ".join(str(fail.message).split()))
        else:
            super().add_failure(task, fail)

    def execute_task(self, task: Any) -> None:
        if task.actions:
            self.executed.append(task.name)

    def skip_uptodate(self, task: Any) -> None:
        if task.actions:
            self.uptodate.append(task.name)
