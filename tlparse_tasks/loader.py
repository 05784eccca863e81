"""Driving doit in-process: our TaskLoader2 hands it the tasks of one RunConfig."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from doit.cmd_base import TaskLoader2
from doit.loader import generate_tasks as doit_generate_tasks
from doit.task import Task

from .actions import preload_modules
from .doit_main import ReportDoitMain
from .runconfig import RunConfig
from .tasks import doit_config, generate_tasks
from .workers import safe_runners

#: Declared templates under this folder are static assets, copied as they are (`write_static`):
#: the warm-up does not compile them as Jinja (highlight.js is not even valid Jinja).
STATIC_PREFIX = "static/"


class ReportTaskLoader(TaskLoader2):  # type: ignore[misc]  # doit ships no type hints
    """Loads the parse → modules → assemble tasks for one report."""

    def __init__(self, cfg: RunConfig, extra_config: dict[str, Any] | None = None,
                 task_dicts: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.extra_config = extra_config or {}
        self.task_dicts = task_dicts

    def setup(self, opt_values: dict[str, Any]) -> None:
        pass

    def load_doit_config(self) -> dict[str, Any]:
        """doit opens (and sqlite creates) the DB right after this: OUT is made here, on the
        path that runs tasks, never when a module is imported."""
        self.cfg.out.mkdir(parents=True, exist_ok=True)
        return {**doit_config(self.cfg), **self.extra_config}

    def load_tasks(self, cmd: Any, pos_args: list[str]) -> list[Task]:
        return tasks_for(self.cfg, self.task_dicts)


def tasks_for(cfg: RunConfig, task_dicts: list[dict[str, Any]] | None = None) -> list[Task]:
    """doit Task objects (from `task_dicts` when the caller made them already); module tasks
    become `module:<id>` under a `module` group."""
    dicts = (t for t in task_dicts) if task_dicts is not None else generate_tasks(cfg)  # doit takes generators only
    return list(doit_generate_tasks("tlparse", dicts))


def run_doit(cfg: RunConfig, argv: list[str], extra_config: dict[str, Any] | None = None,
             task_dicts: list[dict[str, Any]] | None = None) -> int:
    """`doit <argv>` over this report's tasks, with the safe runners (workers.py); never reads
    the user's doit.cfg/pyproject, nor looks for doit plugins (doit_main.py)."""
    with safe_runners(warm_up_for(cfg)):
        return int(ReportDoitMain(ReportTaskLoader(cfg, extra_config, task_dicts)).run(argv))


def warm_up_for(*cfgs: RunConfig) -> Callable[[], None]:
    """What a pool's workers should find loaded: the active modules' code and templates (of
    every config: the ranks' and the cross-rank one of an --all-ranks-html build)."""
    modules = [m for cfg in cfgs for m in cfg.active_modules()]
    entries = list(dict.fromkeys(m.entry for m in modules))
    templates = sorted({t for m in modules for t in m.templates if not t.startswith(STATIC_PREFIX)})
    return partial(preload_modules, entries, cfgs[0].template_dirs, templates)
