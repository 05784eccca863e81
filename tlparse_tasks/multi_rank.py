"""`--all-ranks-html`: one report per rank log in a directory, plus a landing page.

This is the legacy flow (rank discovery, per-rank reports in rank_N/, a landing page that links
them). The cross-rank diagnostics of legacy's landing page are not built yet.
"""

from __future__ import annotations

import argparse
import re
import sys
import webbrowser
from pathlib import Path

from .atomic import write_text
from .config import ModulesConfig
from .loader import run_doit
from .render import jinja_env
from .resources import template_dirs
from .tasks import RunConfig

RANK_LOG = re.compile(r"^dedicated_log_torch_trace_rank_(\d+)(?:_.*)?\.log$")


def discover_rank_logs(directory: Path) -> dict[int, Path]:
    """Rank number → log file, from the legacy file-name pattern (content is not consulted)."""
    ranks: dict[int, Path] = {}
    for path in sorted(directory.iterdir()):
        match = RANK_LOG.match(path.name)
        if match and path.is_file():
            ranks.setdefault(int(match.group(1)), path)
    return dict(sorted(ranks.items()))


def run_all_ranks(args: argparse.Namespace, config: ModulesConfig) -> int:
    from .cli import CliError, QuietReporter, prepare_out  # the CLI owns the shared rules

    if args.latest:
        raise CliError("--latest cannot be used with --all-ranks-html")
    if args.path is None or not Path(args.path).is_dir():
        raise CliError(f"Input path {args.path} must be a directory when using --all-ranks-html")
    directory, out = Path(args.path), Path(args.out)
    ranks = discover_rank_logs(directory)
    if not ranks:
        raise CliError(f"No rank log files found in directory {directory}")
    prepare_out(out, directory / ".all-ranks", args.overwrite)
    for rank, log in ranks.items():
        rank_out = out / f"rank_{rank}"
        print(f"Processing rank {rank} → {rank_out}")
        cfg = RunConfig(log=log, out=rank_out, modules=config, plain_text=args.plain_text,
                        inductor_provenance=args.inductor_provenance, eager=args.eager,
                        custom_header_html=args.custom_header_html)
        if run_doit(cfg, ["run"], {"reporter": QuietReporter, "outfile": sys.stderr}) != 0:
            raise CliError(f"building the report for rank {rank} failed")
    env = jinja_env(tuple(str(d) for d in template_dirs(config.path.parent)))
    html = env.get_template("multi_rank_index.html").render(
        ranks=list(ranks), custom_header_html=args.custom_header_html)
    write_text(out / "index.html", html)
    print(f"Multi-rank report generated under {out}\nIndividual pages: rank_*/index.html")
    if not args.no_browser and sys.stdout.isatty():
        webbrowser.open((out / "index.html").resolve().as_uri())
    return 0
