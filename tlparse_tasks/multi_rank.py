"""`--all-ranks-html`: one report per rank log in a directory, plus a landing page.

This is the legacy flow (rank discovery, per-rank reports in rank_N/, a landing page that links
them). Every rank is built from the same validated options as a single report (run.py), so
`--modules`, `--strict`, `-j`, `-e`, `-p`, `-i` and `--eager` apply to each. The cross-rank
diagnostics of legacy's landing page are not built yet.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .atomic import write_text
from .config import ModulesConfig
from .run import (
    RunError,
    RunOptions,
    build_config,
    build_report,
    check_options,
    check_out,
    exclusive_run,
    prepare_out,
    strict_error,
    summarize,
)
from .tasks import RunConfig

RANK_LOG = re.compile(r"^dedicated_log_torch_trace_rank_(\d+)(?:_.*)?\.log$")
LANDING_TEMPLATE = "multi_rank_index.html"


def discover_rank_logs(directory: Path) -> dict[int, Path]:
    """Rank number → log file, from the legacy file-name pattern (content is not consulted)."""
    ranks: dict[int, Path] = {}
    for path in sorted(directory.iterdir()):
        match = RANK_LOG.match(path.name)
        if match and path.is_file():
            ranks.setdefault(int(match.group(1)), path)
    return dict(sorted(ranks.items()))


def rank_configs(directory: Path, out: Path, modules: ModulesConfig, options: RunOptions) -> dict[int, RunConfig]:
    """One validated config per rank log, all from the same options (legacy order of checks)."""
    if not directory.is_dir():
        raise RunError(f"Input path {directory} must be a directory when using --all-ranks-html")
    if options.parse_only:
        raise RunError("--parse-only cannot be used with --all-ranks-html")
    check_options(modules, options)  # also when there is no rank log
    ranks = discover_rank_logs(directory)
    return {rank: build_config(log, out / f"rank_{rank}", modules, options) for rank, log in ranks.items()}


def run_all_ranks(directory: Path, out: Path, modules: ModulesConfig, options: RunOptions,
                  overwrite: bool, verbose: bool = False) -> Path:
    """Build every rank's report and the landing page; returns the landing page. OUT is locked
    for the whole run, and each rank's folder too, as for a single report."""
    configs = rank_configs(directory, out, modules, options)
    check_out(out, directory / ".all-ranks", overwrite)
    with exclusive_run(out, options.wait):
        return _build_all_ranks(directory, out, configs, modules, options, overwrite, verbose)


def _build_all_ranks(directory: Path, out: Path, configs: dict[int, RunConfig], modules: ModulesConfig,
                     options: RunOptions, overwrite: bool, verbose: bool) -> Path:
    prepare_out(out, directory / ".all-ranks", overwrite)  # legacy: before the no-logs error
    if not configs:
        raise RunError(f"No rank log files found in directory {directory}")
    problems: list[str] = []
    for rank, cfg in configs.items():
        print(f"Processing rank {rank} → {cfg.out}", flush=True)
        with exclusive_run(cfg.out, options.wait):
            outcome = build_report(cfg)
        summarize(cfg, outcome.manifest, verbose, sys.stderr)
        problem = strict_error(cfg, outcome.manifest)
        if problem:
            problems.append(f"rank {rank}: {problem}")
    landing = write_landing(out, list(configs), modules, options.custom_header_html)
    print(f"Multi-rank report generated under {out}\nIndividual pages: rank_*/index.html")
    if problems:
        raise RunError("; ".join(problems))
    return landing


def write_landing(out: Path, ranks: list[int], modules: ModulesConfig, custom_header_html: str) -> Path:
    """The landing page linking each rank's report."""
    from .render import jinja_env
    from .resources import template_dirs

    env = jinja_env(tuple(str(d) for d in template_dirs(modules.path.parent)))
    html = env.get_template(LANDING_TEMPLATE).render(ranks=ranks, custom_header_html=custom_header_html)
    write_text(out / "index.html", html)
    return out / "index.html"
