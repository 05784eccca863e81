"""One report run, the same whoever asks: the `tlparse` command, `doit` (dodo.py), each rank of
`--all-ranks-html`.

`RunOptions` is what the user asked for; `build_config` validates it once into a `RunConfig`
(module names, mode, jobs); `exclusive_run` holds OUT's lock (one run per OUT); `prepare_out`
applies the legacy output-directory rules; `build_report` drives doit in-process and returns what
ran. Nothing here prints except `summarize` (and the lock's one "waiting" line).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TextIO

import orjson

from .config_cache import load_config_cached
from .config_types import ConfigError, ModulesConfig
from .fserrors import describe
from .lock import (
    LOCK_NAME,
    SQLITE_SIDE_FILES,
    LockError,
    acquire,
    begin_run,
    release,
    sigterm_as_interrupt,
    unfinished_run_of,
)
from .parse.stats import format_stats, strict_failures
from .recycle import POOL_NAME, remove_pool, retire
from .resources import default_modules_yaml
from .run_stamp import is_up_to_date, stamp_paths, task_names, write_stamp
from .runconfig import DB_NAME, RunConfig, db_path, norm
from .safepath import check_no_links
from .terminal import printable, rust_debug

#: A pool needs at least this many module tasks to pay for itself (forking costs ~15 ms, and
#: two light modules save less than that).
POOL_MIN_MODULES = 3
#: Nor does it below this log size: measured on 2 cores (10 runs each, medians), a 0.4 MB log
#: took 0.23 s in one process and 0.25 s with two workers (0.23 vs 0.27 s of CPU), a 1.2 MB one
#: 0.27 vs 0.29 s; at 1.8 MB the two were even and at 2.8 MB the pool won (0.35 vs 0.41 s).
POOL_MIN_LOG_BYTES = 2 << 20
#: Automatic parallelism never asks for more processes than this.
MAX_AUTO_JOBS = 4
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
#: doit commands that only read the dependency DB: they must not create OUT or the DB.
READ_ONLY_COMMANDS = frozenset({"list", "info", "dumpdb", "help", "tabcompletion"})
#: doit's loader options that may come before the command and take a value.
LOADER_OPTIONS_WITH_VALUE = frozenset({"-f", "--file", "-d", "--dir"})


class RunError(Exception):
    """A problem with the user's input or the run: shown as one `Error: ...` line."""


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for, before validation; one of these serves every rank."""

    modules: tuple[str, ...] | None = None
    skip: tuple[str, ...] = ()
    export: bool = False
    plain_text: bool = False
    inductor_provenance: bool = False
    eager: bool = False
    custom_header_html: str = ""
    strict: bool = False
    strict_compile_id: bool = False
    jobs: int = 0
    parse_only: bool = False
    wait: bool = True  # for another run on the same OUT to finish (--no-wait: fail at once)


def split_names(value: str | None) -> tuple[str, ...]:
    """`"a, b,"` → `("a", "b")`: the comma lists of `--modules` and `modules=`."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def check_options(modules: ModulesConfig, options: RunOptions) -> str:
    """Refuse unknown or out-of-mode module names and bad job counts; returns the mode."""
    mode = "export" if options.export else "default"
    known = {m.id for m in modules.modules}
    for name in (*(options.modules or ()), *options.skip):
        if name not in known:
            raise RunError(f"unknown module `{name}` (see tlparse --list-modules)")
    in_mode = {m.id for m in modules.for_mode(mode)}
    for name in options.modules or ():
        if name not in in_mode:
            raise RunError(f"module `{name}` does not run in {mode} mode (see tlparse --list-modules)")
    if options.jobs < 0:
        raise RunError(f"-j/--jobs must be 0 (automatic) or a number of processes, not {options.jobs}")
    return mode


def build_config(log: Path, out: Path, modules: ModulesConfig, options: RunOptions) -> RunConfig:
    """The one validated run config, built before anything is written."""
    mode = check_options(modules, options)
    return RunConfig(
        log=log, out=out, modules=modules, mode=mode, plain_text=options.plain_text,
        export=options.export, inductor_provenance=options.inductor_provenance, eager=options.eager,
        custom_header_html=options.custom_header_html, selected=options.modules, skipped=options.skip,
        jobs=options.jobs, parse_only=options.parse_only, strict=options.strict,
        strict_compile_id=options.strict_compile_id,
    )


# -- doit variables (dodo.py) -----------------------------------------------------------------

def options_from_vars(var: Callable[[str], str]) -> RunOptions:
    """`doit ... modules=a,b skip=c eager=1 export=1 plain_text=1 inductor_provenance=1`."""
    def flag(name: str) -> bool:
        return var(name).strip().lower() in TRUE_WORDS

    return RunOptions(
        modules=split_names(var("modules")) or None, skip=split_names(var("skip")),
        export=flag("export"), plain_text=flag("plain_text"),
        inductor_provenance=flag("inductor_provenance"), eager=flag("eager"),
        custom_header_html=var("custom_header_html"),
    )


def config_from_vars(get_var: Callable[[str, str], str | None], workdir: str, dodo_dir: Path) -> RunConfig:
    """dodo.py's RunConfig. doit chdirs to the dodo's folder, so relative paths are taken from
    where doit ran (`workdir`); a `modules.yaml` beside dodo.py wins over the installed one."""
    base = Path(workdir)

    def var(name: str, default: str = "") -> str:
        value = get_var(name, default)
        return default if value is None else value

    local = dodo_dir / "modules.yaml"
    modules_yaml = base / var("config") if var("config") else local if local.exists() else default_modules_yaml()
    try:
        modules = load_config_cached(modules_yaml)
    except ConfigError as error:
        raise RunError(str(error)) from None
    return build_config(base / var("log", "trace.log"), base / var("out", "tl_out"), modules,
                        options_from_vars(var))


def doit_command(argv: list[str]) -> str:
    """The command of a `doit ...` command line, by doit's own rule: the first word that is not
    an option (or the value of `-f`/`-d`, the options allowed before it) nor a `name=value`
    variable. A task name here means `run`, which is also the safe reading of anything odd."""
    words = iter(argv)
    for word in words:
        if word in LOADER_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-") and "=" not in word:
            return word
    return "run"


def dodo_doit_config(cfg: RunConfig, argv: list[str]) -> dict[str, Any]:
    """DOIT_CONFIG for dodo.py. doit opens the dependency DB before any task runs, and sqlite
    creates the file on open, so read-only commands (`doit list`) get an in-memory DB unless the
    report already has one; every other command gets OUT (created here) and its DB."""
    from .tasks import doit_config

    config = doit_config(cfg)
    db = check_db_path(cfg)
    if doit_command(argv) in READ_ONLY_COMMANDS:
        if not db.is_file():
            config["dep_file"] = ":memory:"
    else:
        db.parent.mkdir(parents=True, exist_ok=True)
    return config


def dodo_hold_out(cfg: RunConfig, argv: list[str], wait: bool) -> int | None:
    """dodo.py: lock OUT for this doit process (the lock goes with the process) unless the
    command only reads; for `run`, also begin the run journal and use the safe runners.
    Returns the locked descriptor, which the caller keeps open."""
    command = doit_command(argv)
    if command in READ_ONLY_COMMANDS:
        return None
    try:
        fd = acquire(cfg.out, wait)
    except LockError as error:
        raise RunError(str(error)) from None
    from .workers import install as install_safe_runners

    install_safe_runners()
    if command == "run":
        remove_pool(cfg.out)  # what a killed `tlparse --overwrite` left to reuse (recycle)
        begin_run(check_db_path(cfg), cfg.log)
        open_db(db_path(cfg))
    return fd


def check_db_path(cfg: RunConfig) -> Path:
    """The dependency DB's path, once no symbolic link is found there: doit opens it (and
    sqlite its side files) by name, following links, so a planted one is refused (safepath)."""
    db = db_path(cfg)
    try:
        check_no_links(cfg.out, [db, *(db.with_name(db.name + side) for side in SQLITE_SIDE_FILES)])
    except OSError as error:
        raise RunError(describe(error)) from None
    return db


def open_db(db: Path) -> None:
    """Open (creating) the dependency DB once with doit's own backend, as doit is about to: a
    full disk or a damaged DB is then one line here, not a traceback from inside doit."""
    from doit.dependency import DatabaseException, Dependency, SqliteDB

    try:
        Dependency(SqliteDB, str(db)).close()
    except (sqlite3.Error, DatabaseException) as error:
        reason = error.__context__ if isinstance(error, DatabaseException) and error.__context__ else error
        raise RunError(f"cannot use the dependency DB {db}: {reason}") from None


# -- the output directory -----------------------------------------------------------------------

def _is_our_report_of(out: Path, log: Path) -> bool:
    """True if OUT is a report this tool made from the same log (so it can be updated), or one
    whose run on that log died before it wrote the manifest."""
    if unfinished_run_of(out / DB_NAME) == str(log.resolve()):
        return True
    manifest = out / "intermediate" / "manifest.json"
    try:
        data = orjson.loads(manifest.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return bool(data.get("source", {}).get("path") == str(log.resolve()))


def _has_content(out: Path) -> bool:
    """OUT holds something besides our lock file and the files an --overwrite run killed
    halfway had yet to reuse (recycle)."""
    return out.exists() and any(p.name not in (LOCK_NAME, POOL_NAME) for p in out.iterdir())


def check_out_link(out: Path, overwrite: bool) -> None:
    """OUT may be a symbolic link the user chose, but not a dangling one, and --overwrite never
    deletes the files of its target through it."""
    if not out.is_symlink():
        return
    if not out.exists():
        raise RunError(f"cannot use the output directory {out}: it is a symbolic link to a missing "
                       f"directory ({os.readlink(out)})")
    if overwrite and out.is_dir() and _has_content(out):
        raise RunError(f"will not overwrite through the symbolic link {out}: --overwrite would delete "
                       f"the files of {out.resolve()}; remove the link, or give that directory with -o")


def check_out(out: Path, log: Path, overwrite: bool, locked: bool = False) -> None:
    """The legacy refusals. Checked before OUT is locked, so a foreign directory is refused
    before the lock writes into it, and again by prepare_out once it is locked. Before, an OUT
    with our lock file may be another run's report in the making: only the second check counts."""
    check_out_link(out, overwrite)
    if out.exists() and not out.is_dir():
        raise RunError(f"{out} exists and is not a directory")
    if not _has_content(out) or (not locked and (out / LOCK_NAME).exists()):
        return
    if overwrite:
        resolved = out.resolve()
        if resolved == Path(resolved.anchor) or resolved == Path.home().resolve() or \
                resolved == Path.cwd().resolve() or resolved in log.resolve().parents:
            raise RunError(f"refusing to delete {out}: it holds the log or is a top-level directory")
    elif not _is_our_report_of(out, log):
        raise RunError(f"Directory {out} already exists; pass --overwrite to replace it or use -o OUTDIR")


def prepare_out(out: Path, log: Path, overwrite: bool) -> None:
    """Legacy rules, plus: our own report of the same log is updated incrementally. Call with
    OUT locked; --overwrite empties OUT but keeps the lock file that a waiting run holds open.
    Run the build inside `recycling(out)`, which reuses and then removes what was there."""
    check_out(out, log, overwrite, locked=True)
    if overwrite and _has_content(out):
        retire(out, keep=frozenset({LOCK_NAME}))  # its files are reused, then the rest deleted (recycle)
    out.mkdir(parents=True, exist_ok=True)


@contextmanager
def exclusive_run(out: Path, wait: bool) -> Iterator[None]:
    """The body runs holding OUT's lock, with SIGTERM unwinding like Ctrl-C (workers stopped,
    lock released). A busy OUT with `wait=False`, or an unsafe lock file, is a RunError."""
    with sigterm_as_interrupt():
        try:
            fd = acquire(out, wait)
        except LockError as error:
            raise RunError(str(error)) from None
        try:
            yield
        finally:
            release(fd)


# -- running ------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one report build did."""

    executed: list[str] = field(default_factory=list)
    uptodate: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    last: ClassVar[Outcome | None] = None  # the latest run's (tests look at it)


def resolve_jobs(cfg: RunConfig) -> int:
    """`-j N` as given; automatic: one process for stage 1 alone, for a handful of modules, for a
    log under POOL_MIN_LOG_BYTES or on one core (a pool costs more than it saves there), else
    one per core up to MAX_AUTO_JOBS."""
    if cfg.jobs > 0:
        return cfg.jobs
    cores = os.cpu_count() or 1
    if cfg.parse_only or cores < 2 or len(cfg.active_modules()) < POOL_MIN_MODULES \
            or (cfg.log_bytes is not None and cfg.log_bytes < POOL_MIN_LOG_BYTES):
        return 1
    return min(MAX_AUTO_JOBS, cores)


def doit_argv(cfg: RunConfig) -> list[str]:
    """`doit run` arguments for this config."""
    argv = ["run"]
    jobs = resolve_jobs(cfg)
    if jobs > 1:
        argv += ["-n", str(jobs), "-P", "process"]
    if cfg.parse_only:
        argv.append("parse")
    return argv


def build_report(cfg: RunConfig) -> Outcome:
    """Run doit over this report's tasks (OUT locked and prepared). If the last run on OUT did
    not finish, every task runs again (lock.begin_run). The `tlparse` command has started
    hashing the log already (cli.hashing_ahead)."""
    db = check_db_path(cfg)
    begin_run(db, cfg.log)
    cfg.bytes_to_read  # noqa: B018  # measured now: a parse started ahead changes the store it reads
    with parse_early(cfg):
        return _build_report(cfg, db)


def parse_early(cfg: RunConfig) -> contextlib.AbstractContextManager[None]:
    """The parse, forked before doit is imported when it is sure to run (parse_ahead.py)."""
    from .actions import parse_values
    from .parse_ahead import parse_is_due, parsing_ahead

    log, out = norm(cfg.log), norm(cfg.out)
    if not writes_to_a_file(sys.stderr):  # a forked parse could not print into it
        return contextlib.nullcontext()
    try:
        manifest = read_manifest(cfg)
    except (OSError, orjson.JSONDecodeError):
        manifest = None
    if not parse_is_due(log, manifest):
        return contextlib.nullcontext()
    return parsing_ahead(log, out, partial(parse_values, log, out, cfg.parse_options, cfg.show_progress))


def writes_to_a_file(stream: TextIO) -> bool:
    """`stream` is backed by a file descriptor (not a caller's StringIO), as a process forked
    to write into it needs."""
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _build_report(cfg: RunConfig, db: Path) -> Outcome:
    open_db(db)
    from .loader import run_doit
    from .reporter import QuietReporter
    from .tasks import generate_tasks

    tasks = list(generate_tasks(cfg))
    checked = stamp_paths(tasks)  # before doit takes the dicts over
    reporter = QuietReporter(sys.stderr)
    outcome = Outcome.last = Outcome(reporter.executed, reporter.uptodate)
    code = run_doit(cfg, doit_argv(cfg), {"reporter": reporter, "outfile": sys.stderr}, tasks)
    if reporter.errors:
        raise RunError(reporter.errors[0])
    if code != 0:
        raise RunError(f"building the report failed (doit exit code {code})")
    outcome.manifest = read_manifest(cfg)
    write_stamp(cfg, checked, int(outcome.manifest["source"]["size"]))
    return outcome


def already_built(cfg: RunConfig) -> Outcome | None:
    """The outcome of a build that would find every task up to date, known without doit
    (run_stamp); None when doit has to look. Call with OUT locked and prepared."""
    check_db_path(cfg)
    if not is_up_to_date(cfg):
        return None
    try:
        manifest = read_manifest(cfg)
    except (OSError, orjson.JSONDecodeError):
        return None
    Outcome.last = Outcome([], task_names(cfg), manifest)
    return Outcome.last


def read_manifest(cfg: RunConfig) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(Path(norm(cfg.out / "intermediate" / "manifest.json")).read_bytes())
    return data


def summarize(cfg: RunConfig, manifest: dict[str, Any], verbose: bool, stream: TextIO) -> None:
    """Legacy's closing lines on stderr: unknown fields, then the stats (not in export mode)."""
    if cfg.export:
        return
    unknown = manifest.get("unknown_fields", {})
    if verbose:
        for name, count in unknown.items():
            print(f"Unknown field {printable(name)} ({count} times)", file=stream)
    if unknown:
        names = ", ".join(rust_debug(f) for f in unknown)
        print(f"Unknown fields: {{{names}}} (kept as generic artifacts in the report)", file=stream)
    print(format_stats(manifest["stats"]), file=stream)


def strict_error(cfg: RunConfig, manifest: dict[str, Any]) -> str | None:
    """Why `--strict` / `--strict-compile-id` fail this report, if they do."""
    if cfg.strict and not cfg.export and strict_failures(manifest["stats"]):
        return "Something went wrong (--strict: the log had parse problems; see above)"
    if cfg.strict_compile_id and manifest.get("missing_compile_id"):
        return "Some log entries did not have compile id"
    return None
