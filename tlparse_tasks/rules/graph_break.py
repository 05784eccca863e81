"""Reading a `dynamo_graph_break_reason` artifact: where the break happened and why.

torch writes it as text: `Graph break in user code at FILE:LINE`, a `Graph Break Reason:` (older:
`Reason:`) block of one or more issues (a headline, `  Explanation:`, `  Hint:` lines,
`  Developer debug context:`, a documentation link), then `User code traceback:` and a Python
traceback. The text is untrusted: it is read line by line with string methods (no regex
backtracking), only its first `MAX_CHARS` are read, and every part may be missing.

The graph-breaks report and the failures table (a restart's user location) both use this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_CHARS = 256 * 1024  # a reason is a few KB; a longer payload is read only this far
MAX_LINE = 4096  # longer lines are cut (a location or a headline is short)
HEADER = "Graph break in user code at "
REASON_PREFIXES = ("Graph Break Reason:", "Reason:")
SECTION_ENDS = ("User code traceback:", "Stack variable source attribution:",
                "Traceback (most recent call last):", "NoneType: None")
EXPLANATION, HINT, DEBUG = "  Explanation:", "  Hint:", "  Developer debug context:"
DOC_PREFIX = "For more details about this graph break, please visit:"


@dataclass
class Issue:
    """One graph break torch describes (a break while handling a break gives two)."""

    headline: str
    explanation: str = ""
    hints: list[str] = field(default_factory=list)
    debug: str = ""
    doc_url: str = ""


@dataclass
class UserFrame:
    """The innermost frame of the user code traceback: the code that broke the graph."""

    filename: str
    line: int | None
    name: str
    code: str


@dataclass
class GraphBreak:
    """What one artifact says. `filename`/`line` come from the header line (None if absent)."""

    filename: str | None
    line: int | None
    context: str  # e.g. "Encountered graph break when attempting to trace CALL: …"
    issues: list[Issue]
    user_frame: UserFrame | None

    @property
    def location(self) -> str | None:
        """`FILE:LINE` as torch logged it (None when the header is missing)."""
        if self.filename is None:
            return None
        return self.filename if self.line is None else f"{self.filename}:{self.line}"

    @property
    def headlines(self) -> tuple[str, ...]:
        return tuple(issue.headline for issue in self.issues)


def _lines(text: str) -> list[str]:
    return [line[:MAX_LINE].rstrip() for line in text[:MAX_CHARS].split("\n")]


def _header(line: str) -> tuple[str | None, int | None]:
    """`Graph break in user code at FILE:LINE` → (FILE, LINE); a missing line number is None."""
    if not line.startswith(HEADER):
        return None, None
    rest = line[len(HEADER):].strip()
    path, sep, number = rest.rpartition(":")
    if sep and path and number.isdigit():
        return path, int(number)
    return (rest or None), None


def _reason_block(lines: list[str]) -> list[str]:
    """The lines of the reason: from its prefix to the first traceback-like section."""
    start = None
    first = ""
    for i, line in enumerate(lines):
        for prefix in REASON_PREFIXES:
            if line.startswith(prefix):
                start, first = i, line[len(prefix):].strip()
                break
        if start is not None:
            break
    if start is None:
        return []
    block = [first]
    for line in lines[start + 1:]:
        if line.startswith(SECTION_ENDS):
            break
        block.append(line)
    return block


class _IssueReader:
    """Turns reason lines into issues: a paragraph followed by `  Explanation:` is a headline;
    paragraphs before the first headline are context."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.context: list[str] = []
        self.paragraph: list[str] = []
        self.loose: list[str] = []  # paragraphs not followed by an explanation
        self.mode = ""  # which field indented continuation lines extend

    def feed(self, line: str) -> None:
        stripped = line.strip()
        if stripped.startswith(DOC_PREFIX):
            if self.issues:
                self.issues[-1].doc_url = stripped[len(DOC_PREFIX):].strip()
            self.mode = ""
        elif line.startswith((EXPLANATION, HINT, DEBUG)):
            self._field(line)
        elif not stripped:
            self._blank()
        elif line[0] in " \t" and self.mode and self.issues:
            self._extend(line)
        else:
            self.mode = ""
            self.paragraph.append(stripped)

    def _field(self, line: str) -> None:
        if line.startswith(EXPLANATION):
            self.issues.append(Issue(" ".join(self.paragraph) or "(no headline)"))
            if len(self.issues) == 1:
                self.context = self.loose
            self.paragraph, self.loose = [], []
            self.issues[-1].explanation = line[len(EXPLANATION):].strip()
            self.mode = "explanation"
        elif not self.issues:
            self.paragraph.append(line.strip())
        elif line.startswith(HINT):
            self.issues[-1].hints.append(line[len(HINT):].strip())
            self.mode = "hint"
        else:
            self.issues[-1].debug = line[len(DEBUG):].strip()
            self.mode = "debug"

    def _blank(self) -> None:
        if self.paragraph:
            self.loose.append(" ".join(self.paragraph))
            self.paragraph = []
        if self.mode and self.issues:
            self._extend("")

    def _extend(self, line: str) -> None:
        issue = self.issues[-1]
        text = line[4:] if line.startswith("    ") else line.strip()
        if self.mode == "explanation":
            issue.explanation += "\n" + text
        elif self.mode == "hint" and issue.hints:
            issue.hints[-1] += "\n" + text
        elif self.mode == "debug":
            issue.debug += "\n" + text

    def finish(self) -> tuple[str, list[Issue]]:
        self._blank()
        for issue in self.issues:
            issue.explanation = issue.explanation.strip()
            issue.hints = [h.strip() for h in issue.hints]
            issue.debug = issue.debug.strip()
        if not self.issues:  # an older or unknown layout: the first paragraph is the headline
            if not self.loose:
                return "", []
            return "", [Issue(self.loose[0], "\n".join(self.loose[1:]))]
        return "\n".join(p for p in self.context if not p.startswith("***")), self.issues


def _user_frame(lines: list[str]) -> UserFrame | None:
    """The last `File "X", line N, in NAME` of the user code traceback, and its source line."""
    try:
        start = lines.index("User code traceback:")
    except ValueError:
        return None
    found: UserFrame | None = None
    expect_code = False
    for line in lines[start + 1:]:
        stripped = line.strip()
        if line and line[0] not in " \t":
            break
        if stripped.startswith('File "'):
            found, expect_code = _file_line(stripped), True
        elif expect_code and found is not None and stripped and not set(stripped) <= set("^~ "):
            found.code, expect_code = stripped, False
    return found


def _file_line(text: str) -> UserFrame | None:
    """`File "X", line N, in NAME` (the file name may contain quotes and commas)."""
    rest = text[len('File "'):]
    filename, sep, tail = rest.rpartition('", line ')
    if not sep:
        return None
    number, _, name = tail.partition(", in ")
    return UserFrame(filename, int(number) if number.isdigit() else None, name.strip(), "")


def parse_graph_break(text: str) -> GraphBreak:
    """Everything the report shows about one `dynamo_graph_break_reason` payload."""
    lines = _lines(text)
    filename, line = _header(lines[0] if lines else "")
    reader = _IssueReader()
    for reason_line in _reason_block(lines):
        reader.feed(reason_line)
    context, issues = reader.finish()
    return GraphBreak(filename, line, context, issues, _user_frame(lines))


def restart_headline(reason: str) -> str:
    """The first line of a `restart_reasons` entry: torch's headline of the graph break."""
    return reason[:MAX_LINE].strip().split("\n", 1)[0].strip()


def break_for_restart(reason: str, breaks: Sequence[GraphBreak]) -> GraphBreak | None:
    """The graph break (of the attempts before) that a restart reason names: same headline;
    a lone break when no headline matches (older logs word them differently)."""
    headline = restart_headline(reason)
    for candidate in reversed(breaks):
        if headline and headline in candidate.headlines:
            return candidate
    return breaks[0] if len(breaks) == 1 else None
