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


# The child reports its own high-water mark: a forked child's ru_maxrss starts at the parent's
# peak (the pytest process may be far above 100 MB), but VmHWM belongs to the exec'd image.
CHILD = """
import sys
from tlparse_tasks.cli import main
code = main(sys.argv[1:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(int(hwm.split()[1]) * 1024)
raise SystemExit(code)
"""


def peak_rss(args: list[str]) -> tuple[int, int]:
    """(exit code, peak RSS in bytes) of `tlparse ARGS` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env)
    return result.returncode, int(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not LARGE.exists(), reason="11_large is not in the corpus")
def test_parse_of_the_99_mb_log_stays_under_100_mb(tmp_path: Path) -> None:
    log = corpus_copy(LARGE, tmp_path)
    assert log.stat().st_size > 90 * 1024 * 1024
    code, rss = peak_rss([str(log), "-o", str(tmp_path / "out"), "--no-browser", "--parse-only"])
    assert code == 0
    assert rss < LIMIT_BYTES, f"peak RSS {rss / 2**20:.1f} MiB"
    manifest = (tmp_path / "out" / "intermediate" / "manifest.json").read_text()
    assert '"ok": 38273' in manifest
