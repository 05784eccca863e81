"""doit's command line, as a report drives it: its `run` command only, without the plugin search.

doit looks for plugin commands, DB backends and reporters among the entry points of every
installed distribution, once for each kind, every time it starts: ~4 ms with the 50
distributions of our own environment, tens of ms in a machine-learning environment of several
hundred, all before a task runs. A report uses none of them: it runs `doit run` with the sqlite3
backend (tasks.doit_config) and hands doit its reporter object (run.py, multi_rank.py).
"""

from __future__ import annotations

from typing import Any

from doit.cmd_run import Run
from doit.dependency import SqliteDB
from doit.doit_cmd import DoitMain
from doit.plugin import PluginDict

BACKEND = "sqlite3"  # tasks.doit_config's


class ReportRun(Run):  # type: ignore[misc]  # doit ships no type hints
    """doit's `run`, with the one backend a report uses and no reporters by name."""

    name = "run"

    def get_backends(self) -> dict[str, Any]:
        return {BACKEND: SqliteDB}

    def get_reporters(self) -> dict[str, Any]:
        return {}


class ReportDoitMain(DoitMain):  # type: ignore[misc]
    """DoitMain whose only command is ReportRun; it reads no doit.cfg or pyproject either."""

    def __init__(self, task_loader: Any) -> None:
        super().__init__(task_loader, config_filenames=())

    def get_cmds(self) -> PluginDict:
        commands = PluginDict()
        commands[ReportRun.get_name()] = ReportRun
        return commands
