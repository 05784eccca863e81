"""modules.yaml loading: typed specs and errors that name the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixture_modules import STACK_TRIE_ONLY_YAML
from tlparse_tasks.config import ConfigError, load_config
from tlparse_tasks.resources import default_modules_yaml

GOOD = STACK_TRIE_ONLY_YAML


def load_text(tmp_path: Path, text: str):
    path = tmp_path / "modules.yaml"
    path.write_text(text)
    return load_config(path)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    return str(caught.value)


def test_the_shipped_modules_yaml_loads() -> None:
    config = load_config(default_modules_yaml())
    ids = [m.id for m in config.modules]
    assert ids[0] == "stack_trie" and {"compile_directory", "compile_artifacts", "raw"} <= set(ids)
    assert config.get("compile_directory").subscriptions == ("manifest.json", "index.jsonl")


def test_a_valid_file_gives_typed_specs(tmp_path: Path) -> None:
    (spec,) = load_text(tmp_path, GOOD).modules
    assert spec.strategy == "eager" and spec.modes == ("default",) and spec.options == {}


@pytest.mark.parametrize(("edit", "line", "expected"), [
    (("    strategy: eager\n", "    strategy: sometimes\n"), 7,
     "modules[stack_trie].strategy: `sometimes` is not one of eager, lazy, hybrid"),
    (("    strategy: eager\n", "    strategy: eager\n    colour: blue\n"), 8,
     "modules[0].colour: unknown key"),
    (("[manifest.json]", "[manifest.json, nope.jsonl]"), 6,
     "modules[stack_trie].subscriptions: `nope.jsonl` is not an intermediate file"),
    (("tlparse_tasks.modules.stack_trie:render", "tlparse_tasks.modules.missing:render"), 5,
     "modules[stack_trie].entry: cannot import `tlparse_tasks.modules.missing:render`: ModuleNotFoundError"),
    (("tlparse_tasks.modules.stack_trie:render", "tlparse_tasks.modules.stack_trie:nothing"), 5,
     "cannot import `tlparse_tasks.modules.stack_trie:nothing`: AttributeError"),
    (("tlparse_tasks.modules.stack_trie:render", "not an entry"), 5,
     "modules[stack_trie].entry: `not an entry` is not `package.module:function`"),
    (("    name: Stack trie\n", ""), 3, "modules[0].name: missing required key"),
    (("[stack_trie.html]", "[nowhere.html]"), 8, "modules[stack_trie].templates: no template named `nowhere.html`"),
    (("    strategy: eager\n", "    strategy: eager\n    modes: [sometimes]\n"), 8,
     "modules[stack_trie].modes: `sometimes` is not one of default, export, multi_rank"),
    (("  - id: stack_trie", "  - id: Stack-Trie"), 3, "modules[0].id: `Stack-Trie` must be lower case"),
    (("version: 1\n", "version: 1\nextra: true\n"), 2, "extra: unknown key"),
    (("    strategy: eager\n", "    strategy: [eager]\n"), 7, "modules[stack_trie].strategy: expected a string"),
])
def test_errors_name_the_line_and_key(tmp_path: Path, edit: tuple[str, str], line: int, expected: str) -> None:
    message = error_of(tmp_path, GOOD.replace(*edit))
    assert message.startswith(f"{tmp_path / 'modules.yaml'}:{line}: ")
    assert expected in message


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    text = GOOD + GOOD.split("modules:\n", 1)[1]
    assert ":9: modules[1].id: duplicate module id `stack_trie`" in error_of(tmp_path, text)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    broken = GOOD.replace("    name: Stack trie", "    name: [unclosed")
    assert ":5: invalid YAML: expected ',' or ']'" in error_of(tmp_path, broken)


def test_yaml_1_1_booleans_are_not_strings(tmp_path: Path) -> None:
    """`name: no` is a boolean in YAML 1.1; say so rather than render "False"."""
    assert "modules[stack_trie].name: expected a string" in error_of(
        tmp_path, GOOD.replace("name: Stack trie", "name: no"))


def test_cli_reports_config_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tlparse_tasks.cli import main

    (tmp_path / "modules.yaml").write_text(GOOD.replace("eager\n", "sometimes\n", 1))
    assert main(["--modules-config", str(tmp_path / "modules.yaml"), "--list-modules"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and ":7: modules[stack_trie].strategy" in err[0]
