"""Report paths as link targets (rules/urls.py): the fast path for plain paths gives exactly
what percent-encoding gives, and paths that need encoding or are no report path are handled."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from tlparse_tasks.rules.urls import SEGMENT_SAFE, path_href, report_href
from tlparse_tasks.safepath import safe_href

PLAIN = st.text(alphabet="abcXYZ019_.~/!$&'()*+,;=@-", max_size=40)
ANY = st.one_of(PLAIN, st.text(max_size=40), st.builds(lambda a, b: a + b, PLAIN, st.text(max_size=5)))


def encoded(path: str) -> str:
    return quote(path, safe="/" + SEGMENT_SAFE, errors="surrogateescape")


def reference_report_href(url: str) -> str:
    if safe_href(url) != url or ":" in url.partition("/")[0]:
        return url
    return encoded(url)


@given(ANY)
def test_a_path_link_is_its_percent_encoding(path: str) -> None:
    assert path_href(path) == encoded(path)


@given(ANY)
def test_a_report_link_is_encoded_unless_it_is_no_report_path(url: str) -> None:
    assert report_href(url) == reference_report_href(url)


def test_examples() -> None:
    assert report_href("-_0_0_0/dynamo_output_graph_0.txt") == "-_0_0_0/dynamo_output_graph_0.txt"
    assert report_href("dump_file/a b#c.html") == "dump_file/a%20b%23c.html"
    assert report_href("javascript:alert(1)") == "javascript:alert(1)"  # left for safe_href to refuse
    assert path_href("x:y/z") == "x%3Ay/z"
    assert report_href("caf\u00e9/\udcff.txt") == "caf%C3%A9/%FF.txt"
