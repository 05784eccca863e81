"""modules.yaml, validated once per change instead of on every run.

Why: checking modules.yaml imports every module's entry file (each declares its `Options`), and
those imports (Jinja2 among them) were a third of a no-op re-run and of a run on a small log.
The validated config is kept in the user's cache folder (`$XDG_CACHE_HOME/tlparse-tasks`, as
black keeps its own), with the stamps (stamps.py) of everything the validation read:
modules.yaml, every entry's source file as the import path finds it, the templates it named,
this package's config checker; and the package and Python versions. Any difference, or a cache
that is missing, damaged or unwritable, means validating as before; so a wrong config is still
refused, file, line and key, before any work.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from . import __version__
from .config_types import ModulesConfig, ModuleSpec, entry_source
from .resources import PACKAGE_DIR, template_path, user_cache_dir
from .stamps import file_stamp, labelled

CACHE_FORMAT = 2
CHECKERS = ("config.py", "config_types.py")  # the code that validates modules.yaml


def cache_file(path: Path) -> Path:
    key = hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:24]
    return user_cache_dir() / f"config-{key}.json"


def load_config_cached(path: Path) -> ModulesConfig:
    """`load_config(path)`, from the cache when nothing it read has changed."""
    cached = _read(path)
    if cached is not None:
        return cached
    from .config import load_config  # PyYAML and the modules' code: only when validating

    before = _file_stamp(path)
    config = load_config(path)
    if _file_stamp(path) == before:  # not edited while it was being read
        _write(path, config)
    return config


def _file_stamp(path: Path | str | None) -> list[Any]:
    if path is None:
        return [None]
    return labelled(path, file_stamp(path))


def _stamp(path: Path, modules: list[dict[str, Any]]) -> list[Any]:
    """What a validation of `path` depended on (`modules`: the specs it gave)."""
    config_dir = path.parent
    return [
        CACHE_FORMAT, __version__, sys.version, _file_stamp(path),
        [_file_stamp(PACKAGE_DIR / checker) for checker in CHECKERS],
        [_file_stamp(entry_source(m["entry"])) for m in modules],
        [_file_stamp(template_path(t, config_dir)) for m in modules for t in m["templates"]],
    ]


def _read(path: Path) -> ModulesConfig | None:
    try:
        data = orjson.loads(cache_file(path).read_bytes())
        modules = data["modules"]
        if data["stamp"] != orjson.loads(orjson.dumps(_stamp(path, modules))):
            return None
        return ModulesConfig(path, tuple(ModuleSpec.from_full_json(m) for m in modules))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, config: ModulesConfig) -> None:
    """Keep the validated config (best effort: a cache that cannot be written is no error)."""
    modules = [spec.to_full_json() for spec in config.modules]
    if tuple(ModuleSpec.from_full_json(m) for m in orjson.loads(orjson.dumps(modules))) != config.modules:
        return  # an option value JSON does not keep as it is (a tuple, say): not cached
    target = cache_file(path)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp.write_bytes(orjson.dumps({"stamp": _stamp(path, modules), "modules": modules}))
        os.replace(temp, target)
    except (OSError, TypeError):
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
