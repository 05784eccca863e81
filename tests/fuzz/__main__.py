"""`scripts/fuzz`: the long fuzz run. Cases go to worker processes (each case under a time limit,
enforced in the worker by an alarm and here by killing a worker that stops answering); each new
kind of failure is minimised and saved as a recipe, ready to be copied into tests/regressions/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import selectors
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from tests.fuzz.cases import Case, make_case, minimize
from tests.fuzz.oracle import DEFAULT_LIMIT, Finding
from tests.fuzz.recipes import recipe_of

REPO = Path(__file__).resolve().parents[2]
GRACE = 10.0  # seconds past the limit before a silent worker is killed


class Worker:
    """One `tests.fuzz.worker` process with at most one job in flight."""

    def __init__(self, scratch: Path, stderr: TextIO) -> None:
        self.scratch, self.stderr = scratch, stderr
        self.case: Case | None = None
        self.deadline = 0.0
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "tests.fuzz.worker"], cwd=REPO, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1)

    @property
    def stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def send(self, case: Case, limit: float) -> None:
        path = self.scratch / f"input-{self.proc.pid}.log"
        path.write_bytes(case.data)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"mode": case.mode, "path": str(path), "cut": case.cut,
                                          "flags": case.flags, "limit": limit}) + "\n")
        self.proc.stdin.flush()
        self.case, self.deadline = case, time.monotonic() + limit + GRACE

    def answer(self) -> list[Finding]:
        """The findings of the job in flight (the worker has something to say, or died)."""
        line = self.stdout.readline()
        self.case = None
        if not line:
            code = self.proc.wait()
            self.proc = self._start()
            return [Finding("exception", f"the worker process died (exit code {code})")]
        return [Finding(**f) for f in json.loads(line)["findings"]]

    def kill(self) -> list[Finding]:
        """A job past its deadline: the worker is replaced."""
        self.proc.kill()
        self.proc.wait()
        self.proc = self._start()
        self.case = None
        return [Finding("hang", f"no answer within the limit plus {GRACE:g} s (worker killed)")]

    def run(self, case: Case, limit: float) -> list[Finding]:
        """One job, waited for (used when minimising)."""
        self.send(case, limit)
        with selectors.DefaultSelector() as selector:
            selector.register(self.stdout, selectors.EVENT_READ)
            if not selector.select(self.deadline - time.monotonic()):
                return self.kill()
        return self.answer()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@dataclass
class Campaign:
    seed: int
    limit: float
    crashes: Path
    minimise: bool = True
    runs: Counter[str] = field(default_factory=Counter)
    seen: dict[str, tuple[Finding, Path]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)  # inputs that failed, by signature
    total_findings: int = 0

    def record(self, case: Case, findings: list[Finding], helper: Worker) -> None:
        """Count the case; save each failure of a new kind, minimised when it can be."""
        self.runs[case.mode] += 1
        self.total_findings += len(findings)
        self.counts.update({finding.signature() for finding in findings})
        for finding in findings:
            signature = finding.signature()
            if signature in self.seen:
                continue
            data, mode = case.data, self.simplest_mode(helper, case, finding)
            if self.minimise and finding.kind != "hang" and mode not in ("resume", "grow"):
                data = minimize(data, self.reproduces(helper, Case("", data, mode, flags=case.flags), signature))
            path = self.save(case, data, finding, mode)
            self.seen[signature] = (finding, path)
            print(f"[{sum(self.runs.values())}] NEW {finding.kind}: {finding.message} at {finding.where or '?'}"
                  f"\n    {case.label}\n    saved {path} ({len(data)} bytes)", flush=True)

    def simplest_mode(self, helper: Worker, case: Case, finding: Finding) -> str:
        """A crash seen while resuming or updating may show in a plain parse or a plain command,
        where the input can be minimised (a difference between two runs cannot)."""
        if case.mode not in ("resume", "grow") or finding.kind in ("resume", "grow"):
            return case.mode
        for mode in ("parse", "command") if case.mode == "grow" else ("parse",):
            if self.reproduces(helper, Case("", case.data, mode, flags=case.flags), finding.signature())(case.data):
                return mode
        return case.mode

    def reproduces(self, helper: Worker, like: Case, signature: str) -> Callable[[bytes], bool]:
        """Whether an input, run as `like` is, fails the same way (the minimiser's test)."""

        def test(candidate: bytes) -> bool:
            case = Case("", candidate, like.mode, like.cut, like.flags)
            return any(f.signature() == signature for f in helper.run(case, self.limit))

        return test

    def save(self, case: Case, data: bytes, finding: Finding, mode: str) -> Path:
        name = f"{finding.kind}-{hashlib.sha1(finding.signature().encode()).hexdigest()[:10]}.json"
        recipe: dict[str, Any] = recipe_of(data, f"found by scripts/fuzz: {case.label}", finding.to_json())
        if mode in ("resume", "grow"):
            recipe.update(mode=mode, cut=case.cut)
        if mode in ("command", "grow") and case.flags:
            recipe.update(flags=list(case.flags))
        self.crashes.mkdir(parents=True, exist_ok=True)
        path = self.crashes / name
        path.write_text(json.dumps(recipe, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def next_answers(workers: list[Worker]) -> list[tuple[Case, list[Finding]]]:
    """The answers that come first, or the hangs of workers past their deadline."""
    busy = [worker for worker in workers if worker.case is not None]
    with selectors.DefaultSelector() as selector:
        for worker in busy:
            selector.register(worker.stdout, selectors.EVENT_READ, worker)
        ready = selector.select(max(0.0, min(worker.deadline for worker in busy) - time.monotonic()))
    done = []
    for key, _ in ready:
        worker = key.data
        case = worker.case
        done.append((case, worker.answer()))
    for worker in busy:
        if worker.case is not None and time.monotonic() > worker.deadline:
            case = worker.case
            done.append((case, worker.kill()))
    return done


def fuzz(args: argparse.Namespace) -> Campaign:
    campaign = Campaign(args.seed, args.limit, Path(args.crashes), not args.no_minimise)
    end = time.monotonic() + args.minutes * 60
    scratch = Path(tempfile.mkdtemp(prefix="tlparse-fuzz-inputs-"))
    campaign.crashes.mkdir(parents=True, exist_ok=True)
    with open(campaign.crashes / "workers.stderr", "a", encoding="utf-8") as stderr:
        workers = [Worker(scratch, stderr) for _ in range(args.jobs)]
        helper = Worker(scratch, stderr)
        index = args.start
        try:
            while True:
                for worker in workers:
                    if worker.case is None and time.monotonic() < end and (args.cases is None or index < args.cases):
                        worker.send(make_case(args.seed, index), args.limit)
                        index += 1
                if all(worker.case is None for worker in workers):
                    break
                for case, findings in next_answers(workers):
                    campaign.record(case, findings, helper)
        except KeyboardInterrupt:  # Ctrl-C ends the run early; the report still follows
            for worker in workers:
                worker.proc.kill()
                worker.proc.wait()
        for worker in [*workers, helper]:
            worker.close()
    return campaign


def replay(spec: str, limit: float) -> int:
    """Run case SEED:INDEX[:MODE:SOURCE] here and show every finding in full."""
    parts = spec.split(":")
    mode = parts[2] if len(parts) > 2 else None
    source = parts[3] if len(parts) > 3 else None
    case = make_case(int(parts[0]), int(parts[1]), mode, source)
    with tempfile.TemporaryDirectory() as root:
        outcome = case.run(Path(root), limit)
    print(f"{case.label} [{case.mode}, {len(case.data)} bytes, {outcome.seconds:.2f} s]")
    for finding in outcome.findings:
        print(f"{finding.kind}: {finding.message} at {finding.where or '?'}\n{finding.detail}")
    return 1 if outcome.findings else 0


def report(campaign: Campaign, seconds: float) -> None:
    runs = sum(campaign.runs.values())
    modes = ", ".join(f"{mode} {count}" for mode, count in sorted(campaign.runs.items()))
    print(f"\ninputs run: {runs} ({modes}) in {seconds / 60:.1f} min, seed {campaign.seed}")
    print(f"failures: {campaign.total_findings} in {len(campaign.seen)} kinds; recipes in {campaign.crashes}")
    for signature, (finding, path) in campaign.seen.items():
        print(f"  {campaign.counts[signature]} inputs: {finding.kind}: {finding.message[:160]} "
              f"at {finding.where or '?'} -> {path.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="run seed (default: the time)")
    parser.add_argument("--start", type=int, default=0, help="first case index (default 0)")
    parser.add_argument("--cases", type=int, default=None, help="stop before this case index")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--limit", type=float, default=DEFAULT_LIMIT, help="seconds per input (default 10)")
    parser.add_argument("--crashes", default=str(Path(tempfile.gettempdir()) / "tlparse-fuzz-crashes"),
                        help="where new failures are saved as recipes")
    parser.add_argument("--no-minimise", action="store_true", help="save failing inputs as found")
    parser.add_argument("--replay", metavar="SEED:INDEX[:MODE:SOURCE]",
                        help="run one case in this process and show it (as test_fuzz.py names it)")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.limit)
    start = time.monotonic()
    campaign = fuzz(args)
    report(campaign, time.monotonic() - start)
    return 1 if campaign.seen else 0


if __name__ == "__main__":
    raise SystemExit(main())
