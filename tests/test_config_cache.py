"""modules.yaml is validated once per change (tlparse_tasks/config_cache.py): a later run takes
the validated config from the user's cache without importing the modules, and any change to
what the validation read (modules.yaml, a module's source, a template) validates it again, so
a wrong config is still refused with its file, line and key."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tlparse_tasks import config
from tlparse_tasks.config import ConfigError, load_config
from tlparse_tasks.config_cache import cache_file, load_config_cached
from tlparse_tasks.resources import default_modules_yaml

MODULE = "cached_options_module"
SOURCE = '''\
from dataclasses import dataclass

from tlparse_tasks.module_api import ModuleOutput


@dataclass(frozen=True)
class Options:
    {field}


def render(ctx):
    return ModuleOutput()
'''
YAML = f"""\
version: 1
modules:
  - id: opts
    name: Options
    entry: {MODULE}:render
    subscriptions: [manifest.json]
    strategy: eager
    options: {{limit: 3}}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "on_path"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    (folder / f"{MODULE}.py").write_text(SOURCE.format(field="limit: int = 10"))
    yield folder
    sys.modules.pop(MODULE, None)


def counting_validations(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []

    def counted(path: Path) -> object:
        calls.append(path)
        return load_config(path)

    monkeypatch.setattr(config, "load_config", counted)
    return calls


@pytest.mark.usefixtures("cache")
def test_the_second_load_comes_from_the_cache_and_equals_a_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_validations(monkeypatch)
    first = load_config_cached(default_modules_yaml())
    second = load_config_cached(default_modules_yaml())
    assert calls == [default_modules_yaml()]
    assert first == second == load_config(default_modules_yaml())


@pytest.mark.usefixtures("cache")
def test_a_typo_after_a_cached_load_is_still_refused_with_file_line_and_key(tmp_path: Path,
                                                                            module_dir: Path) -> None:
    path = tmp_path / "modules.yaml"
    path.write_text(YAML)
    assert load_config_cached(path).modules[0].options == {"limit": 3}
    path.write_text(YAML.replace("limit: 3", "limt: 3"))
    with pytest.raises(ConfigError) as error:
        load_config_cached(path)
    assert str(error.value) == f"{path}:8: modules[opts].options.limt: unknown option (allowed: limit)"


@pytest.mark.usefixtures("cache")
def test_a_changed_module_source_is_validated_again(tmp_path: Path, module_dir: Path) -> None:
    path = tmp_path / "modules.yaml"
    path.write_text(YAML)
    load_config_cached(path)
    sys.modules.pop(MODULE, None)
    (module_dir / f"{MODULE}.py").write_text(SOURCE.format(field="size: int = 10"))
    with pytest.raises(ConfigError) as error:
        load_config_cached(path)
    assert "modules[opts].options.limit: unknown option (allowed: size)" in str(error.value)


@pytest.mark.usefixtures("cache")
def test_a_removed_template_is_noticed(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "mine.html").write_text("<p>mine</p>")
    path = tmp_path / "modules.yaml"
    path.write_text("version: 1\nmodules:\n  - id: trie\n    name: Trie\n"
                    "    entry: tlparse_tasks.modules.stack_trie:render\n"
                    "    subscriptions: [manifest.json]\n    strategy: eager\n    templates: [mine.html]\n")
    load_config_cached(path)
    (tmp_path / "templates" / "mine.html").unlink()
    with pytest.raises(ConfigError, match=r"no template named `mine\.html`"):
        load_config_cached(path)


@pytest.mark.parametrize("damage", [b"", b"{", b'{"stamp": [], "modules": [{"id": 1}]}', b"[]"])
def test_a_damaged_cache_is_validated_again_and_rewritten(cache: Path, damage: bytes,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    load_config_cached(default_modules_yaml())
    cache_file(default_modules_yaml()).write_bytes(damage)
    calls = counting_validations(monkeypatch)
    assert load_config_cached(default_modules_yaml()) == load_config(default_modules_yaml())
    load_config_cached(default_modules_yaml())
    assert calls == [default_modules_yaml()]


def test_an_unwritable_cache_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert load_config_cached(default_modules_yaml()) == load_config(default_modules_yaml())
    assert not os.path.isdir(blocked)
