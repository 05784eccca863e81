"""Filesystem failures as one line: `<what> <path>: <reason>`.

A read-only or full disk, a permission problem or a symbolic link planted inside OUT is the
user's to fix, not a bug: the `tlparse` command prints it as one `Error: ...` line (exit 1), and a
doit action reports it as a task failure carrying that line (no traceback). The writers raise
`FsError`, which says what they were doing and names the full path (an `OSError` raised with a
directory descriptor only knows the last component).
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

#: The reason given for a symbolic link found inside OUT (see `link_refused`).
LINK_REASON = "links inside the output directory are not followed; remove it, or pass --overwrite"

F = TypeVar("F", bound=Callable[..., Any])


class FsError(OSError):
    """An OSError that knows what was being done (`what`) and the full path it concerns."""

    def __init__(self, what: str, code: int, reason: str, path: str | os.PathLike[str]) -> None:
        super().__init__(code, reason, os.fspath(path))
        self.what = what

    def __str__(self) -> str:
        return describe(self)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled across doit's worker processes
        return (FsError, (self.what, self.errno, self.strerror, self.filename))

    @classmethod
    def wrap(cls, what: str, error: OSError, path: str | os.PathLike[str]) -> FsError:
        """`error` restated about `path` (an already wrapped error is kept as it is)."""
        if isinstance(error, FsError):
            return error
        return cls(what, error.errno or errno.EIO, error.strerror or str(error), path)


def link_refused(path: str | os.PathLike[str]) -> FsError:
    """The error for a symbolic link met inside OUT, where a file or directory of ours belongs."""
    return FsError("will not write through the symbolic link", errno.ELOOP, LINK_REASON, path)


def describe(error: OSError) -> str:
    """`<what> <path>: <reason>` (no `Error:` prefix)."""
    what = error.what if isinstance(error, FsError) else "cannot access"
    reason = error.strerror or str(error)
    if error.filename is None:
        return f"{what}: {reason}"
    where = os.fsdecode(error.filename)
    if error.filename2 is not None:
        where += f" → {os.fsdecode(error.filename2)}"
    return f"{what} {where}: {reason}"


def one_line_errors(action: F) -> F:
    """A doit action whose filesystem failures fail its task with one line, not a traceback.

    doit keeps only the formatted traceback of an exception an action raises; a returned
    `TaskFailed` carries our message instead, and the reporter shows it as it is.
    """
    @functools.wraps(action)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except OSError as error:
            from doit.exceptions import TaskFailed

            return TaskFailed(describe(error))

    return run  # type: ignore[return-value]
