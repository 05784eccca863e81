"""Log text on stderr: a newline or a terminal escape in a log must not forge a line of our
output or reach the terminal raw; unknown field names are listed as legacy lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.logs import cid, entry, write
from tlparse_tasks.cli import main
from tlparse_tasks.terminal import printable, rust_debug

HOSTILE = "x\nt.log:9: forged\x1b[31m\r\u202e"


def test_printable_escapes_what_a_terminal_would_act_on_and_keeps_the_rest() -> None:
    assert printable("café → ok: [0/1] \\ \"q\"") == "café → ok: [0/1] \\ \"q\""
    assert printable(HOSTILE) == "x\\nt.log:9: forged\\u{1b}[31m\\r\\u{202e}"
    assert printable("\t\0\x7f\x85\u2028\u200b\xa0") == "\\t\\0\\u{7f}\\u{85}\\u{2028}\\u{200b}\\u{a0}"


def test_rust_debug_quotes_as_legacy_prints_unknown_field_names() -> None:
    """Legacy 0.4.3's own output for these names."""
    names = ['q"uo\\te\t', "café", "\u2028x", "\x85z", "\u200bzw", "\u202ey", "\x7fd", "new\nline", "\x1b[31mred"]
    assert ", ".join(rust_debug(n) for n in names) == (
        '"q\\"uo\\\\te\\t", "café", "\\u{2028}x", "\\u{85}z", "\\u{200b}zw", "\\u{202e}y", "\\u{7f}d", '
        '"new\\nline", "\\u{1b}[31mred"')


@pytest.mark.parametrize("verbose", [False, True])
def test_problems_and_unknown_fields_are_one_escaped_line_each(tmp_path: Path, verbose: bool,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    log = write(tmp_path / "t.log", entry({"artifact": {"name": "a", "encoding": HOSTILE}, HOSTILE: 1, **cid()}, "p"))
    assert main([str(log), "-o", str(tmp_path / "out"), "--no-browser", *(["-v"] if verbose else [])]) == 0
    err = capfd.readouterr().err
    assert "\x1b" not in err and "\r" not in err and "\u202e" not in err
    lines = err.splitlines()
    assert not any(line.startswith("t.log:9") for line in lines)  # no forged problem line
    assert f"{log}:1: Parser artifact failed: Unsupported encoding: {printable(HOSTILE)}" in lines
    assert f"Unknown fields: {{{rust_debug(HOSTILE)}}} (kept as generic artifacts in the report)" in lines
    if verbose:
        assert f"Unknown field {printable(HOSTILE)} (1 times)" in lines


def test_an_error_naming_log_text_is_one_escaped_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no\nsuch\x1b[2J.log"
    assert main([str(missing), "-o", str(tmp_path / "out"), "--no-browser"]) == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and err.startswith("Error: ")
