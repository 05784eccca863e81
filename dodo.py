"""`doit log=LOG out=OUT [modules=a,b] [skip=c] [eager=1]` from the repository root.

A thin shim: the task creators live in tlparse_tasks.tasks, shared with the `tlparse` command.
"""

from doit import get_initial_workdir, get_var

from tlparse_tasks.dodo_support import config_from_vars
from tlparse_tasks.tasks import doit_config, generate_tasks

_cfg = config_from_vars(get_var, get_initial_workdir())
DOIT_CONFIG = doit_config(_cfg.out)


def task_tlparse():
    """parse → module:<id> → assemble"""
    yield from generate_tasks(_cfg)
