"""`doit log=LOG out=OUT [modules=a,b] [skip=c] [eager=1]` from the repository root.

A thin shim: the run config is built and validated by tlparse_tasks.run, exactly as for the
`tlparse` command, and the task creators are tlparse_tasks.tasks'. Importing this file for a
read-only command (`doit list`) writes nothing; other commands make OUT and lock it for the
whole doit process (one run per OUT), and `run` uses the runners of tlparse_tasks.workers.
"""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit import get_initial_workdir, get_var
from doit.exceptions import InvalidDodoFile

from tlparse_tasks.run import TRUE_WORDS, RunError, config_from_vars, dodo_doit_config, dodo_hold_out
from tlparse_tasks.tasks import generate_tasks

try:
    _cfg = config_from_vars(get_var, get_initial_workdir(), Path(__file__).resolve().parent)
    DOIT_CONFIG = dodo_doit_config(_cfg, sys.argv[1:])
    # one run per OUT: held until this doit process ends (`nowait=1`: fail at once if busy)
    _LOCK = dodo_hold_out(_cfg, sys.argv[1:], wait=str(get_var("nowait", "")).lower() not in TRUE_WORDS)
except RunError as error:  # doit prints these as one `ERROR: ...` line, no traceback
    raise InvalidDodoFile(str(error)) from None


def task_tlparse() -> Iterator[dict[str, Any]]:
    """parse → module:<id> → assemble"""
    yield from generate_tasks(_cfg)
