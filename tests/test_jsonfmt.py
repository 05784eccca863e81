"""serde_json's layout of numbers: `1e16`, never `1e+16`, and never a change inside a string."""

from __future__ import annotations

from tlparse_tasks.jsonfmt import serde_dumps


def test_large_exponents_lose_their_plus_outside_strings_only() -> None:
    assert serde_dumps({"a": 1e16, "b": 2.5e-7}) == b'{"a":1e16,"b":2.5e-7}'
    assert serde_dumps({"code": "x = 1e+16; type+1", "n": 1e300}) == b'{"code":"x = 1e+16; type+1","n":1e300}'
    assert serde_dumps(["size+", "e+"]) == b'["size+","e+"]'  # `e+` with no digit before it is text
    key = 'k"1e+5'  # an escaped quote inside a string ends no string
    assert serde_dumps({key: [3e20]}) == b'{"k\\"1e+5":[3e20]}'
