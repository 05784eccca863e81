"""Twin renderers: static/highlight.js (in Chromium) and Pygments must class code alike.

Lazy code pages are coloured in the browser by our own highlighter and --eager pages by
Pygments at build time; both use pygments.css, so they look alike only if they give each
character the same token class. These tests run highlight.js on a blank page over real code
from the corpus (inductor output code, FX graphs, AOTInductor's C++) and compare it with
Pygments, character by character.

Documented differences (see the header of highlight.js) concern only non-ASCII identifiers and
digits and C++26 annotations; the corpus has none, so every class must agree here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES

from tests.conftest import TORCH_213, corpus_copy
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.resources import TEMPLATE_DIR

pytestmark = pytest.mark.browser

SCRIPT = TEMPLATE_DIR / "static" / "highlight.js"
SAMPLE_LOGS = {
    "01_simple": TORCH_213 / "01_simple" / "dedicated_log_torch_trace_hv_7_v3h.log",
    "02_training": TORCH_213 / "02_training" / "dedicated_log_torch_trace_aambwkd9.log",
    "12_aoti": TORCH_213 / "12_aoti" / "dedicated_log_torch_trace_oqcjbh8_.log",
}
# Token kinds a reader relies on: keywords, def/class names, strings, numbers, comments, names.
KINDS_THAT_MATTER = ("k", "n", "s", "m", "c")

# Python features the corpus lacks, in one snippet (same comparison).
EDGE_CASES = '''#!/usr/bin/env python
"""Module docstring."""
from __future__ import annotations
import os.path as osp, sys
from .pkg import (a, b)
raise ValueError("x") from None

@decorator.attr
class Foo(Base, metaclass=Meta):
    r\'\'\'Raw docstring with %s and {0}.\'\'\'
    def __init__(self, x: int = 0x1F, y=1_000.5e-3, z=0o17, w=0b101, j=3j) -> None:
        self.x = f"{x!r:>10} and {{literal}} {y = }"
        self.y = rb'raw\\bytes' + b"\\x00\\n" + u"\\N{BULLET} \\u00e9"
        print(len([i async for i in aiter()]), Ellipsis, NotImplemented, __name__)
        lambda q: q @ w
        return

    async def method(self, *args, **kwargs):
        await other(); del args[0]; global g; assert g is not None

match command.split():
    case [action, _]:
        pass
    case _:
        yield from gen()
x = 'unterminated
y = 1 if not x else 2 ** 3 // 4  # comment
'''


def pygments_class(token: Any) -> str:
    """The CSS class HtmlFormatter gives a token (its nearest standard ancestor's)."""
    while token not in STANDARD_TYPES:
        token = token.parent
    return str(STANDARD_TYPES[token])


def per_char(tokens: Iterator[tuple[str, str]] | list[Any]) -> list[str]:
    classes: list[str] = []
    for cls, value in tokens:
        classes.extend([cls] * len(value))
    return classes


def pygments_classes(text: str, language: str) -> list[str]:
    lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    return per_char((pygments_class(t), v) for t, v in lexer.get_tokens(text))


def first_mismatches(text: str, ours: list[str], theirs: list[str], limit: int = 5) -> list[str]:
    """Where the classes differ on a kind that matters, with some context."""
    found = []
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a != b and (a.startswith(KINDS_THAT_MATTER) or b.startswith(KINDS_THAT_MATTER)):
            found.append(f"at {i} {text[max(0, i - 25):i + 25]!r}: highlight.js {a!r}, Pygments {b!r}")
            if len(found) == limit:
                break
    return found


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    """(name, language, code): every distinct code payload of the sample logs, from stage 1."""
    found: list[tuple[str, str, str]] = [("edge cases", "python", EDGE_CASES)]
    for name, log in SAMPLE_LOGS.items():
        tmp = tmp_path_factory.mktemp(name)
        out = tmp / "out"
        parse_log(corpus_copy(log, tmp), out, stderr=None)
        seen: set[str] = set()
        for stream in ("codegen.jsonl", "graphs.jsonl", "artifacts.jsonl"):
            for line in (out / "intermediate" / stream).read_text().splitlines():
                record = json.loads(line)
                payload, meta = record.get("payload") or "", record.get("metadata") or {}
                if not payload or payload in seen or meta.get("encoding") == "json":
                    continue
                seen.add(payload)
                cpp = meta.get("type") == "cpp" or str(meta.get("filename", "")).endswith(".cpp")
                found.append((f"{name} line {record['line']} {record['type']}", "cpp" if cpp else "python", payload))
    languages = [language for _, language, _ in found]
    assert languages.count("python") > 20 and languages.count("cpp") >= 2
    return found


@pytest.fixture(scope="module")
def blank(browser: Any) -> Iterator[Any]:
    """A blank page with highlight.js loaded (it finds no code block there and waits)."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<!DOCTYPE html><title>blank</title>")
    page.add_script_tag(path=str(SCRIPT))
    yield page
    context.close()


def browser_classes(page: Any, text: str, language: str) -> list[str]:
    return per_char(page.evaluate("([t, l]) => TLPHighlight.tokenize(t, l)", [text, language]))


def test_highlight_js_classes_agree_with_pygments_on_corpus_code(blank: Any,
                                                                 samples: list[tuple[str, str, str]]) -> None:
    problems = []
    for name, language, code in samples:
        ours, theirs = browser_classes(blank, code, language), pygments_classes(code, language)
        assert len(ours) == len(code) == len(theirs), name  # every character classed once
        if mismatches := first_mismatches(code, ours, theirs):
            problems.append(f"{name} ({language}): " + "; ".join(mismatches))
    assert not problems, "\n".join(problems)


def test_every_class_agrees_not_only_the_important_ones(blank: Any, samples: list[tuple[str, str, str]]) -> None:
    """Operators, punctuation and whitespace too: the pages should be indistinguishable."""
    for name, language, code in samples:
        ours, theirs = browser_classes(blank, code, language), pygments_classes(code, language)
        differing = sum(a != b for a, b in zip(ours, theirs, strict=True))
        assert differing == 0, f"{name}: {differing} characters classed differently"


def test_the_kinds_that_matter_are_present(blank: Any) -> None:
    """The comparison is not vacuous: the snippet yields every kind a reader looks for."""
    classes = set(browser_classes(blank, EDGE_CASES, "python"))
    for expected in ("k", "kn", "kc", "nf", "nc", "nd", "nn", "s1", "s2", "sd", "sa", "si", "se",
                     "mi", "mf", "mh", "mo", "mb", "c1", "ch", "o", "ow", "p", "nb", "bp", "fm", "vm", "ne"):
        assert expected in classes, expected


def test_markup_in_code_stays_text(blank: Any) -> None:
    """Code is untrusted: tokens are text, and the HTML the page builds escapes it."""
    code = 'x = "<img src=x onerror=alert(1)>"  # </pre><script>alert(2)</script>\n'
    page = blank
    page.evaluate("""(code) => {
        const pre = document.createElement('pre');
        pre.className = 'tlp-code'; pre.dataset.lang = 'python';
        const chunk = document.createElement('span'); chunk.className = 'tlp-chunk';
        const line = document.createElement('span'); line.className = 'tlp-line'; line.id = 'L1';
        line.textContent = code.slice(0, -1);
        chunk.append(line, '\\n'); pre.append(chunk); document.body.append(pre);
        return new Promise((done) => TLPHighlight.highlightBlock(pre, done));
    }""", code)
    assert page.locator("pre.tlp-code").get_attribute("data-highlight") == "done"
    assert page.locator("pre.tlp-code").text_content() == code
    assert page.locator("pre.tlp-code img, pre.tlp-code script").count() == 0
    assert page.locator("pre.tlp-code span.s2").first.text_content() == '"<img src=x onerror=alert(1)>"'
    assert page.locator("pre.tlp-code span.c1").text_content() == "# </pre><script>alert(2)</script>"


def test_repeated_code_is_highlighted_once_within_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from tlparse_tasks.modules import code_html

    calls: list[str] = []
    real = code_html._highlight
    monkeypatch.setattr(code_html, "_highlight", lambda code, language: calls.append(code) or real(code, language))
    cache = code_html.HighlightCache(budget=2_000)
    monkeypatch.setattr(code_html, "_HIGHLIGHTED", cache)
    first = code_html.highlighted_code_body("def f(x):\n    return x + 1\n")
    assert code_html.highlighted_code_body("def f(x):\n    return x + 1\n") == first and len(calls) == 1
    cpp = code_html.highlighted_code_body("int main() {}\n", "cpp")
    assert cpp != code_html.highlighted_code_body("int main() {}\n")  # the language is part of the key
    for n in range(50):
        code_html.highlighted_code_body(f"y = {n}\n" * 5)
    assert cache.size <= 2_000 and len(cache.bodies) < 50
