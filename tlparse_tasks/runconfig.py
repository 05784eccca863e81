"""What one report build needs to know (`RunConfig`), apart from doit: a run whose report is
already up to date (run_stamp) decides so without importing doit at all."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config_types import ModulesConfig, ModuleSpec
from .resources import template_dirs

DB_NAME = ".tlparse-doit.db"


def norm(path: Path | str) -> str:
    """The one spelling of a path that every task uses."""
    return os.path.normpath(os.path.abspath(path))


def db_path(cfg: RunConfig) -> Path:
    """doit's dependency DB: inside OUT, so separate reports never share state."""
    return Path(norm(cfg.out / DB_NAME))


@dataclass
class RunConfig:
    """Everything one report build needs to know."""

    log: Path
    out: Path
    modules: ModulesConfig
    mode: str = "default"
    plain_text: bool = False
    export: bool = False
    inductor_provenance: bool = False
    eager: bool = False
    custom_header_html: str = ""
    selected: tuple[str, ...] | None = None
    skipped: tuple[str, ...] = ()
    show_progress: bool | None = None
    jobs: int = 0  # 0: automatic (run.resolve_jobs)
    parse_only: bool = False
    strict: bool = False
    strict_compile_id: bool = False

    @property
    def parse_options(self) -> dict[str, Any]:
        return {"plain_text": self.plain_text, "export": self.export,
                "inductor_provenance": self.inductor_provenance}

    @functools.cached_property
    def log_bytes(self) -> int | None:
        """The log's size when it is a readable file (None otherwise: a folder of ranks, or a
        missing log, which the parse reports), read once: scheduling asks for every task."""
        try:
            return self.log.stat().st_size if self.log.is_file() else None
        except OSError:
            return None

    @functools.cached_property
    def bytes_to_read(self) -> int | None:
        """The log's bytes this run is expected to read: those after the point the last parse
        would resume from (all without one). A guess for scheduling, read once: the parse checks
        the log's prefix before it keeps anything."""
        size = self.log_bytes
        if size is None:
            return None
        from .parse.resume import likely_resume_offset
        from .parse.state import ParseOptions
        from .store.streams import intermediate_dir

        offset = likely_resume_offset(self.log, intermediate_dir(self.out), ParseOptions(**self.parse_options))
        return size - (offset or 0)

    @functools.cached_property
    def template_dirs(self) -> list[str]:
        """Resolved once per run: every task asks, and resolving touches the disk."""
        return [str(d) for d in template_dirs(self.modules.path.parent)]

    def active_modules(self) -> list[ModuleSpec]:
        """Modules for this mode, narrowed by --modules / --skip-modules."""
        modules = self.modules.for_mode(self.mode)
        if self.selected is not None:
            modules = [m for m in modules if m.id in self.selected]
        return [m for m in modules if m.id not in self.skipped]

    def module_run_options(self) -> dict[str, Any]:
        """What a module may look at besides its own options and subscriptions."""
        return {"eager": self.eager, "mode": self.mode, "inductor_provenance": self.inductor_provenance}
