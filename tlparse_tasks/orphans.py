"""No orphans: a process this tool forks dies with the process that forked it, however that one
dies (`kill -9` included), instead of running on, unseen, holding OUT's lock (an flock its
descriptor shares) and writing into OUT."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """In a forked process: be killed when `parent` dies (Linux); exit at once if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
