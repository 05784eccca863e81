"""Fuzz cases: one (seed, index) pair gives one input and one way to run it, the same everywhere
(the short test run, the long `scripts/fuzz` run, a replay), so a crash is named by two numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from random import Random

from tests.fuzz.generate import random_log
from tests.fuzz.mutate import mutate
from tests.fuzz.oracle import DEFAULT_LIMIT, Outcome, run_command, run_grow, run_parse, run_resume
from tests.logs import simple_log

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
#: Small corpus logs to mutate (read here, never written: each run writes its own copy).
SEED_LOGS = (
    "tlparse-0.4.3-tests/links.log", "tlparse-0.4.3-tests/comp_metrics.log",
    "tlparse-0.4.3-tests/chromium_events.log", "tlparse-0.4.3-tests/comp_failure.log",
    "tlparse-0.4.3-tests/export_guard_added.log", "tlparse-0.4.3-tests/artifacts.log",
    "torch-2.13/08_export/dedicated_log_torch_trace_0qtkqqoa.log",
)
MODES = ("parse", "command", "resume", "grow")
MODE_WEIGHTS = (78, 8, 10, 4)  # the command costs ten parses, growing a report thirty
#: Report flags a command case may add (each with this chance): other templates, other code paths.
COMMAND_FLAGS = {"--eager": 0.2, "--plain-text": 0.2, "--export": 0.15, "--inductor-provenance": 0.2}


@dataclass(frozen=True)
class Case:
    label: str
    data: bytes
    mode: str
    cut: int = 0  # resume, grow: the size of the log at the first run
    flags: tuple[str, ...] = ()  # command, grow: flags besides -o, --no-browser and -j 1
    replay: str = ""  # SEED:INDEX:MODE:SOURCE, for `scripts/fuzz --replay`

    def run(self, root: Path, limit: float = DEFAULT_LIMIT) -> Outcome:
        return run_case(self.mode, self.data, self.cut, root, limit, self.flags)


def run_case(mode: str, data: bytes, cut: int, root: Path, limit: float = DEFAULT_LIMIT,
             flags: tuple[str, ...] = ()) -> Outcome:
    runners: dict[str, Callable[[], Outcome]] = {
        "parse": lambda: run_parse(data, root, limit),
        "command": lambda: run_command(data, root, limit, flags),
        "resume": lambda: run_resume(data, cut, root, limit),
        "grow": lambda: run_grow(data, cut, root, limit, flags),
    }
    return runners[mode]()


@cache
def seed_logs() -> tuple[tuple[str, bytes], ...]:
    """(name, bytes) of the seed logs found (the corpus may be absent) plus a crafted one."""
    found = [(name, (CORPUS / name).read_bytes()) for name in SEED_LOGS if (CORPUS / name).is_file()]
    return (*found, ("tests/logs.py:simple_log", simple_log().encode()))


def make_case(seed: int, index: int, mode: str | None = None, source: str | None = None) -> Case:
    """Case `index` of run `seed`; `mode` (parse/command/resume) and `source` (generate/mutate)
    force a choice the case would otherwise draw."""
    rng = Random(f"{seed}:{index}")
    drawn_mode = rng.choices(MODES, MODE_WEIGHTS)[0]
    drawn_source = "generate" if rng.random() < 0.5 else "mutate"
    mode, source = mode or drawn_mode, source or drawn_source
    if source == "generate":
        data, label = random_log(rng), "generated"
    else:
        name, base = rng.choice(seed_logs())
        data, names = mutate(base, rng)
        label = f"{name} mutated by {', '.join(names)}"
    cut = rng.randint(0, len(data)) if mode in ("resume", "grow") else 0
    flags = tuple(flag for flag, odds in COMMAND_FLAGS.items() if rng.random() < odds) \
        if mode in ("command", "grow") else ()
    label = f"seed {seed} case {index} ({' '.join((mode, *flags))}): {label}"
    return Case(label, data, mode, cut, flags, f"{seed}:{index}:{mode}:{source}")


def minimize(data: bytes, fails: Callable[[bytes], bool], budget: int = 200) -> bytes:
    """Drop chunks of lines while `fails` still holds (ddmin on lines), within `budget` tries."""
    lines = data.splitlines(keepends=True)
    chunk = max(1, len(lines) // 2)
    tries = 0
    while chunk >= 1 and tries < budget:
        start, removed = 0, False
        while start < len(lines) and tries < budget:
            candidate = lines[:start] + lines[start + chunk:]
            tries += 1
            if candidate and fails(b"".join(candidate)):
                lines, removed = candidate, True
            else:
                start += chunk
        if not removed:
            chunk //= 2
    return b"".join(lines)
