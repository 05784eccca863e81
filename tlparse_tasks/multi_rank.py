"""`--all-ranks-html`: one report per rank log in a directory, the cross-rank diagnostics and a
landing page, built as one doit DAG (ranks/dag.py).

Every rank is built from the same validated options as a single report (run.py), so
`--modules`, `--strict`, `-j`, `-e`, `-p`, `-i` and `--eager` apply to each; `-j N` runs ranks in
parallel and `--dask ADDRESS` runs the per-rank tasks on a Dask cluster (ranks/dask_exec.py).
OUT is locked for the whole run, and each rank's folder too, as for a single report.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson

from .atomic import write_bytes
from .config_types import ModulesConfig
from .lock import LockError, acquire, begin_run, release
from .ranks.dag import MODE, RanksPlan, doit_argv, make_plan, run_plan
from .ranks.discovery import discover_rank_logs, rank_folder
from .recycle import recycling
from .reporter import QuietReporter
from .run import (
    RunError,
    RunOptions,
    build_config,
    check_db_path,
    check_options,
    check_out,
    check_out_link,
    exclusive_run,
    open_db,
    prepare_out,
    strict_error,
    summarize,
)
from .runconfig import RunConfig, norm
from .safepath import check_no_links

#: Stands for the directory as "the log" of the root report (the run journal, OUT checks).
ALL_RANKS = ".all-ranks"
#: The root report's own record: which directory it is made from (re-runs update it in place).
RANKS_RECORD = "intermediate/ranks.json"
RUNTIME_ESTIMATIONS = "runtime_estimations.json"
COLLECTIVE_SCHEDULES = "collective_schedules.json"


def rank_configs(directory: Path, out: Path, modules: ModulesConfig, options: RunOptions) -> dict[int, RunConfig]:
    """One validated config per rank log, all from the same options (legacy order of checks)."""
    if not directory.is_dir():
        raise RunError(f"Input path {directory} must be a directory when using --all-ranks-html")
    if options.parse_only:
        raise RunError("--parse-only cannot be used with --all-ranks-html")
    check_options(modules, options)  # also when there is no rank log
    ranks = discover_rank_logs(directory)
    return {rank: build_config(log, out / rank_folder(rank), modules, options) for rank, log in ranks.items()}


def root_config(directory: Path, out: Path, modules: ModulesConfig, options: RunOptions) -> RunConfig:
    """OUT itself: the cross-rank modules and the landing page (mode multi_rank)."""
    return RunConfig(log=directory / ALL_RANKS, out=out, modules=modules, mode=MODE, eager=options.eager,
                     custom_header_html=options.custom_header_html, skipped=options.skip, jobs=options.jobs)


# -- OUT: a multi-rank report of the same directory is updated in place ---------------------------

def is_ranks_report_of(out: Path, directory: Path) -> bool:
    try:
        data = orjson.loads((out / RANKS_RECORD).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("directory") == str(directory.resolve())


def check_ranks_out(out: Path, directory: Path, overwrite: bool) -> None:
    if not overwrite and is_ranks_report_of(out, directory):
        check_out_link(out, overwrite)
        return
    check_out(out, directory / ALL_RANKS, overwrite)


def prepare_ranks_out(out: Path, directory: Path, overwrite: bool) -> None:
    """Legacy's rules (called with OUT locked, before the no-logs error), except that our own
    multi-rank report of this directory is updated."""
    if overwrite or not is_ranks_report_of(out, directory):
        prepare_out(out, directory / ALL_RANKS, overwrite)


def write_ranks_record(plan: RanksPlan) -> None:
    data = {"directory": str(plan.directory.resolve()),
            "ranks": {str(rank): str(cfg.log.resolve()) for rank, cfg in plan.ranks.items()}}
    write_bytes(plan.out / RANKS_RECORD, orjson.dumps(data, option=orjson.OPT_INDENT_2), root=plan.out)


# -- the run --------------------------------------------------------------------------------------

def run_all_ranks(directory: Path, out: Path, modules: ModulesConfig, options: RunOptions,
                  overwrite: bool, verbose: bool = False, dask: str | None = None) -> Path:
    """Build every rank's report, the cross-rank files and the landing page; returns the landing
    page. `dask`: the address of a Dask cluster for the per-rank tasks (ranks/dask_exec.py)."""
    configs = rank_configs(directory, out, modules, options)
    if dask is not None:
        from .ranks.dask_exec import check_address

        check_address(dask)
    check_ranks_out(out, directory, overwrite)
    with exclusive_run(out, options.wait):
        prepare_ranks_out(out, directory, overwrite)
        with recycling(out, sys.stderr):
            if not configs:
                raise RunError(f"No rank log files found in directory {directory}")
            check_no_links(out, [cfg.out for cfg in configs.values()])  # a rank folder is ours (safepath)
            plan = make_plan(directory, root_config(directory, out, modules, options), configs)
            for rank, cfg in configs.items():
                print(f"Processing rank {rank} → {cfg.out}", flush=True)
            with ExitStack() as locks:
                for cfg in configs.values():
                    locks.callback(release, _lock(cfg.out, options.wait))
                reporter = build_ranks(plan, dask)
    if verbose:
        print(f"ran: {', '.join(reporter.executed) or 'nothing'}; "
              f"up to date: {', '.join(reporter.uptodate) or 'nothing'}", file=sys.stderr)
    return finish(plan, verbose)


def _lock(out: Path, wait: bool) -> int:
    try:
        return acquire(out, wait)
    except LockError as error:
        raise RunError(str(error)) from None


def build_ranks(plan: RanksPlan, dask: str | None) -> QuietReporter:
    """One doit run over the whole DAG (OUT and every rank folder locked)."""
    write_ranks_record(plan)
    db = check_db_path(plan.root)
    begin_run(db, plan.root.log)
    open_db(db)
    reporter = QuietReporter(sys.stderr)
    extra: dict[str, Any] = {"reporter": reporter, "outfile": sys.stderr}
    if dask is None:
        code = run_plan(plan, doit_argv(plan), extra)
    else:
        from .ranks.dask_exec import dask_execution

        with dask_execution(dask) as argv:
            code = run_plan(plan, argv, extra)
    if reporter.errors:
        raise RunError(reporter.errors[0])
    if code != 0:
        raise RunError(f"building the report failed (doit exit code {code})")
    return reporter


def finish(plan: RanksPlan, verbose: bool) -> Path:
    """Legacy's closing lines: each rank's stats (stderr), the written files, then --strict."""
    problems: list[str] = []
    for rank, cfg in plan.ranks.items():
        manifest = orjson.loads(Path(norm(cfg.out / "intermediate" / "manifest.json")).read_bytes())
        summarize(cfg, manifest, verbose, sys.stderr)
        problem = strict_error(cfg, manifest)
        if problem:
            problems.append(f"rank {rank}: {problem}")
    for label, name in (("Runtime estimations", RUNTIME_ESTIMATIONS), ("Collective schedules", COLLECTIVE_SCHEDULES)):
        if (plan.out / name).is_file():
            print(f"{label}: {plan.out / name}")
    print(f"Multi-rank report generated under {plan.out}\nIndividual pages: rank_*/index.html", flush=True)
    if problems:
        raise RunError("; ".join(problems))
    return plan.out / "index.html"
