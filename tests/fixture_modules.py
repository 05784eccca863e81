"""Report modules used only by tests (they exercise the module API from outside the package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tlparse_tasks.config import load_entry
from tlparse_tasks.module_api import IndexEntry, ModuleContext, ModuleOutput
from tlparse_tasks.parse.parser import parse_log
from tlparse_tasks.resources import default_modules_yaml, template_dirs

LEGACY = Path(__file__).resolve().parents[1] / ".legacy-venv" / "bin" / "tlparse"

# A modules.yaml with only the stack trie; tests append entries or edit it.
STACK_TRIE_ONLY_YAML = """\
version: 1
modules:
  - id: stack_trie
    name: Stack trie
    entry: tlparse_tasks.modules.stack_trie:render
    subscriptions: [manifest.json]
    strategy: eager
    templates: [stack_trie.html]
"""


def count_tensors(ctx: ModuleContext) -> ModuleOutput:
    """Counts tensor_metadata.jsonl records; subscribes to nothing else."""
    count = sum(1 for _ in ctx.read_jsonl("tensor_metadata.jsonl"))
    ctx.write_text("tensor_count.txt", str(count))
    return ModuleOutput(index_entries=[IndexEntry(section="tensors", title="Tensors",
                                                  html=f"<p>{count} tensor records</p>")])


def say_gc(ctx: ModuleContext) -> ModuleOutput:
    """Writes whether Python's garbage collector is on in the process that renders."""
    import gc

    ctx.write_text("gc.txt", str(gc.isenabled()))
    return ModuleOutput()


def modules_yaml_with(*ids: str) -> str:
    """A modules.yaml holding only these modules, their entries taken from the shipped one."""
    shipped = yaml.safe_load(default_modules_yaml().read_text())["modules"]
    chosen = [m for m in shipped if m["id"] in ids]
    assert [m["id"] for m in chosen] == [i for i in (m["id"] for m in shipped) if i in ids], ids
    return yaml.safe_dump({"version": 1, "modules": chosen}, sort_keys=False)


def render_alone(module_id: str, log: Path, out: Path, *, eager: bool = False,
                 options: dict[str, Any] | None = None) -> ModuleOutput:
    """Stage 1, then one shipped module in this process (no doit), for unit-level tests."""
    parse_log(log, out, stderr=None)
    spec = next(m for m in yaml.safe_load(default_modules_yaml().read_text())["modules"] if m["id"] == module_id)
    ctx = ModuleContext(module_id, out, options if options is not None else dict(spec.get("options") or {}),
                        {"eager": eager, "mode": "default"}, [str(d) for d in template_dirs()],
                        tuple(spec.get("templates") or ()))
    return load_entry(spec["entry"])(ctx)  # type: ignore[no-any-return]
