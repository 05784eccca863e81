"""A report known to be up to date without starting doit.

Why: when nothing changed, doit's own check of ~20 tasks is cheap, but importing doit and
building its tasks is not: together they were two thirds of a no-op re-run. After each
successful build, the stamp records what doit's decision rested on:

- the run's configuration (every option and module spec that reaches a task's digest);
- the size, mtime, inode and device of the log and of every file a task depends on or makes
  (doit's checker, and the parse's `log_parsed`, call such a file unchanged as well);
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

#: The stamp's row in doit's table; no task of ours has this name.
STAMP_ROW = "tlparse:up-to-date"


def task_names(cfg: RunConfig) -> list[str]:
    """The tasks a build of this config would have run or found up to date."""
    if cfg.parse_only:
        return ["parse"]
    return ["parse", *(f"module:{m.id}" for m in cfg.active_modules()), "assemble"]


def config_key(cfg: RunConfig) -> str:
    """Everything of the configuration that reaches a task's action or digest."""
    modules = [{**m.to_json(), "cost": m.cost} for m in cfg.active_modules()]
    data = {
        "version": __version__, "log": str(cfg.log.resolve()), "out": norm(cfg.out),
        "modules_yaml": str(cfg.modules.path), "modules": modules, "mode": cfg.mode,
        "parse": cfg.parse_options, "run": cfg.module_run_options(), "eager": cfg.eager,
        "custom_header_html": cfg.custom_header_html, "parse_only": cfg.parse_only,
        "template_dirs": cfg.template_dirs,
    }
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def file_stamps(paths: Iterable[str]) -> list[list[Any]]:
    """Each path with its size, mtime, inode and device (None when it cannot be stat'ed)."""
    stamps: list[list[Any]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.append([path, None])
            continue
        stamps.append([path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev])
    return stamps


def _connect(db: Path, write: bool) -> sqlite3.Connection:
    mode = "rw" if write else "ro"
    return sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode={mode}", uri=True, isolation_level=None)


def _rows_digest(conn: sqlite3.Connection) -> str:
    digest = hashlib.sha256()
    for task_id, data in conn.execute("select task_id, task_data from doit where task_id != ? order by task_id",
                                      (STAMP_ROW,)):
        digest.update(f"{task_id}\0{data}\0".encode())
    return digest.hexdigest()


def log_stamp(cfg: RunConfig) -> list[Any]:
    """The log's stamp, taken before a build starts: a log that grows or changes while it is
    parsed then differs at the next run, which asks doit (whose parse resumes)."""
    return file_stamps([norm(cfg.log)])[0]


def stamp_paths(tasks: Iterable[dict[str, Any]]) -> list[str]:
    """Every file the tasks depend on or make: what doit looks at to call them up to date."""
    paths: set[str] = set()
    for task in tasks:
        paths.update(task.get("file_dep", ()))
        paths.update(task.get("targets", ()))
    return sorted(paths)


def write_stamp(cfg: RunConfig, paths: list[str], log_before: list[Any]) -> None:
    """After a successful build: record what its up-to-date decision rests on (`paths`: the
    tasks' files, `log_before`: the log as the build began). Best effort: a stamp that cannot
    be written only means the next run asks doit."""
    paths = [path for path in paths if path != log_before[0]]
    with contextlib.suppress(sqlite3.Error, OSError):
        conn = _connect(db_path(cfg), write=True)
        try:
            stamp = {"key": config_key(cfg), "rows": _rows_digest(conn),
                     "files": [log_before, *file_stamps(paths)]}
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
