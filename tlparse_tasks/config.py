"""modules.yaml: the one place report modules are declared, read and validated here.

Validation is strict and specific, in the manner of MkDocs' config schema: every error names
the file, the line and the key, unknown keys are refused, subscriptions must name real
intermediate files, and every entry point must import. The types it fills (and the typed
`Options` of each module) are config_types'; they are re-exported here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .config_types import (
    DEFAULT_COST,
    ENTRY_PATTERN,
    ID_PATTERN,
    MAX_COST,
    MODES,
    OPTIONS_ATTRIBUTE,
    STRATEGIES,
    ConfigError,
    ModulesConfig,
    ModuleSpec,
    OptionSpec,
    OptionValueError,
    declared_options,
    load_entry,
)
from .resources import template_path
from .store.streams import SUBSCRIBABLE_FILES

__all__ = ["ConfigError", "ModuleSpec", "ModulesConfig", "OptionSpec", "OptionValueError", "declared_options",
           "load_config", "load_entry"]


class _Reader:
    """Walks the YAML node tree so errors can point at lines."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, where: str, message: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else 1
        return ConfigError(f"{self.path}:{line}: {where}: {message}")

    def mapping(self, node: yaml.Node, where: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "expected a mapping")
        result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, where, "keys must be plain strings")
            if key in result:
                raise self.fail(key_node, f"{where}.{key}", "duplicate key")
            result[key] = (key_node, value_node)
        return result

    def string(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            raise self.fail(node, where, "expected a string")
        return str(node.value)

    def string_list(self, node: yaml.Node, where: str) -> list[tuple[yaml.Node, str]]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, where, "expected a list of strings")
        return [(item, self.string(item, f"{where}[{i}]")) for i, item in enumerate(node.value)]


#: libyaml's loader when PyYAML was built with it (it keeps the line marks errors need), five
#: times faster than the pure-Python one on modules.yaml; every run pays for this load.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MODULE_KEYS = {"id", "name", "entry", "subscriptions", "strategy", "modes", "templates",
                "options", "description", "cost", "resumed_cost"}
_REQUIRED = ("id", "name", "entry", "subscriptions", "strategy")


def load_config(path: Path, check_entries: bool = True) -> ModulesConfig:
    """Read and validate modules.yaml."""
    reader = _Reader(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {error.problem}") from None
    if root is None:
        raise ConfigError(f"{path}:1: the file is empty; expected `modules:`")
    top = reader.mapping(root, "modules.yaml")
    for key, (key_node, _) in top.items():
        if key not in ("version", "modules"):
            raise reader.fail(key_node, key, "unknown key (expected `version`, `modules`)")
    if "version" in top:
        version_node = top["version"][1]
        if version_node.value != "1":
            raise reader.fail(version_node, "version", "only version 1 is supported")
    if "modules" not in top:
        raise reader.fail(root, "modules", "missing key")
    modules_node = top["modules"][1]
    if not isinstance(modules_node, yaml.SequenceNode):
        raise reader.fail(modules_node, "modules", "expected a list of modules")
    specs: list[ModuleSpec] = []
    seen: set[str] = set()
    for index, node in enumerate(modules_node.value):
        spec = _module(reader, node, f"modules[{index}]", check_entries)
        if spec.id in seen:
            raise reader.fail(node, f"modules[{index}].id", f"duplicate module id `{spec.id}`")
        seen.add(spec.id)
        specs.append(spec)
    return ModulesConfig(path, tuple(specs))


def _module(reader: _Reader, node: yaml.Node, where: str, check_entries: bool) -> ModuleSpec:
    """One `modules:` item; `where` names it in errors until its id is known."""
    fields = reader.mapping(node, where)
    for key, (key_node, _) in fields.items():
        if key not in _MODULE_KEYS:
            raise reader.fail(key_node, f"{where}.{key}",
                              f"unknown key (allowed: {', '.join(sorted(_MODULE_KEYS))})")
    for key in _REQUIRED:
        if key not in fields:
            raise reader.fail(node, f"{where}.{key}", "missing required key")

    def value(key: str) -> yaml.Node:
        return fields[key][1]

    module_id = reader.string(value("id"), f"{where}.id")
    if not ID_PATTERN.match(module_id):
        raise reader.fail(value("id"), f"{where}.id",
                          f"`{module_id}` must be lower case letters, digits and _")
    where = f"modules[{module_id}]"
    name = reader.string(value("name"), f"{where}.name")
    entry = reader.string(value("entry"), f"{where}.entry")
    if not ENTRY_PATTERN.match(entry):
        raise reader.fail(value("entry"), f"{where}.entry", f"`{entry}` is not `package.module:function`")
    if check_entries:
        try:
            load_entry(entry)
        except Exception as error:
            raise reader.fail(value("entry"), f"{where}.entry",
                              f"cannot import `{entry}`: {type(error).__name__}: {error}") from None
    subscriptions = []
    for item, subscription in reader.string_list(value("subscriptions"), f"{where}.subscriptions"):
        if subscription not in SUBSCRIBABLE_FILES:
            raise reader.fail(item, f"{where}.subscriptions",
                              f"`{subscription}` is not an intermediate file "
                              f"(one of: {', '.join(SUBSCRIBABLE_FILES)})")
        subscriptions.append(subscription)
    strategy = reader.string(value("strategy"), f"{where}.strategy")
    if strategy not in STRATEGIES:
        raise reader.fail(value("strategy"), f"{where}.strategy",
                          f"`{strategy}` is not one of {', '.join(STRATEGIES)}")
    modes: list[str] = ["default"]
    if "modes" in fields:
        modes = []
        for item, mode in reader.string_list(value("modes"), f"{where}.modes"):
            if mode not in MODES:
                raise reader.fail(item, f"{where}.modes", f"`{mode}` is not one of {', '.join(MODES)}")
            modes.append(mode)
    templates: list[str] = []
    if "templates" in fields:
        for item, template in reader.string_list(value("templates"), f"{where}.templates"):
            if template_path(template, reader.path.parent) is None:
                raise reader.fail(item, f"{where}.templates", f"no template named `{template}`")
            templates.append(template)
    options = _options(reader, node, fields, where, check_entries)
    description = reader.string(value("description"), f"{where}.description") if "description" in fields else ""
    cost = _cost(reader, value("cost"), f"{where}.cost") if "cost" in fields else DEFAULT_COST
    resumed_cost = _cost(reader, value("resumed_cost"), f"{where}.resumed_cost") \
        if "resumed_cost" in fields else cost
    return ModuleSpec(module_id, name, entry, tuple(subscriptions), strategy, tuple(modes),
                      tuple(templates), options, description, cost, resumed_cost)


def _cost(reader: _Reader, node: yaml.Node, where: str) -> float:
    """`cost:` and `resumed_cost:` are seconds of CPU per GB of log: a number from 0 to 1000
    (written plainly, as `3` or `0.25`)."""
    text = str(node.value) if isinstance(node, yaml.ScalarNode) and node.tag in (
        "tag:yaml.org,2002:int", "tag:yaml.org,2002:float") else ""
    if not re.fullmatch(r"[0-9]{1,4}(\.[0-9]{1,6})?", text) or float(text) > MAX_COST:
        raise reader.fail(node, where, f"expected a number of seconds per GB, from 0 to {MAX_COST}")
    return float(text)


def _options(reader: _Reader, module_node: yaml.Node, fields: dict[str, tuple[yaml.Node, yaml.Node]],
             where: str, check_entries: bool) -> dict[str, Any]:
    """A module's `options:`, checked against the `Options` its entry's module declares.

    Without `check_entries` nothing is imported, so nothing is declared: options stay as written.
    """
    node = fields["options"][1] if "options" in fields else None
    if node is not None and not isinstance(node, yaml.MappingNode):
        raise reader.fail(node, f"{where}.options", "expected a mapping")
    if not check_entries:
        return (yaml.safe_load(yaml.serialize(node)) or {}) if node is not None else {}
    entry_node = fields["entry"][1]
    try:
        declared = declared_options(entry_node.value)
    except (TypeError, NameError) as error:
        declaration = f"{entry_node.value.partition(':')[0]}.{OPTIONS_ATTRIBUTE}"
        raise reader.fail(entry_node, f"{where}.entry", f"`{declaration}`: {error}") from None
    return _checked_options(reader, node, module_node, f"{where}.options", declared)


def _checked_options(reader: _Reader, node: yaml.Node | None, module_node: yaml.Node, where: str,
                     declared: dict[str, OptionSpec]) -> dict[str, Any]:
    """`options:` (`node`, None when absent) checked against their declaration, defaults filled
    in, in declared order."""
    given = reader.mapping(node, where) if node is not None else {}
    allowed = ", ".join(declared) or "none; the module declares no options"
    for key, (key_node, _) in given.items():
        if key not in declared:
            raise reader.fail(key_node, f"{where}.{key}", f"unknown option (allowed: {allowed})")
    options: dict[str, Any] = {}
    for name, spec in declared.items():
        if name not in given:
            if spec.required:
                raise reader.fail(node if node is not None else module_node, f"{where}.{name}",
                                  "missing required option")
            options[name] = spec.default
            continue
        value_node = given[name][1]
        try:
            options[name] = spec.check(yaml.safe_load(yaml.serialize(value_node)))
        except OptionValueError as error:
            raise reader.fail(value_node, f"{where}.{name}", str(error)) from None
    return options
