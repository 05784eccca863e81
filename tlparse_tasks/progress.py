"""A byte-based progress bar on stderr for long parses (tqdm does the drawing)."""

from __future__ import annotations

import sys

from tqdm import tqdm


class ByteProgress:
    """Tracks how far into the log the parse is; updated per record, drawn at most ~10/s."""

    def __init__(self, total: int, name: str) -> None:
        self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                        desc=f"parsing {name}", file=sys.stderr, mininterval=0.1, leave=False)
        self.position = 0

    def update_to(self, offset: int) -> None:
        if offset > self.position:
            self.bar.update(offset - self.position)
            self.position = offset

    def restart(self) -> None:
        """Back to the start (a resumed parse found the log replaced and parses it all)."""
        self.bar.reset(total=self.bar.total)
        self.position = 0

    def close(self) -> None:
        self.bar.close()
