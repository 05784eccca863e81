"""Which files in a directory are rank logs (legacy's file-name rule; content is not read)."""

from __future__ import annotations

import re
from pathlib import Path

RANK_LOG = re.compile(r"^dedicated_log_torch_trace_rank_(\d+)(?:_.*)?\.log$")
MAX_RANK = 0xFFFFFFFF  # legacy parses the number as a u32


def discover_rank_logs(directory: Path) -> dict[int, Path]:
    """Rank number → log file, ranks ascending. Two files of one rank: the first by name wins
    (legacy parses both into one folder, in directory order, and lists the rank twice)."""
    ranks: dict[int, Path] = {}
    for path in sorted(directory.iterdir()):
        match = RANK_LOG.match(path.name)
        if match and int(match.group(1)) <= MAX_RANK and path.is_file():
            ranks.setdefault(int(match.group(1)), path)
    return dict(sorted(ranks.items()))


def rank_folder(rank: int) -> str:
    """A rank's report folder inside OUT."""
    return f"rank_{rank}"
