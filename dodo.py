"""`doit log=LOG out=OUT [modules=a,b] [skip=c] [eager=1]` from the repository root.

A thin shim: the run config is built and validated by tlparse_tasks.run, exactly as for the
`tlparse` command, and the task creators are tlparse_tasks.tasks'. Importing this file writes
nothing; OUT and its dependency DB are made only for commands that run or forget tasks.
"""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit import get_initial_workdir, get_var
from doit.exceptions import InvalidDodoFile

from tlparse_tasks.run import RunError, config_from_vars, dodo_doit_config
from tlparse_tasks.tasks import generate_tasks

try:
    _cfg = config_from_vars(get_var, get_initial_workdir(), Path(__file__).resolve().parent)
except RunError as error:  # doit prints these as one `ERROR: ...` line, no traceback
    raise InvalidDodoFile(str(error)) from None
DOIT_CONFIG = dodo_doit_config(_cfg, sys.argv[1:])


def task_tlparse() -> Iterator[dict[str, Any]]:
    """parse → module:<id> → assemble"""
    yield from generate_tasks(_cfg)
