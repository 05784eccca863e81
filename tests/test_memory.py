"""Stage 1 memory stays flat: the 99 MB 11_large log parses within 100 MB peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TORCH_213, corpus_copy

REPO = Path(__file__).resolve().parents[1]
LARGE = TORCH_213 / "11_large" / "dedicated_log_torch_trace_ubbygp7s.log.xz"
LIMIT_BYTES = 100 * 1024 * 1024


def peak_rss(args: list[str]) -> tuple[int, int]:
    """(exit code, peak RSS in bytes) of a child process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024


@pytest.mark.slow
@pytest.mark.skipif(not LARGE.exists(), reason="11_large is not in the corpus")
def test_parse_of_the_99_mb_log_stays_under_100_mb(tmp_path: Path) -> None:
    log = corpus_copy(LARGE, tmp_path)
    assert log.stat().st_size > 90 * 1024 * 1024
    code, rss = peak_rss([sys.executable, "-m", "tlparse_tasks", str(log), "-o", str(tmp_path / "out"),
                          "--no-browser", "--parse-only"])
    assert code == 0
    assert rss < LIMIT_BYTES, f"peak RSS {rss / 2**20:.1f} MiB"
    manifest = (tmp_path / "out" / "intermediate" / "manifest.json").read_text()
    assert '"ok": 38273' in manifest
