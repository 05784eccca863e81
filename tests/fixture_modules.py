"""Report modules used only by tests (they exercise the module API from outside the package)."""

from __future__ import annotations

from tlparse_tasks.module_api import IndexEntry, ModuleContext, ModuleOutput

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
