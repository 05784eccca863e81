"""One doit DAG for every rank: `rankN:parse` → `rankN:module:<id>` → `rankN:assemble`, then the
cross-rank modules (`module:<id>`) and `landing`.

Each rank's tasks are the single-report task creators' (tasks.py) on that rank's RunConfig, so
`--modules`, `--strict`, `-e`, `-i`, `-p` and `--eager` mean the same per rank, and renamed under
`rankN`. Modules of mode `multi_rank` are split by their `scope` option: `rank` modules run in
every rank's folder (and show on its index), `all` modules once over every rank's store. One
dependency DB (OUT/.tlparse-doit.db) holds every task, so a re-run redoes only what changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doit.cmd_base import TaskLoader2
from doit.loader import generate_tasks as doit_generate_tasks
from doit.task import Task
from doit.tools import config_changed

from .. import __version__
from ..config_types import ModuleSpec
from ..doit_main import ReportDoitMain
from ..loader import warm_up_for
from ..resources import template_path
from ..runconfig import DB_NAME, RunConfig, norm
from ..tasks import task_assemble, task_module, task_parse
from ..workers import safe_runners
from .discovery import rank_folder
from .landing import DIAGNOSTICS_FILE, LANDING_TEMPLATE, run_landing

MODE = "multi_rank"
#: Automatic parallelism never asks for more processes than this (as for one report).
MAX_AUTO_JOBS = 4


@dataclass
class RanksPlan:
    """Everything one `--all-ranks-html` build needs: the per-rank configs and the cross-rank part."""

    directory: Path
    root: RunConfig  # OUT itself, mode multi_rank: the cross-rank modules and the landing page
    ranks: dict[int, RunConfig]
    rank_specs: list[ModuleSpec] = field(default_factory=list)  # scope: rank
    cross_specs: list[ModuleSpec] = field(default_factory=list)  # scope: all

    @property
    def out(self) -> Path:
        return self.root.out


def scope_of(spec: ModuleSpec) -> str:
    return str(spec.options.get("scope", "all"))


def make_plan(directory: Path, root: RunConfig, ranks: dict[int, RunConfig]) -> RanksPlan:
    specs = [s for s in root.modules.for_mode(MODE) if s.id not in root.skipped]
    return RanksPlan(directory, root, ranks, [s for s in specs if scope_of(s) == "rank"],
                     [s for s in specs if scope_of(s) != "rank"])


def rank_task_name(rank: int, task: dict[str, Any]) -> dict[str, Any]:
    """`parse` → `rankN:parse`, module `x` → `rankN:module:x`, `assemble` → `rankN:assemble`."""
    basename = task["basename"]
    name = f"{basename}:{task['name']}" if "name" in task else basename
    return {**task, "basename": f"rank{rank}", "name": name}


def rank_tasks(rank: int, cfg: RunConfig, extra: list[ModuleSpec]) -> Iterator[dict[str, Any]]:
    """One rank's report: its own modules plus the per-rank modules of a multi-rank run."""
    modules = [*cfg.active_modules(), *extra]
    yield rank_task_name(rank, task_parse(cfg))
    for spec in modules:
        yield rank_task_name(rank, task_module(cfg, spec))
    yield rank_task_name(rank, task_assemble(cfg, modules))


def rank_files(spec: ModuleSpec) -> list[str]:
    """Files a cross-rank module reads from each rank's folder besides the store (its
    `rank_file` option, comma separated): per-rank modules write them, so they are file_deps."""
    return [f.strip() for f in str(spec.options.get("rank_file") or "").split(",") if f.strip()]


def cross_task(plan: RanksPlan, spec: ModuleSpec) -> dict[str, Any]:
    folders = {rank: cfg.out for rank, cfg in plan.ranks.items()}
    task = task_module(plan.root, spec, folders)
    extra = [norm(cfg.out / f) for cfg in plan.ranks.values() for f in rank_files(spec)]
    per_rank = [f"rank{rank}:module:{s.id}" for rank in plan.ranks for s in plan.rank_specs]
    return {**task, "file_dep": sorted({*task["file_dep"], *extra}), "task_dep": per_rank}


def landing_task(plan: RanksPlan) -> dict[str, Any]:
    """index.html from the cross-rank modules' records and diagnostics."""
    from ..module_api import record_path

    out = plan.out
    records = [norm(record_path(out, s.id)) for s in plan.cross_specs]
    template = template_path(LANDING_TEMPLATE, plan.root.modules.path.parent)
    if template is None:
        raise FileNotFoundError(f"template {LANDING_TEMPLATE} not found")
    folders = {rank: rank_folder(rank) for rank in plan.ranks}
    run = {"custom_header_html": plan.root.custom_header_html, "ranks": sorted(folders.items())}
    return {
        "basename": "landing",
        "doc": "the landing page: every rank's report and the cross-rank diagnostics",
        "actions": [(run_landing, [norm(out), records, run, plan.root.template_dirs])],
        "file_dep": [*records, norm(out / DIAGNOSTICS_FILE), norm(template)],
        "targets": [norm(out / "index.html")],
        "uptodate": [config_changed({"run": run, "version": __version__, "template": template.read_text("utf-8")})],
        "verbosity": 2,
    }


def generate_all(plan: RanksPlan) -> Iterator[dict[str, Any]]:
    for rank, cfg in plan.ranks.items():
        yield from rank_tasks(rank, cfg, plan.rank_specs)
    for spec in plan.cross_specs:
        yield cross_task(plan, spec)
    yield landing_task(plan)


def resolve_jobs(plan: RanksPlan) -> int:
    """`-j N` as given; automatic: one process per core (up to MAX_AUTO_JOBS)."""
    if plan.root.jobs > 0:
        return plan.root.jobs
    return max(1, min(MAX_AUTO_JOBS, os.cpu_count() or 1))


def doit_argv(plan: RanksPlan) -> list[str]:
    jobs = resolve_jobs(plan)
    return ["run", "-n", str(jobs), "-P", "process"] if jobs > 1 else ["run"]


def doit_config(plan: RanksPlan) -> dict[str, Any]:
    """One DB for every task. File dependencies are checked by timestamp and size, not md5: the
    store and the reports rewrite a file only when its bytes change (atomic.py), so a new mtime
    means new bytes (at worst a task re-runs), and a run over many ranks need not hash every
    store file once per subscribing module."""
    return {"backend": "sqlite3", "dep_file": norm(plan.out / DB_NAME), "verbosity": 2,
            "check_file_uptodate": "timestamp"}


class RanksTaskLoader(TaskLoader2):  # type: ignore[misc]  # doit ships no type hints
    """Hands doit the tasks of every rank and the cross-rank part."""

    def __init__(self, plan: RanksPlan, extra_config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.extra_config = extra_config or {}

    def setup(self, opt_values: dict[str, Any]) -> None:
        pass

    def load_doit_config(self) -> dict[str, Any]:
        self.plan.out.mkdir(parents=True, exist_ok=True)
        return {**doit_config(self.plan), **self.extra_config}

    def load_tasks(self, cmd: Any, pos_args: list[str]) -> list[Task]:
        return list(doit_generate_tasks("tlparse", generate_all(self.plan)))


def run_plan(plan: RanksPlan, argv: list[str], extra_config: dict[str, Any] | None = None) -> int:
    """`doit <argv>` over the whole DAG, with the safe runners (workers.py)."""
    with safe_runners(warm_up_for(*plan.ranks.values(), plan.root)):
        return int(ReportDoitMain(RanksTaskLoader(plan, extra_config)).run(argv))
