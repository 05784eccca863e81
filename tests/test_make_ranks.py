"""scripts/make-ranks: rank folders for the multi-rank benchmark are valid rank logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.conftest import TORCH_213

REPO = Path(__file__).resolve().parents[1]
SOURCE = next((TORCH_213 / "02_training").glob("*.log"))


def test_each_rank_log_is_the_head_cut_at_a_record_with_its_rank_in_every_envelope(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "make-ranks"), str(tmp_path / "ranks"),
                             "--ranks", "3", "--mb", "0.3", "--source", str(SOURCE)],
                            capture_output=True, text=True, check=True)
    logs = sorted((tmp_path / "ranks").iterdir())
    assert [p.name for p in logs] == [f"dedicated_log_torch_trace_rank_{r}_bench.log" for r in range(3)]
    assert result.stdout.count("\n") == 3
    original = SOURCE.read_bytes()
    for rank, log in enumerate(logs):
        lines = log.read_bytes().split(b"\n")
        envelopes = [line.split(b"] ", 1)[1] for line in lines if line[:1] in b"VIWEC" and b"] {" in line]
        assert envelopes and all(orjson.loads(e)["rank"] == rank for e in envelopes)
        unstamped = log.read_bytes().replace(b'{"rank": %d, ' % rank, b"{").replace(b'{"rank": %d}' % rank, b"{}")
        assert original.startswith(unstamped) and len(unstamped) <= 300_000
        assert original[len(unstamped):len(unstamped) + 1] in b"VIWEC"  # cut where a record starts
