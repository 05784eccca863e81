"""The doit actions: module-level functions taking plain data, so `-n N` can pickle them.

The parser, the module API and Jinja are imported inside the actions that use them: `doit list`,
`doit forget` and `tlparse --list-modules` load this file but run none of them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from . import __version__, parse_ahead
from .atomic import write_bytes
from .fserrors import one_line_errors
from .module_api import RECORDS_DIR, record_path
from .stamps import parsed_log_stamp, stamp_of
from .store.streams import INTERMEDIATE_FILES, PARSE_STATE_FILE

PROGRESS_MIN_BYTES = 4 << 20
STATIC_ASSETS = ("modules.js", "style.css")


@one_line_errors
def run_parse(log: str, out: str, options: dict[str, Any],
              show_progress: bool | None = None) -> Any:
    """Stage 1 as a doit action. Returns the values doit keeps for `log_parsed`: those of the
    parse the CLI started ahead of doit for this log and OUT (parse_ahead.py), if it did."""
    ahead = parse_ahead.outcome(log, out)
    if ahead is None:
        return parse_values(log, out, options, show_progress)
    if "values" in ahead:
        return ahead["values"]
    if "failed" in ahead:
        from doit.exceptions import TaskFailed

        return TaskFailed(ahead["failed"])
    raise parse_ahead.ParseCrashed(f"the parse failed:\n{ahead.get('crashed')}")


def parse_values(log: str, out: str, options: dict[str, Any], show_progress: bool | None = None) -> dict[str, Any]:
    """Parse `log` into OUT's store; the values doit keeps for `log_parsed`."""
    from .parse.parser import ParseOptions, parse_log

    log_path = Path(log)
    size = log_path.stat().st_size
    if show_progress is None:
        show_progress = sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES
    progress = None
    if show_progress:
        from .progress import ByteProgress  # tqdm only when a bar is drawn

        progress = ByteProgress(size, log_path.name)
    result = parse_log(log_path, Path(out), ParseOptions(**options), stderr=sys.stderr, progress=progress)
    return {"log_stamp": parsed_log_stamp(log_path, int(result.manifest["source"]["size"]))}


def log_parsed(task: Any, values: dict[str, Any], log: str, out: str) -> bool:
    """The parse task's up-to-date check: the log is what the parse recorded reading, i.e. its
    size is manifest.json's `source.size` and its first that-many bytes have the recorded digest.

    What doit would record instead (the log's checksum after the action) can include records
    appended while the parse finished; those would never be parsed. Here, bytes past the
    recorded end make the task run, and the parse resumes there."""
    if parse_ahead.started(log, out):
        return False
    try:
        source = orjson.loads((Path(out) / "intermediate" / "manifest.json").read_bytes())["source"]
        size, digest, path = int(source["size"]), str(source["sha256"]), str(source["path"])
        st = os.stat(log)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return False
    if path != str(Path(log).resolve()) or st.st_size != size:
        return False
    if values.get("log_stamp") == stamp_of(st):
        return True
    from .parse.digests import hash_log

    try:
        fd = os.open(log, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return hash_log(fd, size, size).whole == digest
        finally:
            os.close(fd)
    except OSError:  # gone or cut since: the parse will say
        return False


def preload_modules(entries: list[str], template_dirs: list[str], templates: list[str]) -> None:
    """Import the modules' code and load their templates, as run_module would, in the process
    the workers fork from. Best effort: a module that fails to load fails in its own task."""
    from .config_types import load_entry
    from .render import jinja_env

    for entry in entries:
        try:
            load_entry(entry)
        except Exception:  # reported by the module's task, in its words
            continue
    env = jinja_env(tuple(template_dirs))
    for name in templates:
        try:
            env.get_template(name)
        except Exception:  # likewise
            continue


@one_line_errors
def run_module(spec: dict[str, Any], out: str, run: dict[str, Any], template_dirs: list[str],
               fingerprint: str = "") -> None:
    """Render one module and record what it produced in `OUT/.modules/<id>.json`."""
    from .config_types import load_entry
    from .module_api import ModuleContext, ModuleOutput

    out_path = Path(out)
    render = load_entry(spec["entry"])
    ctx = ModuleContext(spec["id"], out_path, dict(spec.get("options") or {}), run, template_dirs,
                        tuple(spec.get("templates") or ()), tuple(spec.get("subscriptions") or ()),
                        strategy=str(spec.get("strategy", "eager")), fingerprint=fingerprint)
    try:
        output = render(ctx)
    finally:
        ctx.close()
    if not isinstance(output, ModuleOutput):
        raise TypeError(f"module {spec['id']} returned {type(output).__name__}, not ModuleOutput")
    record = ctx.record(output, spec, __version__)
    path = record_path(out_path, spec["id"])
    _remove_stale_files(out_path, path, set(record["files"]))
    write_bytes(path, orjson.dumps(record, option=orjson.OPT_INDENT_2), root=out_path)


def _remove_stale_files(out: Path, record: Path, keep: set[str]) -> None:
    """Files a module wrote last time but not now (e.g. the log was replaced) must go."""
    if not record.exists():
        return
    try:
        previous = orjson.loads(record.read_bytes()).get("files", [])
    except orjson.JSONDecodeError:
        return
    _remove_files(out, [r for r in previous if r not in keep])


def _remove_files(out: Path, relatives: Iterable[str], dryrun: bool = False) -> list[str]:
    """Remove these OUT-relative files (never a directory, never anything outside OUT: a symlink
    is removed itself, not followed), then the directories they leave empty. Returns them."""
    root = out.resolve()
    removed: list[str] = []
    for relative in relatives:
        path = out / relative
        try:
            inside = root in path.parent.resolve().parents or path.parent.resolve() == root
        except OSError:
            continue
        if not inside or not (path.is_symlink() or path.is_file()):
            continue
        removed.append(relative)
        if dryrun:
            continue
        path.unlink()
        _remove_empty_parents(path.parent, root)
    return removed


def _remove_empty_parents(directory: Path, root: Path) -> None:
    """`rmdir` upwards while empty, stopping at OUT."""
    while directory.resolve() != root and root in directory.resolve().parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


@one_line_errors
def run_assemble(out: str, records: list[str], run: dict[str, Any], template_dirs: list[str]) -> None:
    """Build index.html, modules.js and style.css from the module records only."""
    from .assemble.index_page import build_index
    from .render import jinja_env

    out_path = Path(out)
    loaded = [orjson.loads(Path(r).read_bytes()) for r in records]
    manifest = orjson.loads((out_path / "intermediate" / "manifest.json").read_bytes())
    html = build_index(loaded, manifest, run, jinja_env(tuple(template_dirs)))
    write_bytes(out_path / "index.html", html.encode("utf-8"), root=out_path)
    for asset in STATIC_ASSETS:
        source = next((Path(d) / "static" / asset for d in template_dirs
                       if (Path(d) / "static" / asset).is_file()), None)
        if source is None:
            raise FileNotFoundError(f"static asset {asset} is missing")
        write_bytes(out_path / asset, source.read_bytes(), root=out_path)


# -- `doit clean`: each task removes what it wrote, and only that --------------------------------

def _say(removed: list[str], dryrun: bool) -> None:
    verb = "would remove" if dryrun else "removed"
    for relative in removed:
        print(f"{verb} {relative}")


def clean_parse(out: str, dryrun: bool = False) -> None:
    """The intermediate store (and its resume point)."""
    names = [*INTERMEDIATE_FILES, PARSE_STATE_FILE]
    _say(_remove_files(Path(out), [f"intermediate/{n}" for n in names], dryrun), dryrun)


def clean_module(out: str, module_id: str, dryrun: bool = False) -> None:
    """The files the module's record lists, then the record itself."""
    out_path = Path(out)
    record = record_path(out_path, module_id)
    try:
        files = [f for f in orjson.loads(record.read_bytes()).get("files", []) if isinstance(f, str)]
    except (OSError, orjson.JSONDecodeError, AttributeError):
        files = []
    _say(_remove_files(out_path, [*files, f"{RECORDS_DIR}/{module_id}.json"], dryrun), dryrun)


def clean_assemble(out: str, dryrun: bool = False) -> None:
    """index.html and the static assets copied beside it."""
    _say(_remove_files(Path(out), ["index.html", *STATIC_ASSETS], dryrun), dryrun)

