"""Where the built-in templates, static assets, schemas and modules.yaml live: inside the package.

The repository root keeps `modules.yaml` and `templates/` as links into the package, so a source
checkout and an installed wheel read the very same files.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
SCHEMA_DIR = PACKAGE_DIR / "store" / "schemas"


def template_dirs(config_dir: Path | None = None) -> list[Path]:
    """Template search path: a `templates/` beside a custom modules.yaml first, then ours."""
    candidates = [config_dir / "templates"] if config_dir is not None else []
    candidates.append(TEMPLATE_DIR)
    seen: list[Path] = []
    for candidate in candidates:
        resolved = candidate.resolve()
        if resolved.is_dir() and resolved not in seen:
            seen.append(resolved)
    return seen


def template_path(name: str, config_dir: Path | None = None) -> Path | None:
    for directory in template_dirs(config_dir):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def default_modules_yaml() -> Path:
    return PACKAGE_DIR / "modules.yaml"


def schema_path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.schema.json"
