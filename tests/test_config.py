"""modules.yaml loading: typed specs and errors that name the file, the line and the key."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
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
    error = error_of(tmp_path, broken)  # libyaml says "did not find expected …", pure PyYAML "expected …"
    assert ":5: invalid YAML: " in error and "expected ',' or ']'" in error


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


# -- typed module options ----------------------------------------------------------------------

OPTIONS_MODULE = "options_fixture_module"  # written into tmp_path by the `options_module` fixture
DEFAULT_OPTIONS = '''\
    mode: Literal["fast", "slow"] = "fast"
    limit: int = 10
    ratio: float = 0.5
    label: str | None = None
    verbose: bool = False
'''


def options_module_source(options_body: str = DEFAULT_OPTIONS, decorator: str = "@dataclass(frozen=True)") -> str:
    """A report module whose `Options` has this body; it writes the options it got to options.json."""
    return f'''\
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from tlparse_tasks.module_api import ModuleOutput


{decorator}
class Options:
{options_body}

def render(ctx):
    ctx.write_text("options.json", json.dumps(ctx.options, sort_keys=True))
    return ModuleOutput()
'''


@pytest.fixture
def options_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Writes `options_fixture_module.py` on sys.path: the default source, or the test's own."""
    folder = tmp_path / "modules_on_path"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))

    def write_module(source: str) -> None:
        sys.modules.pop(OPTIONS_MODULE, None)
        (folder / f"{OPTIONS_MODULE}.py").write_text(source)

    write_module(options_module_source())
    yield write_module
    sys.modules.pop(OPTIONS_MODULE, None)


def with_options(options: str) -> str:
    """GOOD plus a module `opts` whose `options:` YAML (indented, may span lines) starts on line 14."""
    return GOOD + f"""\
  - id: opts
    name: Options
    entry: {OPTIONS_MODULE}:render
    subscriptions: [manifest.json]
    strategy: eager
{options}"""


@pytest.mark.usefixtures("options_module")
@pytest.mark.parametrize(("options", "line", "expected"), [
    ("    options: {mdoe: slow}\n", 14,
     "modules[opts].options.mdoe: unknown option (allowed: mode, limit, ratio, label, verbose)"),
    ("    options:\n      limit: 3\n      mdoe: slow\n", 16,
     "modules[opts].options.mdoe: unknown option (allowed: mode, limit, ratio, label, verbose)"),
    ("    options: {mode: quick}\n", 14, "modules[opts].options.mode: `quick` is not one of fast, slow"),
    ("    options: {mode: 3}\n", 14, "modules[opts].options.mode: expected one of fast, slow, not an integer"),
    ("    options:\n      limit: ten\n", 15, "modules[opts].options.limit: expected an integer, not a string"),
    ("    options: {limit: true}\n", 14, "modules[opts].options.limit: expected an integer, not a boolean"),
    ("    options: {limit: null}\n", 14, "modules[opts].options.limit: expected an integer, not null"),
    ("    options: {ratio: [1]}\n", 14, "modules[opts].options.ratio: expected a number, not a list"),
    ("    options: {label: 7}\n", 14, "modules[opts].options.label: expected a string, not an integer"),
    ("    options: {verbose: 'yes'}\n", 14, "modules[opts].options.verbose: expected a boolean, not a string"),
    ("    options: [mode]\n", 14, "modules[opts].options: expected a mapping"),
])
def test_option_errors_name_the_file_line_and_key(tmp_path: Path, options: str, line: int, expected: str) -> None:
    assert error_of(tmp_path, with_options(options)) == f"{tmp_path / 'modules.yaml'}:{line}: {expected}"


def test_valid_options_are_typed_and_defaults_fill_the_rest(tmp_path: Path, options_module: object) -> None:
    spec = load_text(tmp_path, with_options("    options: {mode: slow, ratio: 2, label: x}\n")).get("opts")
    assert spec.options == {"mode": "slow", "limit": 10, "ratio": 2.0, "label": "x", "verbose": False}
    assert type(spec.options["ratio"]) is float
    assert json.loads(json.dumps(spec.to_json()))["options"] == spec.options  # it goes into task digests
    assert load_text(tmp_path, with_options("")).get("opts").options == {
        "mode": "fast", "limit": 10, "ratio": 0.5, "label": None, "verbose": False}


def test_a_module_without_options_refuses_any(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "    options: {colour: blue}\n")
    assert message == (f"{tmp_path / 'modules.yaml'}:9: modules[stack_trie].options.colour: "
                       "unknown option (allowed: none; the module declares no options)")


def test_a_required_option_must_be_given(tmp_path: Path, options_module: Callable[[str], None]) -> None:
    options_module(options_module_source("    mode: Literal['fast', 'slow']\n    limit: int = 1\n"))
    assert ":14: modules[opts].options.mode: missing required option" in error_of(
        tmp_path, with_options("    options: {limit: 2}\n"))
    assert ":9: modules[opts].options.mode: missing required option" in error_of(tmp_path, with_options(""))
    assert load_text(tmp_path, with_options("    options: {mode: slow}\n")).get("opts").options == {
        "mode": "slow", "limit": 1}


@pytest.mark.parametrize(("body", "expected"), [
    ("    names: list[str] = ()\n", "unsupported option type `list[str]`"),
    ("    limit: int = 'ten'\n", "default of `limit`: expected an integer, not a string"),
    ("    limit: Missing = 1\n", "name 'Missing' is not defined"),
])
def test_a_bad_declaration_is_reported_at_the_entry(tmp_path: Path, options_module: Callable[[str], None],
                                                    body: str, expected: str) -> None:
    options_module(options_module_source(body))
    message = error_of(tmp_path, with_options(""))
    assert f":11: modules[opts].entry: `{OPTIONS_MODULE}.Options`: {expected}" in message


def test_options_must_be_a_dataclass(tmp_path: Path, options_module: Callable[[str], None]) -> None:
    options_module(options_module_source(decorator=""))
    assert f"`{OPTIONS_MODULE}.Options`: must be a dataclass" in error_of(tmp_path, with_options(""))


def test_the_shipped_drain_option_is_checked(tmp_path: Path) -> None:
    """The example from the brief: a typo in compilation_metrics' `drain` is one line, before any work."""
    shipped = default_modules_yaml().read_text()
    assert load_config(default_modules_yaml()).get("compilation_metrics").options == {"drain": "normalised"}
    for edit, expected in [(("drain:", "drian:"), "modules[compilation_metrics].options.drian: "
                                                  "unknown option (allowed: drain)"),
                           (("drain: normalised", "drain: normalized"), "modules[compilation_metrics].options"
                            ".drain: `normalized` is not one of legacy, normalised")]:
        text = shipped.replace(*edit)
        line = next(n for n, row in enumerate(text.splitlines(), 1) if edit[1] in row)
        assert error_of(tmp_path, text) == f"{tmp_path / 'modules.yaml'}:{line}: {expected}"


def test_valid_options_reach_the_module(tmp_path: Path, simple_log: Path, options_module: object) -> None:
    """Through the real command: the module's ctx.options are the checked values, defaults included."""
    from tlparse_tasks.cli import main

    config = tmp_path / "modules.yaml"
    config.write_text(with_options("    options:\n      mode: slow\n      limit: 3\n"))
    out = tmp_path / "out"
    assert main([str(simple_log), "-o", str(out), "--no-browser", "-j", "1", "--modules-config", str(config)]) == 0
    assert json.loads((out / "options.json").read_text()) == {
        "mode": "slow", "limit": 3, "ratio": 0.5, "label": None, "verbose": False}


def test_costs_are_seconds_per_gb_and_the_resumed_one_defaults_to_the_cost(tmp_path: Path) -> None:
    (spec,) = load_text(tmp_path, GOOD).modules
    assert spec.cost == spec.resumed_cost == 0.1 and "cost" not in spec.to_json()  # no output depends on them
    (spec,) = load_text(tmp_path, GOOD + "    cost: 12\n").modules
    assert spec.cost == spec.resumed_cost == 12
    (spec,) = load_text(tmp_path, GOOD + "    cost: 1.5\n    resumed_cost: 0\n").modules
    assert (spec.cost, spec.resumed_cost) == (1.5, 0)
    for key in ("cost", "resumed_cost"):
        for bad in ("many", "-3", "1e3", "1001", ".inf", "'2'"):
            error = error_of(tmp_path, GOOD + f"    {key}: {bad}\n")
            assert f":9: modules[stack_trie].{key}: expected a number of seconds per GB, from 0 to 1000" in error
