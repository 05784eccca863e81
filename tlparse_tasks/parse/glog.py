"""The glog prefix torch writes before each structured-trace envelope."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Unanchored like legacy: `[rank3]: V1206 ...` is accepted; pathname keeps its leading space.
GLOG_PREFIX = re.compile(
    r"(?P<level>[VIWEC])(?P<month>\d{2})(?P<day>\d{2}) (?P<hour>\d{2}):(?P<minute>\d{2}):"
    r"(?P<second>\d{2}).(?P<micros>\d{6}) (?P<thread>\d+)(?P<pathname>[^:]+):(?P<line>\d+)\] (?P<payload>.)"
)


@dataclass(frozen=True)
class GlogLine:
    timestamp: str
    thread: int
    pathname: str
    lineno: int
    payload: str


def parse_glog(line: str, year: int) -> GlogLine | None:
    match = GLOG_PREFIX.search(line)
    if match is None:
        return None
    g = match.group
    timestamp = f"{year:04d}-{g('month')}-{g('day')}T{g('hour')}:{g('minute')}:{g('second')}.{g('micros')}Z"
    return GlogLine(timestamp, int(g("thread")), g("pathname"), int(g("line")), line[match.start("payload"):])
