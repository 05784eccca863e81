"""Text from a log, made safe to print on a terminal.

A log is untrusted: a field name or a message quoting it may hold a newline (which would forge
a line of our stderr, e.g. a fake `file:line:` problem) or a terminal escape sequence (which
would colour or rewrite the terminal). Every message that contains log text goes through
`printable` before it is printed; names listed as legacy lists them go through `rust_debug`.
"""

from __future__ import annotations

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}


def _escape(char: str) -> str:
    """One character as Rust's `escape_debug` writes it when it is not printable."""
    if char.isprintable():
        return char
    return _SHORT.get(char) or f"\\u{{{ord(char):x}}}"


def printable(text: str) -> str:
    """`text` with each character that is not printable (controls, line and paragraph
    separators, format characters such as bidi overrides) escaped as Rust does: `\\n`, `\\t`,
    `\\u{1b}`. Printable text comes back unchanged."""
    if text.isprintable():
        return text
    return "".join(_escape(char) for char in text)


def rust_debug(text: str) -> str:
    """`text` quoted as Rust's `{:?}` prints a string (legacy's `Unknown fields: {"a", "b"}`)."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{printable(quoted)}"'
