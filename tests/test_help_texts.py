"""The index explains what it shows: the stack trie's compile-id forms and what each graph kind
in the compile directory is (collapsed help texts, in lazy and eager reports alike)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import LEGACY_TESTS, corpus_copy
from tlparse_tasks.cli import main

GRAPH_KINDS = ("dynamo_output_graph", "aot_forward_graph", "aot_backward_graph", "aot_joint_graph",
               "inductor_post_grad_graph", "inductor_output_code")
COMPILE_ID_FORMS = ("[0/0]", "[0/1]", "[0/0_1]", "[!0/1/0]", "[-/-]")


def help_blocks(index: Path) -> list[str]:
    html = index.read_text()
    return re.findall(r'<details class="tlp-help">(.*?)</details>', html, re.S)


@pytest.mark.parametrize("eager", [False, True], ids=["lazy", "eager"])
def test_the_index_explains_graph_kinds_and_compile_ids(tmp_path: Path, eager: bool) -> None:
    log = corpus_copy(LEGACY_TESTS / "simple.log", tmp_path)
    out = tmp_path / "out"
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1", *(["--eager"] if eager else [])]) == 0
    blocks = help_blocks(out / "index.html")
    assert len(blocks) == 2
    text = "\n".join(blocks)
    for kind in GRAPH_KINDS:
        assert f"<code>{kind}</code>" in text, kind
    for form in COMPILE_ID_FORMS:
        assert f"<code>{form}</code>" in text, form
    assert "<summary>" in text  # collapsed until opened
