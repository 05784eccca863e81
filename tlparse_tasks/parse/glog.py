"""The glog prefix torch writes before each structured-trace envelope.

Legacy matches `[VIWEC]MMDD HH:MM:SS.uuuuuu THREAD PATHNAME:LINE] ` anywhere in the line
(`[rank3]: V1206 ...` is accepted; the pathname keeps its leading space). As one backtracking
regex that search is quadratic on long hostile lines, so it runs in two linear steps: find a
candidate head, then check the first `:LINE] ` after it. The result is the same as the regex
`(?P<thread>\\d+)(?P<pathname>[^:]+):(?P<line>\\d+)\\] (?P<payload>.)` after the head.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_HEAD = re.compile(r"[VIWEC]\d{4} \d{2}:\d{2}:\d{2}.\d{6} (\d+)")  # fixed width up to the thread
_TAIL = re.compile(r":(\d+)\] .")


class GlogLine(NamedTuple):
    timestamp: str
    thread: int
    pathname: str
    lineno: int
    payload: str


def parse_glog(line: str, year: int) -> GlogLine | None:
    """The prefix fields and the text after it, or None when the line has no glog prefix."""
    position = 0
    while True:
        head = _HEAD.search(line, position)
        if head is None:
            return None
        thread_start, thread_end = head.span(1)
        if line.startswith(":", thread_end):  # the pathname takes the thread's last digit
            thread_end -= 1
        colon = line.find(":", thread_end + 1)
        if colon == -1:  # no later head can be followed by a `:` either
            return None
        tail = _TAIL.match(line, colon)
        if tail is not None and thread_end > thread_start:
            s = head.start()
            # Every field before the thread has a fixed width (`\d` is one character).
            timestamp = (f"{year:04d}-{line[s + 1:s + 3]}-{line[s + 3:s + 5]}T{line[s + 6:s + 8]}:"
                         f"{line[s + 9:s + 11]}:{line[s + 12:s + 14]}.{line[s + 15:s + 21]}Z")
            return GlogLine(timestamp, int(line[thread_start:thread_end]), line[thread_end:colon],
                            int(tail.group(1)), line[tail.end() - 1:])
        position = head.start() + 1
