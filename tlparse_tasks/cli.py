"""`tlparse LOG -o OUT`: the legacy command line, driving the doit build in-process (run.py).

This module reads the arguments and starts hashing the log before it imports the rest of the
command (commands.py): everything it imports first is cheap."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__, gc_pause

__all__ = ["build_parser", "console_main", "main"]


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
    ours_ranks = parser.add_argument_group("multi-rank options (with --all-ranks-html)")
    ours_ranks.add_argument("--dask", metavar="ADDRESS",
                            help="run the per-rank tasks on a Dask cluster: local, local:N (a LocalCluster of N "
                                 "workers) or tcp://host:port (workers must see the same paths); needs "
                                 "tlparse-tasks[dask]")
    ours = parser.add_argument_group("tlparse-tasks options")
    ours.add_argument("--modules", help="render only these modules (comma separated)")
    ours.add_argument("--skip-modules", help="do not render these modules (comma separated)")
    ours.add_argument("--list-modules", action="store_true", help="list the report modules and exit")
    ours.add_argument("--modules-config", help="use this modules.yaml instead of the built-in one")
    ours.add_argument("-j", "--jobs", type=int, default=0,
                      help="render modules in N processes (default: one per core, at most 4; serial for 1-2 modules)")
    ours.add_argument("--eager", action="store_true", help="render every page statically (no JavaScript needed)")
    ours.add_argument("--parse-only", action="store_true", help="run only stage 1 (the intermediate store)")
    ours.add_argument("--no-wait", action="store_true",
                      help="fail at once if another run is using the output directory (default: wait for it)")
    parser.add_argument("-V", "--version", action="version", version=f"tlparse {__version__} (tlparse-tasks)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with gc_pause.paused(), hashing_ahead(args):
            from .commands import run_command  # the rest of the command, doit included: ~0.08 s

            return run_command(args)
    except KeyboardInterrupt:  # before run_command could say it
        print("Error: interrupted", file=sys.stderr)
        return 130


def hashing_ahead(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """Start hashing the log (parse/digests.py) before the rest of the command is imported, for
    the parse this run is likely to need. Only a guess: a parse that needs other digests
    computes them itself."""
    if args.path is None or args.latest or args.all_ranks_html or args.list_modules:
        return contextlib.nullcontext()
    from .parse.digests import prefetching

    log, out = Path(args.path), Path(args.out)
    return prefetching(log, functools.partial(_length_to_check, out))


def _length_to_check(out: Path, size: int) -> int | None:
    """The first bytes of the log the parse into `out` would check, guessed in the hashing
    helper's own process (parse/digests.length_to_check)."""
    from .parse.digests import length_to_check
    from .store.streams import PARSE_STATE_FILE, intermediate_dir

    return length_to_check(intermediate_dir(out) / PARSE_STATE_FILE, size)


def console_main() -> NoReturn:
    """The `tlparse` command (and `python -m tlparse_tasks`): `main`, then `exit_now`."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """Exit with `code`, skipping Python's teardown of the heap when nothing else runs.

    Freeing every object and module of a run that loaded doit, Jinja and the modules' code took
    ~35 ms, a seventh of a small log's run, for memory the system takes back at once. The exit
    handlers still run and the standard streams are flushed; every file the run writes is closed
    (and replaced atomically) before `main` returns. With another non-daemon thread alive (a
    Dask client's), Python's own exit waits for it, as usual; daemon threads (a process pool's
    queue feeders, which the exit handlers flush) do not hold the exit, as in Python's own.
    """
    import threading  # imported by then: not at start-up, before the log's hashing starts

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more can be said
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console_main()
