"""JSON bytes laid out as legacy's serde_json writes them (sorted keys, ryu floats).

orjson already writes shortest round-trip floats and raw UTF-8, but spells large exponents
`1e+16` where serde writes `1e16`; that one difference is fixed here, outside of strings.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_STRING_OR_EXPONENT = re.compile(rb'"(?:[^"\\]|\\.)*"|(?<=[0-9])e\+')
_DIGIT_EXPONENT = re.compile(rb"[0-9]e\+")  # a necessary condition, checked in one C pass


def _serde_exponents(data: bytes) -> bytes:
    """Payload text often holds `e+` (`type+`, `1e+3` in code); only `<digit>e+` can be an
    exponent, and only one outside a string is rewritten."""
    if b"e+" not in data or _DIGIT_EXPONENT.search(data) is None:
        return data
    return _STRING_OR_EXPONENT.sub(lambda m: m.group(0) if m.group(0)[:1] == b'"' else b"e", data)


def serde_dumps(value: Any, pretty: bool = False, sort_keys: bool = True) -> bytes:
    """serde_json's `to_string` (compact) or `to_string_pretty`; Values have sorted keys."""
    option = (orjson.OPT_SORT_KEYS if sort_keys else 0) | (orjson.OPT_INDENT_2 if pretty else 0)
    return _serde_exponents(orjson.dumps(value, option=option))
