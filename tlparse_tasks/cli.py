"""`tlparse LOG -o OUT`: the legacy command line, driving the doit build in-process."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from doit.reporter import ErrorOnlyReporter

from . import __version__
from .config import ConfigError, ModulesConfig, load_config
from .loader import run_doit
from .parse.stats import format_stats, strict_failures
from .resources import default_modules_yaml
from .tasks import RunConfig


class CliError(Exception):
    """A problem with the user's input: printed as one `Error: ...` line, exit 1."""


class QuietReporter(ErrorOnlyReporter):
    """Legacy prints nothing per step; we keep the task outcomes for `-v` and tests."""

    executed: list[str]
    uptodate: list[str]

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.executed, self.uptodate = [], []
        QuietReporter.last = self

    def execute_task(self, task: Any) -> None:
        if task.actions:
            self.executed.append(task.name)

    def skip_uptodate(self, task: Any) -> None:
        if task.actions:
            self.uptodate.append(task.name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tlparse",
        description="Turn a TORCH_TRACE structured log from torch.compile into a browsable report.",
    )
    parser.add_argument("path", nargs="?", help="the log file (with --latest: a directory of logs)")
    legacy = parser.add_argument_group("legacy tlparse options")
    legacy.add_argument("--latest", action="store_true", help="parse the most recent log in PATH (a directory)")
    legacy.add_argument("-o", dest="out", default="tl_out", help="output directory (default: tl_out)")
    legacy.add_argument("--overwrite", action="store_true", help="delete the output directory if it exists")
    legacy.add_argument("--strict", action="store_true", help="exit non-zero when the log had parse problems")
    legacy.add_argument("--strict-compile-id", action="store_true",
                        help="exit non-zero when some entries had no readable compile id")
    legacy.add_argument("--no-browser", action="store_true", help="do not open the report in a browser")
    legacy.add_argument("--custom-header-html", default="", help="HTML put at the top of the index page")
    legacy.add_argument("-v", "--verbose", action="store_true", help="say more (unknown fields, task outcomes)")
    legacy.add_argument("-p", "--plain-text", action="store_true",
                        help="inductor output code as .txt, not highlighted HTML")
    legacy.add_argument("-e", "--export", action="store_true", help="export mode (draft-export report)")
    legacy.add_argument("-i", "--inductor-provenance", action="store_true", help="inductor provenance pages")
    legacy.add_argument("--all-ranks-html", action="store_true", help="PATH is a directory of per-rank logs")
    ours = parser.add_argument_group("tlparse-tasks options")
    ours.add_argument("--modules", help="render only these modules (comma separated)")
    ours.add_argument("--skip-modules", help="do not render these modules (comma separated)")
    ours.add_argument("--list-modules", action="store_true", help="list the report modules and exit")
    ours.add_argument("--modules-config", help="use this modules.yaml instead of the built-in one")
    ours.add_argument("-j", "--jobs", type=int, default=0,
                      help="render modules in N processes (default: one per core, at most 4; 1: serially)")
    ours.add_argument("--eager", action="store_true", help="render every page statically (no JavaScript needed)")
    ours.add_argument("--parse-only", action="store_true", help="run only stage 1 (the intermediate store)")
    parser.add_argument("-V", "--version", action="version", version=f"tlparse {__version__} (tlparse-tasks)")
    return parser


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def resolve_log(path: str | None, latest: bool) -> Path:
    if path is None:
        raise CliError("the log path is missing (usage: tlparse LOG [-o OUT])")
    given = Path(path)
    if latest:
        if not given.is_dir():
            raise CliError(f"Input path {path} is not a directory (required when using --latest)")
        try:
            files = [p for p in given.iterdir() if p.is_file()]
        except OSError as error:
            raise CliError(f"Couldn't access directory {path}: {error.strerror}") from None
        if not files:
            raise CliError(f"No files found in directory {path}")
        return max(files, key=lambda p: (p.stat().st_mtime, p.name))
    if not given.exists():
        raise CliError(f"{path}: no such file")
    if given.is_dir():
        raise CliError(f"{path} is not a file (pass --latest to parse the newest log in it)")
    if not given.is_file():
        raise CliError(f"{path} is not a file")
    try:
        with open(given, "rb") as handle:
            handle.read(1)
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}") from None
    return given


def _is_our_report_of(out: Path, log: Path) -> bool:
    """True if OUT is a report this tool made from the same log (so it can be updated)."""
    manifest = out / "intermediate" / "manifest.json"
    try:
        data = orjson.loads(manifest.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return bool(data.get("source", {}).get("path") == str(log.resolve()))


def prepare_out(out: Path, log: Path, overwrite: bool) -> None:
    """Legacy rules, plus: our own report of the same log is updated incrementally."""
    if out.exists() and not out.is_dir():
        raise CliError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if overwrite:
            resolved = out.resolve()
            if resolved == Path(resolved.anchor) or resolved == Path.home().resolve() or \
                    resolved == Path.cwd().resolve() or resolved in log.resolve().parents:
                raise CliError(f"refusing to delete {out}: it holds the log or is a top-level directory")
            shutil.rmtree(out)
        elif not _is_our_report_of(out, log):
            raise CliError(f"Directory {out} already exists; pass --overwrite to replace it or use -o OUTDIR")
    out.mkdir(parents=True, exist_ok=True)


def load_modules(path: str | None) -> ModulesConfig:
    try:
        return load_config(Path(path) if path else default_modules_yaml())
    except ConfigError as error:
        raise CliError(str(error)) from None


def list_modules(config: ModulesConfig) -> str:
    rows = [f"{'id':<22} {'strategy':<8} {'modes':<24} subscriptions"]
    for m in config.modules:
        rows.append(f"{m.id:<22} {m.strategy:<8} {','.join(m.modes):<24} {', '.join(m.subscriptions)}")
    return "\n".join(rows)


def run_report(args: argparse.Namespace, config: ModulesConfig) -> int:
    log = resolve_log(args.path, args.latest)
    out = Path(args.out)
    known = {m.id for m in config.modules}
    selected = _split(args.modules) if args.modules is not None else None
    skipped = _split(args.skip_modules)
    for name in (*(selected or ()), *skipped):
        if name not in known:
            raise CliError(f"unknown module `{name}` (see tlparse --list-modules)")
    prepare_out(out, log, args.overwrite)
    cfg = RunConfig(
        log=log, out=out, modules=config, mode="export" if args.export else "default",
        plain_text=args.plain_text, export=args.export, inductor_provenance=args.inductor_provenance,
        eager=args.eager, custom_header_html=args.custom_header_html,
        selected=selected, skipped=skipped,
    )
    argv = ["run"]
    jobs = args.jobs if args.jobs > 0 else min(4, os.cpu_count() or 1)
    if jobs > 1 and not args.parse_only:
        argv += ["-n", str(jobs), "-P", "process"]
    if args.parse_only:
        argv.append("parse")
    code = run_doit(cfg, argv, {"reporter": QuietReporter, "outfile": sys.stderr})
    if code != 0:
        raise CliError(f"building the report failed (doit exit code {code})")
    if args.verbose:
        reporter = QuietReporter.last
        print(f"ran: {', '.join(reporter.executed) or 'nothing'}; "
              f"up to date: {', '.join(reporter.uptodate) or 'nothing'}", file=sys.stderr)
    manifest = orjson.loads((out / "intermediate" / "manifest.json").read_bytes())
    return finish(args, out, manifest)


def finish(args: argparse.Namespace, out: Path, manifest: dict[str, Any]) -> int:
    """Legacy's closing behaviour: stats, strict checks, then the browser."""
    stats = manifest["stats"]
    if not args.export:
        if args.verbose:
            for field, count in manifest["unknown_fields"].items():
                print(f"Unknown field {field} ({count} times)", file=sys.stderr)
        if manifest["unknown_fields"]:
            names = ", ".join(f'"{f}"' for f in manifest["unknown_fields"])
            print(f"Unknown fields: {{{names}}} (kept as generic artifacts in the report)", file=sys.stderr)
        print(format_stats(stats), file=sys.stderr)
        if args.strict and strict_failures(stats):
            raise CliError("Something went wrong (--strict: the log had parse problems; see above)")
    if args.strict_compile_id and manifest.get("missing_compile_id"):
        raise CliError("Some log entries did not have compile id")
    index = out / "index.html"
    if not args.no_browser and not args.parse_only and sys.stdout.isatty() and index.exists():
        webbrowser.open(index.resolve().as_uri())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_modules(args.modules_config)
        if args.list_modules:
            print(list_modules(config))
            return 0
        if args.all_ranks_html:
            from .multi_rank import run_all_ranks

            return run_all_ranks(args, config)
        return run_report(args, config)
    except CliError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

