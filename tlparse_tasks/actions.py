"""The doit actions: module-level functions taking plain data, so `-n N` can pickle them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from . import __version__
from .atomic import write_bytes
from .config import load_entry
from .module_api import ModuleContext, ModuleOutput, record_path
from .parse.parser import ParseOptions, parse_log
from .progress import ByteProgress
from .render import jinja_env

PROGRESS_MIN_BYTES = 4 << 20
STATIC_ASSETS = ("modules.js", "style.css")


def run_parse(log: str, out: str, options: dict[str, Any], show_progress: bool | None = None) -> None:
    """Stage 1 as a doit action."""
    log_path = Path(log)
    size = log_path.stat().st_size
    if show_progress is None:
        show_progress = sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES
    progress = ByteProgress(size, log_path.name) if show_progress else None
    parse_log(log_path, Path(out), ParseOptions(**options), stderr=sys.stderr, progress=progress)


def run_module(spec: dict[str, Any], out: str, run: dict[str, Any], template_dirs: list[str],
               fingerprint: str = "") -> None:
    """Render one module and record what it produced in `OUT/.modules/<id>.json`."""
    out_path = Path(out)
    render = load_entry(spec["entry"])
    ctx = ModuleContext(spec["id"], out_path, dict(spec.get("options") or {}), run, template_dirs,
                        tuple(spec.get("templates") or ()), tuple(spec.get("subscriptions") or ()),
                        strategy=str(spec.get("strategy", "eager")), fingerprint=fingerprint)
    output = render(ctx)
    if not isinstance(output, ModuleOutput):
        raise TypeError(f"module {spec['id']} returned {type(output).__name__}, not ModuleOutput")
    record = ctx.record(output, spec, __version__)
    path = record_path(out_path, spec["id"])
    _remove_stale_files(out_path, path, set(record["files"]))
    write_bytes(path, orjson.dumps(record, option=orjson.OPT_INDENT_2))


def _remove_stale_files(out: Path, record: Path, keep: set[str]) -> None:
    """Files a module wrote last time but not now (e.g. the log was replaced) must go."""
    if not record.exists():
        return
    try:
        previous = orjson.loads(record.read_bytes()).get("files", [])
    except orjson.JSONDecodeError:
        return
    root = out.resolve()
    for relative in previous:
        if relative in keep:
            continue
        target = (out / relative).resolve()
        if root in target.parents and target.is_file():
            target.unlink()


def run_assemble(out: str, records: list[str], run: dict[str, Any], template_dirs: list[str]) -> None:
    """Build index.html, modules.js and style.css from the module records only."""
    from .assemble.index_page import build_index  # local: keeps doit's import of actions light

    out_path = Path(out)
    loaded = [orjson.loads(Path(r).read_bytes()) for r in records]
    manifest = orjson.loads((out_path / "intermediate" / "manifest.json").read_bytes())
    html = build_index(loaded, manifest, run, jinja_env(tuple(template_dirs)))
    write_bytes(out_path / "index.html", html.encode("utf-8"))
    for asset in STATIC_ASSETS:
        source = next((Path(d) / "static" / asset for d in template_dirs
                       if (Path(d) / "static" / asset).is_file()), None)
        if source is None:
            raise FileNotFoundError(f"static asset {asset} is missing")
        write_bytes(out_path / asset, source.read_bytes())
