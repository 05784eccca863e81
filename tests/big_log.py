"""Synthetic TORCH_TRACE logs with many compile ids, for the big-index test and scripts/index-timing.

Each compile is small and complete (a stack, a graph, an artifact, metrics). Compile `i` gets
frame id `i // recompiles` and compile number `i % recompiles`, so frames recompile as they do
in real logs; frames are called from `call_sites` different lines, so the stack trie has that
many leaves, each holding many compile ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.logs import cid, entry

USER_FILE = "/home/user/model.py"
RUNNER_FILE = "/home/user/train.py"


def compile_id_of(index: int, recompiles: int) -> tuple[int, int]:
    """(frame id, frame compile id) of the index-th compile."""
    return index // recompiles, index % recompiles


def display_id(frame: int, compile_: int) -> str:
    """How the report names a first-attempt compile id, e.g. `[3/1]`."""
    return f"[{frame}/{compile_}]"


def one_compile(index: int, recompiles: int, call_sites: int) -> str:
    """The log lines of the index-th compile: dynamo_start, a graph, a cache artifact, metrics."""
    frame, compile_ = compile_id_of(index, recompiles)
    ids = cid(frame, compile_)
    stack = [{"line": 5, "name": "main", "filename": 1},
             {"line": 100 + frame % call_sites, "name": "train_step", "filename": 1},
             {"line": 10 + frame % 7, "name": f"forward_{frame % 7}", "filename": 0}]
    status = "miss" if index % 3 else "hit"
    return "".join([
        entry({"dynamo_start": {"stack": stack}, **ids}),
        entry({"dynamo_output_graph": {"sizes": {"x": [index % 9 + 1]}}, **ids},
              f"class GraphModule(torch.nn.Module):\n    def forward(self, x):  # compile {index}\n        return x"),
        entry({"artifact": {"name": f"fx_graph_cache_{status}", "encoding": "json"}, **ids}, f'{{"key": {index}}}'),
        entry({"compilation_metrics": {"graph_op_count": index % 5, "restart_reasons": []}, **ids}),
    ])


def synthetic_lines(count: int, *, recompiles: int = 2, call_sites: int = 50,
                    user_file: str = USER_FILE) -> Iterator[str]:
    """The whole log, streamed: the string table, then `count` compiles."""
    yield entry({"str": [user_file, 0]})
    yield entry({"str": [RUNNER_FILE, 1]})
    for index in range(count):
        yield one_compile(index, recompiles, call_sites)


def write_synthetic_log(path: Path, count: int, *, recompiles: int = 2, call_sites: int = 50,
                        user_file: str = USER_FILE) -> Path:
    """Write a log with `count` compile ids to path (streamed; 20,000 ids are about 20 MB).
    `user_file` names the innermost frames' file (e.g. markup, to check it stays text)."""
    with open(path, "w", encoding="utf-8") as handle:
        for text in synthetic_lines(count, recompiles=recompiles, call_sites=call_sites, user_file=user_file):
            handle.write(text)
    return path


def expected_display_ids(count: int, recompiles: int = 2) -> list[str]:
    """The compile ids the report must offer, in log order."""
    return [display_id(*compile_id_of(i, recompiles)) for i in range(count)]
