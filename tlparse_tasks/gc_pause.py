"""Python's garbage collector, paused while the command starts up.

Importing the tool's code and doit, validating nothing (the config is cached) and building the
tasks makes some hundred thousand objects, nearly none of them garbage, and the collector ran
~80 times over them: ~0.01 s of the ~0.16 s before a pool's workers start, every run. So the
`tlparse` command pauses it first thing (`paused`), and every process resumes it before it
does work that makes garbage (`resume`): the main process once its workers are forked or before
it runs tasks itself, a worker or the parse started ahead when it starts. A process forked
while it is paused inherits the pause, and resumes it the same way.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_paused = False


def pause() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Collect again, if `pause` stopped it (a collector someone else disabled stays off)."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Paused for the body, unless something resumed it before its end."""
    pause()
    try:
        yield
    finally:
        resume()
