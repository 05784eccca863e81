"""With workers, the costliest ready tasks start first (modules.yaml `cost`), through doit's own
dispatcher: this guards the hook in workers.py against a doit upgrade."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TORCH_213, corpus_copy
from tlparse_tasks.cli import main
from tlparse_tasks.config import load_config
from tlparse_tasks.resources import default_modules_yaml
from tlparse_tasks.run import Outcome


def test_the_two_costliest_modules_start_first_once_the_parse_is_done(tmp_path: Path) -> None:
    log = corpus_copy(next((TORCH_213 / "02_training").glob("*.log")), tmp_path)
    assert main([str(log), "-o", str(tmp_path / "out"), "-j", "2", "--no-browser"]) == 0
    assert Outcome.last is not None
    started = Outcome.last.executed
    modules = sorted(load_config(default_modules_yaml()).for_mode("default"), key=lambda m: -m.cost)
    costliest = {f"module:{m.id}" for m in modules[:2]}
    assert started[0] == "parse" and set(started[1:3]) == costliest, started
    assert started[-1] == "assemble"
