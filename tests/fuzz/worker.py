"""A fuzz worker process: reads one job per line on stdin, runs it, answers one line of JSON.

A job is `{"mode", "path", "cut", "flags", "limit"}`. The worker's own stdout is sent to /dev/null so
that nothing the code under test prints can corrupt the answers, which go to a private copy of
the original stdout. The parent kills a worker that does not answer in time (a hang in C code
that the alarm cannot interrupt).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tests.fuzz.cases import run_case


def serve() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    for line in sys.stdin:
        job = json.loads(line)
        root = Path(tempfile.mkdtemp(prefix="tlparse-fuzz-"))
        try:
            outcome = run_case(job["mode"], Path(job["path"]).read_bytes(), job["cut"], root, job["limit"],
                               tuple(job["flags"]))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        answers.write(json.dumps({"findings": [f.to_json() for f in outcome.findings],
                                  "seconds": outcome.seconds}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()
