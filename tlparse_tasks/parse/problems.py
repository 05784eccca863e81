"""Problems found in a log: printed once as `file:line: message`, up to a cap, and kept as a
sample for the manifest (the stats count all of them)."""

from __future__ import annotations

from typing import TextIO

from ..terminal import printable
from .state import Problem

MAX_REPORTED_PROBLEMS = 100


class ProblemReporter:
    """Prints each problem once as `file:line: message`, up to a cap, and keeps a sample."""

    def __init__(self, log_name: str, stream: TextIO | None, sample: list[Problem]) -> None:
        self.log_name = log_name
        self.stream = stream
        self.sample = sample

    def __call__(self, line: int, message: str) -> None:
        if len(self.sample) < MAX_REPORTED_PROBLEMS:
            self.sample.append(Problem(line, message))
            if self.stream is not None:
                print(printable(f"{self.log_name}:{line}: {message}"), file=self.stream)
                if len(self.sample) == MAX_REPORTED_PROBLEMS:
                    print(f"{printable(self.log_name)}: further problems are counted but not printed",
                          file=self.stream)
