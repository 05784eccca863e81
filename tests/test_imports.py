"""The package's modules import each other without a cycle (function-level imports included).

A cycle is how `cli` and `multi_rank` once leaned on each other; the graph is read from the
sources with `ast`, so an import hidden inside a function counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tlparse_tasks

PACKAGE = Path(tlparse_tasks.__file__).resolve().parent
NAME = "tlparse_tasks"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path, name: str) -> str:
    """The package a relative import in `path` starts from."""
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported_names(path: Path, name: str) -> set[str]:
    """Every `tlparse_tasks...` name `path` imports, anywhere in the file; `from X import y`
    counts both X and X.y (y may be a submodule)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_of(path, name).split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {n for n in found if n == NAME or n.startswith(NAME + ".")}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges = set()
        for target in imported_names(path, name):
            # `from . import x` may name an attribute, not a module: keep real modules only
            while target not in files and "." in target:
                target = target.rpartition(".")[0]
            if target in files and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path of names, or None (iterative DFS: no recursion limit to hit)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_graph_sees_relative_and_function_level_imports() -> None:
    graph = import_graph()
    assert "tlparse_tasks.run" in graph["tlparse_tasks.commands"]
    assert "tlparse_tasks.run" in graph["tlparse_tasks.multi_rank"]
    assert "tlparse_tasks.multi_rank" in graph["tlparse_tasks.commands"]  # imported inside a function
    assert "tlparse_tasks.commands" in graph["tlparse_tasks.cli"]  # likewise
    assert "tlparse_tasks.parse.parser" in graph["tlparse_tasks.actions"]  # likewise


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_package() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " → ".join(cycle or [])


def test_the_command_starts_hashing_the_log_before_it_imports_anything_costly() -> None:
    """cli.py forks the log's hashing helper (parse/digests.py) as soon as it has read its
    arguments: what it and the helper's module import by then must be cheap (~0.01 s), or the
    helper starts later than the rest of the start-up needs it."""
    code = ("import sys; import tlparse_tasks.cli, tlparse_tasks.parse.digests; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'orjson', 'doit', 'jinja2', 'yaml', 'dataclasses', 'hashlib', 'ctypes', 'threading'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_loading_the_config_leaves_pygments_to_the_processes_that_highlight() -> None:
    """The main process imports every module to check its options; Pygments (only --eager
    highlights, and its CSS is written once by a module) must not come with them: it costs
    every run start-up time and memory its forked workers would copy."""
    code = ("import sys; from tlparse_tasks.config import load_config; "
            "from tlparse_tasks.resources import default_modules_yaml; import tlparse_tasks.cli; "
            "load_config(default_modules_yaml()); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pygments'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
