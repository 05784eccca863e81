"""What the `tlparse` command does once it has read its arguments (cli.py): one report, a folder
of ranks, or the list of modules, with legacy's closing behaviour and one-line errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config_cache import load_config_cached
from .config_types import ConfigError, ModulesConfig
from .fserrors import describe
from .recycle import recycling
from .resources import default_modules_yaml
from .run import (
    RunError,
    RunOptions,
    already_built,
    build_config,
    build_report,
    check_out,
    exclusive_run,
    prepare_out,
    split_names,
    strict_error,
    summarize,
)
from .terminal import printable

__all__ = ["run_command"]


def run_command(args: argparse.Namespace) -> int:
    """The command's work and exit status; a RunError or a filesystem failure is one line."""
    try:
        config = load_modules(args.modules_config)
        if args.list_modules:
            print(list_modules(config))
            return 0
        if args.all_ranks_html:
            return run_ranks(args, config)
        if args.dask is not None:
            raise RunError("--dask needs --all-ranks-html (it runs the per-rank tasks on a cluster)")
        return run_report(args, config)
    except RunError as error:
        print(f"Error: {printable(str(error))}", file=sys.stderr)
        return 1
    except OSError as error:  # a read-only or full disk, a permission, a planted link: one line
        print(f"Error: {printable(describe(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130


def options_from_args(args: argparse.Namespace) -> RunOptions:
    """The run options the flags ask for (validated later, by run.build_config)."""
    return RunOptions(
        modules=split_names(args.modules) if args.modules is not None else None,
        skip=split_names(args.skip_modules), export=args.export, plain_text=args.plain_text,
        inductor_provenance=args.inductor_provenance, eager=args.eager,
        custom_header_html=args.custom_header_html, strict=args.strict,
        strict_compile_id=args.strict_compile_id, jobs=args.jobs, parse_only=args.parse_only,
        wait=not args.no_wait,
    )


def resolve_log(path: str | None, latest: bool) -> Path:
    if path is None:
        raise RunError("the log path is missing (usage: tlparse LOG [-o OUT])")
    given = Path(path)
    if latest:
        if not given.is_dir():
            raise RunError(f"Input path {path} is not a directory (required when using --latest)")
        try:
            files = [p for p in given.iterdir() if p.is_file()]
        except OSError as error:
            raise RunError(f"Couldn't access directory {path}: {error.strerror}") from None
        if not files:
            raise RunError(f"No files found in directory {path}")
        return max(files, key=lambda p: (p.stat().st_mtime, p.name))
    if not given.exists():
        raise RunError(f"{path}: no such file")
    if given.is_dir():
        raise RunError(f"{path} is not a file (pass --latest to parse the newest log in it)")
    if not given.is_file():
        raise RunError(f"{path} is not a file")
    try:
        with open(given, "rb") as handle:
            handle.read(1)
    except OSError as error:
        raise RunError(f"cannot read {path}: {error.strerror}") from None
    return given


def load_modules(path: str | None) -> ModulesConfig:
    try:
        return load_config_cached(Path(path) if path else default_modules_yaml())
    except ConfigError as error:
        raise RunError(str(error)) from None


def list_modules(config: ModulesConfig) -> str:
    rows = [f"{'id':<22} {'strategy':<8} {'modes':<24} subscriptions"]
    for m in config.modules:
        rows.append(f"{m.id:<22} {m.strategy:<8} {','.join(m.modes):<24} {', '.join(m.subscriptions)}")
    return "\n".join(rows)


def run_report(args: argparse.Namespace, config: ModulesConfig) -> int:
    """One log → one report; legacy's closing behaviour: stats, strict checks, then the browser."""
    log = resolve_log(args.path, args.latest)
    options = options_from_args(args)
    cfg = build_config(log, Path(args.out), config, options)
    check_out(cfg.out, log, args.overwrite)  # refuse a foreign OUT before the lock writes into it
    with exclusive_run(cfg.out, options.wait):  # one run per OUT, for the whole run
        prepare_out(cfg.out, log, args.overwrite)
        with recycling(cfg.out, sys.stderr):
            outcome = already_built(cfg) or build_report(cfg)
    if args.verbose:
        print(f"ran: {', '.join(outcome.executed) or 'nothing'}; "
              f"up to date: {', '.join(outcome.uptodate) or 'nothing'}", file=sys.stderr)
    summarize(cfg, outcome.manifest, args.verbose, sys.stderr)
    problem = strict_error(cfg, outcome.manifest)
    if problem:
        raise RunError(problem)
    if not args.parse_only:
        open_in_browser(cfg.out / "index.html", args.no_browser)
    return 0


def run_ranks(args: argparse.Namespace, config: ModulesConfig) -> int:
    """`--all-ranks-html`: PATH is a directory of per-rank logs."""
    from .multi_rank import run_all_ranks

    if args.latest:
        raise RunError("--latest cannot be used with --all-ranks-html")
    if args.path is None:
        raise RunError("the log directory is missing (usage: tlparse DIR --all-ranks-html [-o OUT])")
    landing = run_all_ranks(Path(args.path), Path(args.out), config, options_from_args(args),
                            args.overwrite, args.verbose, args.dask)
    open_in_browser(landing, args.no_browser)
    return 0


def open_in_browser(page: Path, no_browser: bool) -> None:
    """Legacy opens the report unless --no-browser; we also stay closed when stdout is no terminal."""
    if no_browser or not sys.stdout.isatty() or not page.exists():
        return
    import webbrowser  # costs a few ms at start-up; only needed here

    webbrowser.open(page.resolve().as_uri())
