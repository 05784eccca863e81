"""Reading `doit log=… out=…` command-line variables into a RunConfig (for dodo.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .config import load_config
from .resources import default_modules_yaml
from .tasks import RunConfig

TRUE = {"1", "true", "yes", "on"}


def config_from_vars(get_var: Callable[[str, str], str | None], workdir: str) -> RunConfig:
    """doit chdirs to the dodo's folder, so relative paths are taken from where doit ran."""
    base = Path(workdir)

    def var(name: str, default: str = "") -> str:
        value = get_var(name, default)
        return default if value is None else value

    def flag(name: str) -> bool:
        return var(name).lower() in TRUE

    modules_yaml = var("config")
    config = load_config(base / modules_yaml if modules_yaml else _dodo_modules_yaml())
    modules = var("modules")
    return RunConfig(
        log=base / var("log", "trace.log"),
        out=base / var("out", "tl_out"),
        modules=config,
        mode="export" if flag("export") else "default",
        plain_text=flag("plain_text"),
        export=flag("export"),
        inductor_provenance=flag("inductor_provenance"),
        eager=flag("eager"),
        custom_header_html=var("custom_header_html"),
        selected=tuple(m for m in modules.split(",") if m) if modules else None,
        skipped=tuple(m for m in var("skip").split(",") if m),
    )


def _dodo_modules_yaml() -> Path:
    """The modules.yaml beside dodo.py (doit has chdir'd there), else the installed one."""
    local = Path.cwd() / "modules.yaml"
    return local if local.exists() else default_modules_yaml()
