"""modules.yaml's types: the module specs it declares, and the typed options they check.

Apart from the YAML reading (config.py), so that a run whose validated config comes from the
cache (config_cache) never imports PyYAML.

A module's `options:` are typed by an `Options` dataclass beside its entry function (MkDocs
plugins declare their config the same way). They are checked here, before any work, so a typo
in modules.yaml is a one-line error instead of a traceback mid-run; defaults fill the rest.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

STRATEGIES = ("eager", "lazy", "hybrid")
MODES = ("default", "export", "multi_rank")
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
ENTRY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: A module's `cost` when modules.yaml gives none (seconds per GB): assumed cheap.
DEFAULT_COST = 0.1
MAX_COST = 1000
#: The dataclass, in the module that holds a module's entry function, that types its options.
OPTIONS_ATTRIBUTE = "Options"


class ConfigError(ValueError):
    """A modules.yaml problem, already phrased as `file:line: key: message`."""


@dataclass(frozen=True)
class ModuleSpec:
    """One report module as declared in modules.yaml."""

    id: str
    name: str
    entry: str
    subscriptions: tuple[str, ...]
    strategy: str
    modes: tuple[str, ...] = ("default",)
    templates: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: Seconds of CPU per GB of log it reads anew, only to start the heavy modules first so the
    #: workers finish together (tasks.task_meta); it changes no output, so it is not part of
    #: `to_json` (nor of any digest).
    cost: float = DEFAULT_COST
    #: Seconds of CPU per GB of the log before the parse's resume point, in a run that resumes
    #: (a module whose state carries that part over costs less than `cost` there). Without it in
    #: modules.yaml, `load_config` sets it to `cost`: a module without a state redoes everything.
    resumed_cost: float = DEFAULT_COST

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "entry": self.entry,
            "subscriptions": list(self.subscriptions), "strategy": self.strategy,
            "modes": list(self.modes), "templates": list(self.templates),
            "options": self.options, "description": self.description,
        }

    def to_full_json(self) -> dict[str, Any]:
        """Every field, the costs too: what the validated config's cache keeps of the spec."""
        return {**self.to_json(), "cost": self.cost, "resumed_cost": self.resumed_cost}

    @staticmethod
    def from_full_json(data: dict[str, Any]) -> ModuleSpec:
        return ModuleSpec(
            id=data["id"], name=data["name"], entry=data["entry"], subscriptions=tuple(data["subscriptions"]),
            strategy=data["strategy"], modes=tuple(data["modes"]), templates=tuple(data["templates"]),
            options=data["options"], description=data["description"], cost=data["cost"],
            resumed_cost=data["resumed_cost"],
        )


@dataclass(frozen=True)
class ModulesConfig:
    """modules.yaml as loaded and checked: where it is (templates resolve beside it) and its
    modules."""

    path: Path
    modules: tuple[ModuleSpec, ...]

    def for_mode(self, mode: str) -> list[ModuleSpec]:
        return [m for m in self.modules if mode in m.modes]

    def get(self, module_id: str) -> ModuleSpec:
        for module in self.modules:
            if module.id == module_id:
                return module
        raise KeyError(module_id)


def load_entry(entry: str) -> Callable[..., Any]:
    """Import `package.module:function`."""
    module_name, _, attr = entry.partition(":")
    module = importlib.import_module(module_name)
    function = getattr(module, attr)
    if not callable(function):
        raise TypeError(f"{entry} is not callable")
    return function  # type: ignore[no-any-return]


def entry_source(entry: str) -> str | None:
    """The Python file of an entry point `package.module:function`, found without importing it
    (None when the import path has no such module)."""
    try:
        found = importlib.util.find_spec(entry.partition(":")[0])
    except (ImportError, ValueError):
        return None
    return found.origin if found is not None and found.origin else None


# -- typed module options ----------------------------------------------------------------------

class OptionValueError(ValueError):
    """A value that does not fit its option's declared type; the message says why."""


_SCALARS: dict[type, str] = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
_KINDS: dict[type, str] = {**_SCALARS, type(None): "null", list: "a list", dict: "a mapping"}
_NO_DEFAULT = object()


@dataclass(frozen=True)
class OptionSpec:
    """One declared option: how to check a value and, unless it is required, its default."""

    name: str
    check: Callable[[Any], Any]  # the value to keep (JSON-serialisable), or OptionValueError
    default: Any = _NO_DEFAULT

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), f"a {type(value).__name__}")


def _scalar(kind: type, value: Any) -> Any:
    if type(value) is kind:  # `is`: a YAML boolean is no integer
        return value
    if kind is float and type(value) is int:
        return float(value)
    raise OptionValueError(f"expected {_SCALARS[kind]}, not {_kind(value)}")


def _choice(choices: tuple[Any, ...], value: Any) -> Any:
    if any(type(value) is type(choice) and value == choice for choice in choices):
        return value
    allowed = ", ".join(str(choice) for choice in choices)
    if any(type(value) is type(choice) for choice in choices):
        raise OptionValueError(f"`{value}` is not one of {allowed}")
    raise OptionValueError(f"expected one of {allowed}, not {_kind(value)}")


def _optional(check: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else check(value)


def _checker(annotation: Any) -> Callable[[Any], Any]:
    """The check for one option's annotation: bool, int, float, str, Literal[...] or `X | None`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal and all(type(arg) in _SCALARS for arg in args):
        return partial(_choice, args)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        return partial(_optional, _checker(inner))
    if annotation in _SCALARS:
        return partial(_scalar, annotation)
    raise TypeError(f"unsupported option type `{annotation}` (use bool, int, float, str, Literal[...] or X | None)")


def option_specs(declaration: Any) -> dict[str, OptionSpec]:
    """The options an `Options` dataclass declares, its defaults checked against their types."""
    if not (isinstance(declaration, type) and dataclasses.is_dataclass(declaration)):
        raise TypeError("must be a dataclass")
    hints = typing.get_type_hints(declaration)
    specs: dict[str, OptionSpec] = {}
    for option in dataclasses.fields(declaration):
        check = _checker(hints[option.name])
        default: Any = _NO_DEFAULT
        if option.default is not dataclasses.MISSING:
            default = option.default
        elif option.default_factory is not dataclasses.MISSING:
            default = option.default_factory()
        if default is not _NO_DEFAULT:
            try:
                default = check(default)
            except OptionValueError as error:
                raise TypeError(f"default of `{option.name}`: {error}") from None
        specs[option.name] = OptionSpec(option.name, check, default)
    return specs


def declared_options(entry: str) -> dict[str, OptionSpec]:
    """The options of the module whose entry point is `entry` (none without an `Options`)."""
    declaration = getattr(importlib.import_module(entry.partition(":")[0]), OPTIONS_ATTRIBUTE, None)
    return {} if declaration is None else option_specs(declaration)
