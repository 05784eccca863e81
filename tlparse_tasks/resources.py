"""Where the built-in templates, static assets, schemas and modules.yaml live: inside the package.

The repository root keeps `modules.yaml` and `templates/` as links into the package, so a source
checkout and an installed wheel read the very same files.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
SCHEMA_DIR = PACKAGE_DIR / "store" / "schemas"


def template_dirs(config_dir: Path | None = None) -> list[Path]:
    """Template search path: a `templates/` beside a custom modules.yaml first, then ours."""
    return list(_template_dirs(config_dir))


@functools.lru_cache(maxsize=16)
def _template_dirs(config_dir: Path | None) -> tuple[Path, ...]:
    """Resolved once per process: a run looks templates up a few hundred times."""
    candidates = [config_dir / "templates"] if config_dir is not None else []
    candidates.append(TEMPLATE_DIR)
    seen: list[Path] = []
    for candidate in candidates:
        resolved = candidate.resolve()
        if resolved.is_dir() and resolved not in seen:
            seen.append(resolved)
    return tuple(seen)


def template_path(name: str, config_dir: Path | None = None) -> Path | None:
    for directory in template_dirs(config_dir):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def user_cache_dir() -> Path:
    """Our folder in the user's cache (`$XDG_CACHE_HOME`, else ~/.cache): what a run keeps for
    the next one that is not part of any report (compiled templates, the validated config)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tlparse-tasks"


def default_modules_yaml() -> Path:
    return PACKAGE_DIR / "modules.yaml"


def schema_path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.schema.json"
