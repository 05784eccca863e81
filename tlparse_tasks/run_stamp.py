"""A report known to be up to date without starting doit.

Why: when nothing changed, doit's own check of ~20 tasks is cheap, but importing doit and
building its tasks is not: together they were two thirds of a no-op re-run. After each
successful build, the stamp records what doit's decision rested on:

- the run's configuration (every option and module spec that reaches a task's digest);
- the stamp (stamps.py: size, mtime, inode, device) of the log, by the parse's own rule, and of
  every file a task depends on or makes (doit's checker and the parse's `log_parsed` call such
  a file unchanged as well);
- a digest of every other row of doit's dependency DB.

The stamp is a row of that DB, so whatever empties or rewrites the DB (`doit forget`, a run
through dodo.py, a run that died: `lock.begin_run` forgets the DB) also invalidates it, and a
later run whose stamp still matches in every part would have found every task up to date.
Anything else (a different option, a touched template, an appended log, an unfinished run's
marker, a DB that cannot be read) means running doit as usual.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from . import __version__
from .lock import incomplete_marker
from .runconfig import RunConfig, db_path, norm
from .stamps import file_stamp, labelled, parsed_log_stamp

#: The stamp's row in doit's table; no task of ours has this name.
STAMP_ROW = "tlparse:up-to-date"


def task_names(cfg: RunConfig) -> list[str]:
    """The tasks a build of this config would have run or found up to date."""
    if cfg.parse_only:
        return ["parse"]
    return ["parse", *(f"module:{m.id}" for m in cfg.active_modules()), "assemble"]


def config_key(cfg: RunConfig) -> str:
    """Everything of the configuration that reaches a task's action or digest."""
    modules = [m.to_full_json() for m in cfg.active_modules()]
    data = {
        "version": __version__, "log": str(cfg.log.resolve()), "out": norm(cfg.out),
        "modules_yaml": str(cfg.modules.path), "modules": modules, "mode": cfg.mode,
        "parse": cfg.parse_options, "run": cfg.module_run_options(), "eager": cfg.eager,
        "custom_header_html": cfg.custom_header_html, "parse_only": cfg.parse_only,
        "template_dirs": cfg.template_dirs,
    }
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def file_stamps(paths: Iterable[str]) -> list[list[Any]]:
    """Each path with its stamp (stamps.py; None when it cannot be stat'ed)."""
    return [labelled(path, file_stamp(path)) for path in paths]


def _connect(db: Path, write: bool) -> sqlite3.Connection:
    mode = "rw" if write else "ro"
    return sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode={mode}", uri=True, isolation_level=None)


def _rows_digest(conn: sqlite3.Connection) -> str:
    digest = hashlib.sha256()
    for task_id, data in conn.execute("select task_id, task_data from doit where task_id != ? order by task_id",
                                      (STAMP_ROW,)):
        digest.update(f"{task_id}\0{data}\0".encode())
    return digest.hexdigest()


def stamp_paths(tasks: Iterable[dict[str, Any]]) -> list[str]:
    """Every file the tasks depend on or make: what doit looks at to call them up to date."""
    paths: set[str] = set()
    for task in tasks:
        paths.update(task.get("file_dep", ()))
        paths.update(task.get("targets", ()))
    return sorted(paths)


def write_stamp(cfg: RunConfig, paths: list[str], parsed_size: int) -> None:
    """After a successful build: record what its up-to-date decision rests on (`paths`: the
    tasks' files). The log counts by the parse's own rule (stamps.parsed_log_stamp): one that
    grew while it was parsed never matches, and the next run asks doit, whose parse resumes.
    Best effort: a stamp that cannot be written only means the next run asks doit."""
    log = norm(cfg.log)
    logged = labelled(log, parsed_log_stamp(log, parsed_size))
    with contextlib.suppress(sqlite3.Error, OSError):
        conn = _connect(db_path(cfg), write=True)
        try:
            stamp = {"key": config_key(cfg), "rows": _rows_digest(conn),
                     "files": [logged, *file_stamps(p for p in paths if p != log)]}
            conn.execute("insert or replace into doit values (?, ?)", (STAMP_ROW, orjson.dumps(stamp).decode()))
        finally:
            conn.close()


def is_up_to_date(cfg: RunConfig) -> bool:
    """True when the last build's stamp matches this config, the files and the DB as they are."""
    db = db_path(cfg)
    if not db.is_file() or os.path.lexists(incomplete_marker(db)):
        return False
    try:
        conn = _connect(db, write=False)
        try:
            row = conn.execute("select task_data from doit where task_id = ?", (STAMP_ROW,)).fetchone()
            if row is None:
                return False
            stamp = orjson.loads(row[0])
            if stamp["key"] != config_key(cfg) or stamp["rows"] != _rows_digest(conn):
                return False
        finally:
            conn.close()
        files = stamp["files"]
        return bool(files == file_stamps(path for path, *_ in files))
    except (sqlite3.Error, OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return False
