"""Where templates, static assets, schemas and the default modules.yaml live.

Installed, they sit inside the package (the wheel maps the top-level `templates/` and
`modules.yaml` into it); in a source checkout they are at the repository root.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _source_root() -> Path | None:
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").exists() and (root / "modules.yaml").exists():
        return root
    return None


def template_dirs(config_dir: Path | None = None) -> list[Path]:
    """Template search path: beside the modules.yaml in use first, then the tool's own."""
    candidates = []
    if config_dir is not None:
        candidates.append(config_dir / "templates")
    candidates.append(PACKAGE_DIR / "templates")
    root = _source_root()
    if root is not None:
        candidates.append(root / "templates")
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
    packaged = PACKAGE_DIR / "modules.yaml"
    if packaged.exists():
        return packaged
    root = _source_root()
    if root is None:
        raise FileNotFoundError("modules.yaml is missing from the installation")
    return root / "modules.yaml"


def schema_path(name: str) -> Path:
    return PACKAGE_DIR / "schemas" / f"{name}.schema.json"
