"""The fuzzing oracle: run one log through `parse_log` or the whole command and say what went wrong.

Runs happen with the scratch folder as the working directory, so relative writes are seen too.
A run must not raise (the command may only end with its documented one-line `Error:`), must end
within a time limit, must write nothing outside OUT, must leave an intermediate store whose every
file is strict JSON / JSONL that validates against `tlparse_tasks/store/schemas/`, must report
problems only as `file:line: message` lines, and must show no log text unescaped in HTML. A
resumed parse of a grown log must leave the same store as a fresh parse of it, and a report
updated for a grown log the same files as a fresh report.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import orjson

from tests.fuzz.values import MARKER
from tests.test_schemas import PRIVATE_FILES, schema_name, validator
from tlparse_tasks.cli import main
from tlparse_tasks.parse.parser import parse_log

LOG_NAME = "t.log"
#: The run happens this deep inside its scratch folder, so a name like `../../x` that escapes
#: OUT still lands inside the folder the oracle inspects.
NEST = ("a", "b", "c")
DEFAULT_LIMIT = 10.0
SAMPLE = 1000  # entries kept at each end of a long list before schema validation
_PACKAGE = f"{os.sep}tlparse_tasks{os.sep}"
_TRACE_FRAME = re.compile(r'File "([^"]*tlparse_tasks/[^"]+)", line (\d+)')
_PROBLEM = re.compile(r".+:\d+: .+")
_STATS_LINE = re.compile(r"^Stats \{|^Unknown fields: ")
#: Files of OUT that say how a report was built, not what it shows.
BUILD_FILES = frozenset((".tlparse-doit.db", ".tlparse.lock"))


class Hang(BaseException):
    """Raised by the alarm when a run passes its time limit (not an Exception: nobody catches it)."""


@dataclass(frozen=True)
class Finding:
    """One broken property: its kind, a one-line message, where in our code, and details."""

    kind: str  # exception | hang | exit | outside | json | schema | stderr | unescaped | resume | grow
    message: str
    where: str = ""
    detail: str = ""

    def signature(self) -> str:
        """What two findings of the same bug share (numbers and quoted text stripped)."""
        message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", self.message)
        return f"{self.kind}|{self.where}|{re.sub(r'[0-9]+', 'N', message)[:120]}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message, "where": self.where, "detail": self.detail}


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `Hang` in the main thread after `seconds` (no limit in other threads)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no result after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def innermost(tb: TracebackType | None) -> str:
    """`tlparse_tasks/x.py:N` of the deepest frame of ours in a traceback."""
    where = ""
    for summary in traceback.extract_tb(tb):
        if _PACKAGE in summary.filename:
            where = f"tlparse_tasks/{summary.filename.rsplit(_PACKAGE, 1)[1]}:{summary.lineno}"
    return where


def exception_finding(error: BaseException) -> Finding:
    kind = "hang" if isinstance(error, Hang) else "exception"
    message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
    detail = "".join(traceback.format_exception(error))[-6000:]
    return Finding(kind, message, innermost(error.__traceback__), detail)


def scratch(root: Path) -> tuple[Path, Path]:
    """(the run folder holding the log and OUT, OUT) under `root`."""
    folder = root.joinpath(*NEST)
    folder.mkdir(parents=True, exist_ok=True)
    return folder, folder / "out"


# -- the checks ------------------------------------------------------------------------------

def outside_writes(root: Path, out: Path) -> list[Finding]:
    """Anything under `root` besides the nest, the log and OUT; symlinks in OUT leading out."""
    found = []
    allowed = {root.joinpath(*NEST[:i]) for i in range(1, len(NEST) + 1)}
    allowed |= {out, out.parent / LOG_NAME, out.parent / "grown.log"}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            inside = path == out or out in path.parents
            if not inside and path not in allowed:
                found.append(Finding("outside", f"wrote {path.relative_to(root)} outside OUT"))
            elif inside and path.is_symlink() and out.resolve() not in path.resolve().parents:
                found.append(Finding("outside", f"{path.relative_to(root)} links outside OUT"))
    return found


def json_documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, document) for a .json file or each line of a .jsonl file; strict JSON (orjson)."""
    if path.suffix == ".jsonl":
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                yield f"{path.name}:{number}", orjson.loads(line)
    else:
        yield path.name, orjson.loads(path.read_bytes())


def sampled(document: Any) -> Any:
    """The document with its long top-level lists cut to their ends: a million-entry string table
    validates in seconds, its first and last thousand entries in milliseconds."""
    def cut(value: Any) -> Any:
        return value[:SAMPLE] + value[-SAMPLE:] if isinstance(value, list) and len(value) > 2 * SAMPLE else value

    if isinstance(document, dict):
        return {key: cut(value) for key, value in document.items()}
    return cut(document)


def store_findings(out: Path) -> list[Finding]:
    """Every intermediate file parses as strict JSON and validates against its schema."""
    found: list[Finding] = []
    intermediate = out / "intermediate"
    if not (intermediate / "manifest.json").is_file():
        return [Finding("json", "no intermediate/manifest.json after the run")]
    for path in sorted(intermediate.iterdir()):
        if path.name.startswith("."):
            continue
        check = None if path.name in PRIVATE_FILES else validator(schema_name(path.name))
        try:
            for where, document in json_documents(path):
                for error in check.iter_errors(sampled(document)) if check else ():
                    location = "/".join(str(part) for part in error.absolute_path)
                    found.append(Finding("schema", f"{path.name}: /{location}: {error.message[:200]}",
                                         detail=f"{where}: {error.message[:2000]}"))
                    break
        except orjson.JSONDecodeError as error:
            found.append(Finding("json", f"{path.name} is not JSON: {error}"))
        except FileNotFoundError:
            pass  # a file the store does not write for this log
    return found[:20]


def report_findings(out: Path) -> list[Finding]:
    """Report JSON files parse; no HTML page shows the marker unescaped."""
    found: list[Finding] = []
    for path in [out / "compile_directory.json", *sorted((out / ".modules").glob("*.json"))]:
        try:
            orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as error:
            found.append(Finding("json", f"{path.relative_to(out)} is not JSON: {error}"))
        except FileNotFoundError:
            pass
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8", errors="replace")
        if MARKER in text:
            found.append(Finding("unescaped", f"log text unescaped in HTML ({page.suffix} page)",
                                 detail=str(page.relative_to(out))))
    return found


def stderr_findings(text: str, *, command: bool) -> list[Finding]:
    """Problems are `file:line: message` lines; the command adds its stats and unknown fields."""
    lines = text.split("\n")  # lines end at \n only (splitlines would also cut at \v, \x1c…)
    if lines[-1] == "":
        lines.pop()
    previous = ""
    for line in lines:
        if not (_PROBLEM.fullmatch(line) or line.endswith(": further problems are counted but not printed")
                or (command and _STATS_LINE.match(line))):
            after = f"after a line starting with <{previous[:16]}>" if previous else "first"
            return [Finding("stderr", f"unexpected stderr line ({after})", detail=line[:2000])]
        previous = line
    return []


def store_bytes(out: Path) -> dict[str, bytes]:
    """The public store files, for comparing two parses (the resume state is private)."""
    files = {}
    for path in sorted((out / "intermediate").iterdir()):
        if path.name not in PRIVATE_FILES and not path.name.startswith("."):
            files[path.name] = path.read_bytes()
    manifest = orjson.loads(files.pop("manifest.json"))
    manifest.pop("source", None)  # names the log file, which differs between the two parses
    files["manifest.json"] = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)
    return files


# -- running -----------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one run broke, how long it took, what it printed and where its OUT is."""

    findings: list[Finding]
    seconds: float
    stderr: str = ""
    out: Path | None = None


@dataclass
class Ran:
    """An action that returned: its value, the fresh OUT, its stderr and how long it took."""

    value: Any
    out: Path
    stderr: str
    seconds: float


def attempt(data: bytes, root: Path, limit: float, action: Callable[[Path, Path, io.StringIO], Any]) -> Ran | Outcome:
    """Write `data` as a fresh log and run `action(log, out, stderr)` in `root` within `limit`
    seconds; an exception that escapes it is the finding."""
    folder, out = scratch(root)
    log = folder / LOG_NAME
    log.write_bytes(data)
    stderr = io.StringIO()
    start = time.perf_counter()
    try:
        with time_limit(limit), contextlib.chdir(root):
            value = action(log, out, stderr)
    except BaseException as error:  # the property: nothing at all escapes
        if isinstance(error, KeyboardInterrupt):
            raise
        return Outcome([exception_finding(error)], time.perf_counter() - start)
    return Ran(value, out, stderr.getvalue(), time.perf_counter() - start)


def run_parse(data: bytes, root: Path, limit: float = DEFAULT_LIMIT) -> Outcome:
    """`parse_log` on `data`; every property of the store."""
    ran = attempt(data, root, limit, lambda log, out, stderr: parse_log(log, out, stderr=stderr))
    if isinstance(ran, Outcome):
        return ran
    found = store_findings(ran.out) + outside_writes(root, ran.out) + stderr_findings(ran.stderr, command=False)
    return Outcome(found, ran.seconds, ran.stderr, ran.out)


def command(log: Path, out: Path, flags: tuple[str, ...], stderr: io.StringIO) -> int:
    """`tlparse LOG -o OUT --no-browser -j 1 [flags]`, its stderr kept, its stdout dropped."""
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        return main([str(log), "-o", str(out), "--no-browser", "-j", "1", *flags])


def run_command(data: bytes, root: Path, limit: float = DEFAULT_LIMIT, flags: tuple[str, ...] = ()) -> Outcome:
    """The command on a fresh OUT: exit 0, and every property of store and report."""
    ran = attempt(data, root, limit, lambda log, out, stderr: command(log, out, flags, stderr))
    if isinstance(ran, Outcome):
        return ran
    if ran.value != 0:
        return Outcome([exit_finding(ran.value, ran.stderr)], ran.seconds, ran.stderr, ran.out)
    found = store_findings(ran.out) + report_findings(ran.out) + outside_writes(root, ran.out)
    found += stderr_findings(ran.stderr, command=True)
    return Outcome(found, ran.seconds, ran.stderr, ran.out)


def report_files(out: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out)): without_history(path) for path in sorted(out.rglob("*"))
            if path.is_file() and path.name not in BUILD_FILES}


def without_history(path: Path) -> bytes:
    """A file's bytes; for the parse's resume point, without the history of the points the
    store grew through, which an updated report has and a fresh one has not."""
    data = path.read_bytes()
    if path.name != "parse_state.json":
        return data
    try:
        saved = orjson.loads(data)
        saved["resume"].pop("history", None)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return data
    return orjson.dumps(saved)


def run_grow(data: bytes, cut: int, root: Path, limit: float = DEFAULT_LIMIT, flags: tuple[str, ...] = ()) -> Outcome:
    """The command on the first `cut` bytes, then again on the whole log into the same OUT (an
    update), then on the whole log into a fresh OUT: both reports hold the same files."""
    folder, out = scratch(root)
    log, fresh_out = folder / LOG_NAME, root / "fresh"
    stderr = io.StringIO()
    start = time.perf_counter()
    try:
        with time_limit(3 * limit), contextlib.chdir(root):
            log.write_bytes(data[:cut])
            codes = [command(log, out, flags, stderr)]
            log.write_bytes(data)
            codes += [command(log, out, flags, stderr), command(log, fresh_out, flags, stderr)]
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        return Outcome([exception_finding(error)], time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if any(codes):
        return Outcome([exit_finding(max(codes), stderr.getvalue())], seconds, stderr.getvalue(), out)
    found = store_findings(out) + report_findings(out)
    updated, fresh = report_files(out), report_files(fresh_out)
    differ = sorted(name for name in updated.keys() | fresh.keys() if updated.get(name) != fresh.get(name))
    if differ:
        found.append(Finding("grow", f"an updated report differs from a fresh one in {len(differ)} files "
                                     f"(first: {differ[0]})",
                             detail=f"cut at byte {cut} of {len(data)}: {', '.join(differ[:20])}"))
    return Outcome(found, seconds, stderr.getvalue(), out)


def exit_finding(code: int, stderr: str) -> Finding:
    """A non-zero exit on a fresh OUT: a module or the parse failed inside doit."""
    frames = _TRACE_FRAME.findall(stderr)
    where = f"tlparse_tasks/{frames[-1][0].rsplit('tlparse_tasks/', 1)[1]}:{frames[-1][1]}" if frames else ""
    errors = [line for line in stderr.splitlines() if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b", line)]
    message = errors[-1] if errors else f"exit code {code}"
    return Finding("exit", f"exit {code}: {message[:300]}", where, stderr[-6000:])


def run_resume(data: bytes, cut: int, root: Path, limit: float = DEFAULT_LIMIT) -> Outcome:
    """Parse the first `cut` bytes, then the whole log into the same OUT (a resume), and compare
    with a fresh parse of the whole log."""
    folder, out = scratch(root)
    log = folder / LOG_NAME
    fresh_out = root / "fresh"
    start = time.perf_counter()
    try:
        with time_limit(limit), contextlib.chdir(root):
            log.write_bytes(data[:cut])
            parse_log(log, out, stderr=None)
            with open(log, "ab") as handle:
                handle.write(data[cut:])
            resumed = parse_log(log, out, stderr=None).resumed
            grown = folder / "grown.log"
            grown.write_bytes(data)
            parse_log(grown, fresh_out, stderr=None)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        return Outcome([exception_finding(error)], time.perf_counter() - start)
    seconds = time.perf_counter() - start
    found = store_findings(out)
    ours, fresh = store_bytes(out), store_bytes(fresh_out)
    differ = sorted(name for name in ours.keys() | fresh.keys() if ours.get(name) != fresh.get(name))
    if differ:
        found.append(Finding("resume", f"resumed={resumed}: a resumed parse differs from a fresh one in "
                                       f"{', '.join(differ)}", detail=f"cut at byte {cut} of {len(data)}"))
    return Outcome(found, seconds, out=out)
