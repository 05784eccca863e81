"""Task creators: modules.yaml and the run options become doit task dicts.

Pure functions returning dicts (tested without running doit). Paths are normalised once
here, so a module's `file_dep` matches the parse task's `targets` string for string and doit
links them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from . import __version__
from .actions import (
    STATIC_ASSETS,
    clean_assemble,
    clean_module,
    clean_parse,
    log_parsed,
    run_assemble,
    run_module,
    run_parse,
)
from .checker import StoreAwareChecker
from .config_types import ModuleSpec, entry_source
from .module_api import record_path
from .resources import template_path
from .runconfig import RunConfig, db_path, norm
from .store.streams import INTERMEDIATE_FILES, PARSE_STATE_FILE

INDEX_TEMPLATE = "index.html"
#: A task's `meta` key for its expected seconds of CPU: workers.py starts the costliest ready task
#: first, so two workers end together instead of one finishing a big module alone. A module's
#: `cost` and `resumed_cost` (modules.yaml) and PARSE_COST and PARSE_RESUMED_COST are seconds per
#: GB of log (measured on 11_large), scaled here by the bytes the run reads anew and by those
#: before the parse's likely resume point: after an append, a module that redoes all its work
#: goes before one whose state carries most of it over. The ranks' parses and modules of a
#: multi-rank build compare too.
COST = "cost"
PARSE_COST = 10
PARSE_RESUMED_COST = 0.5  # the digest of what it read before, which proves the log only grew
#: A task's `meta` key: True when a pool worker runs it in a child process of its own (workers.py).
#: CPython keeps most of a heap it has grown, so a task run in the worker itself leaves its working
#: set there under every later task: on a 100 MB log, 10-20 MB after the parse, compilation_metrics
#: or search, 4-10 MB after cache, compile_directory or compile_times. A fork costs a few
#: milliseconds (~0.03 s a run on a 3 MB log, for nothing there), so a task gets a process of its
#: own only when its `cost` times the bytes the run is expected to read anew (after an append,
#: those after the parse's resume point) reaches OWN_PROCESS_MIN_SECONDS: on 11_large, every
#: module from compile_directory (0.04 s) up.
OWN_PROCESS = "own_process"
OWN_PROCESS_MIN_SECONDS = 0.035
#: A task's `meta` key: True for a task that needs none of the modules' code (the parse), which
#: a pool starts at once in a process of its own while the main process warms up (workers.py).
EARLY = "early"
GB = 1 << 30


def task_meta(cfg: RunConfig, cost: float, resumed_cost: float) -> dict[str, Any]:
    """A task's scheduling facts: its expected seconds, and whether it gets a process of its own."""
    return {COST: expected_seconds(cfg, cost, resumed_cost),
            OWN_PROCESS: cost * (cfg.bytes_to_read or 0) / GB >= OWN_PROCESS_MIN_SECONDS}


def expected_seconds(cfg: RunConfig, cost: float, resumed_cost: float) -> float:
    """`cost` per GB the run reads anew, plus `resumed_cost` per GB before the parse's likely
    resume point (a log of at least 1 KB: a missing log still orders)."""
    size = max(1 << 10, cfg.log_bytes or 0)
    new = size if cfg.bytes_to_read is None else min(size, cfg.bytes_to_read)
    return (cost * new + resumed_cost * (size - new)) / GB


def intermediate_file(cfg: RunConfig, name: str) -> str:
    return norm(cfg.out / "intermediate" / name)


def _digest_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _resolve_templates(cfg: RunConfig, names: tuple[str, ...] | list[str]) -> list[Path]:
    paths = []
    for name in names:
        path = template_path(name, cfg.modules.path.parent)
        if path is None:
            raise FileNotFoundError(f"template {name} not found")
        paths.append(path)
    return paths


def task_parse(cfg: RunConfig) -> dict[str, Any]:
    """Stage 1: the log into OUT/intermediate/."""
    return {
        "basename": "parse",
        "doc": "stream the log into the intermediate store",
        "actions": [(run_parse, [norm(cfg.log), norm(cfg.out), cfg.parse_options, cfg.show_progress])],
        "targets": [intermediate_file(cfg, name) for name in (*INTERMEDIATE_FILES, PARSE_STATE_FILE)],
        # not a file_dep on the log: doit would checksum it after the parse, appends included
        "uptodate": [config_changed({"options": cfg.parse_options, "version": __version__}),
                     (log_parsed, [norm(cfg.log), norm(cfg.out)])],
        "clean": [(clean_parse, [norm(cfg.out)])],
        "verbosity": 2,
        "meta": {**task_meta(cfg, PARSE_COST, PARSE_RESUMED_COST), EARLY: True},
    }


def module_source(spec: ModuleSpec) -> Path | None:
    """The Python file of a module's entry point (found without importing it)."""
    source = entry_source(spec.entry)
    return Path(source) if source else None


def task_module(cfg: RunConfig, spec: ModuleSpec, ranks: dict[int, Path] | None = None) -> dict[str, Any]:
    """One report module: re-run when its subscriptions, templates, source file or options change.

    The same digest salts the module's per-unit digests, so a code or template change re-renders
    every unit while a grown log re-renders only the units whose data changed. A cross-rank
    module (`ranks`: rank → its report folder inside OUT) subscribes to every rank's store.
    """
    source = module_source(spec)
    templates = _resolve_templates(cfg, spec.templates)
    run = cfg.module_run_options()
    stores = [cfg.out]
    if ranks is not None:
        run["ranks"] = [[rank, os.path.relpath(folder, cfg.out)] for rank, folder in sorted(ranks.items())]
        stores = list(ranks.values())
    digest = {"module": spec.to_json(), "run": run,
              "templates": _digest_files([*templates, *([source] if source else [])]),
              "version": __version__}
    fingerprint = hashlib.sha256(json.dumps(digest, sort_keys=True).encode()).hexdigest()
    return {
        "basename": "module",
        "name": spec.id,
        "doc": spec.name,
        "actions": [(run_module, [spec.to_json(), norm(cfg.out), run, cfg.template_dirs, fingerprint])],
        "file_dep": sorted({norm(store / "intermediate" / s) for store in stores for s in spec.subscriptions}
                           | {norm(t) for t in templates} | ({norm(source)} if source else set())),
        "targets": [norm(record_path(cfg.out, spec.id))],
        "uptodate": [config_changed(digest)],
        "clean": [(clean_module, [norm(cfg.out), spec.id])],
        "verbosity": 2,
        "meta": task_meta(cfg, spec.cost, spec.resumed_cost),
    }


def task_assemble(cfg: RunConfig, modules: list[ModuleSpec]) -> dict[str, Any]:
    """index.html and modules.js from the records of the modules that ran."""
    records = [norm(record_path(cfg.out, m.id)) for m in modules]
    templates = _resolve_templates(cfg, [INDEX_TEMPLATE, *(f"static/{a}" for a in STATIC_ASSETS)])
    run = {"custom_header_html": cfg.custom_header_html, "eager": cfg.eager, "mode": cfg.mode}
    digest = {"run": run, "modules": [m.id for m in modules], "templates": _digest_files(templates),
              "version": __version__}
    return {
        "basename": "assemble",
        "doc": "index.html and modules.js from the module records",
        "actions": [(run_assemble, [norm(cfg.out), records, run, cfg.template_dirs])],
        "file_dep": records + [intermediate_file(cfg, "manifest.json")] + [norm(t) for t in templates],
        "targets": [norm(cfg.out / "index.html"), norm(cfg.out / "modules.js")],
        "uptodate": [config_changed(digest)],
        "clean": [(clean_assemble, [norm(cfg.out)])],
        "verbosity": 2,
    }


def generate_tasks(cfg: RunConfig) -> Iterator[dict[str, Any]]:
    """Every task of one build: parse, the active modules, assemble."""
    yield task_parse(cfg)
    modules = cfg.active_modules()
    for spec in modules:
        yield task_module(cfg, spec)
    yield task_assemble(cfg, modules)


def default_tasks(cfg: RunConfig) -> list[str]:
    """Every task of the build by name (`module` is the group of the module tasks), so commands
    given no task name (`doit forget`, `doit clean`) act on the whole report."""
    return ["parse", *(["module"] if cfg.active_modules() else []), "assemble"]


def doit_config(cfg: RunConfig) -> dict[str, Any]:
    """The dependency DB lives inside OUT, so separate reports never share state. Pure: the
    caller creates OUT when tasks are really going to run."""
    return {"backend": "sqlite3", "dep_file": str(db_path(cfg)),
            "default_tasks": default_tasks(cfg), "verbosity": 2,
            "check_file_uptodate": StoreAwareChecker}
