"""doit's file check, without hashing what our own writers wrote.

Every module task lists the store files it reads as `file_dep`, so one store file is a
dependency of up to a dozen tasks, and doit's MD5Checker hashed it again for each of them when
it recorded a success: on a 99 MB log, 160 hashes of about 70 MB of store, 0.6 s of the main
process's CPU.

Two rules here:
- A file in the store (`intermediate/`) or a module record (`.modules/`) is written only by our
  atomic, change-only writers: unchanged bytes keep the file as it is, changed bytes arrive as a
  new file renamed over it. So its identity (device, inode, size, mtime) changes exactly when
  its bytes do, and that identity is its state: no hashing at all.
- Any other file (templates, a module's source, a user's extra file) keeps doit's rule,
  (mtime, size, md5), with each file version hashed once per run however many tasks list it.
"""

from __future__ import annotations

import os
from typing import Any

from doit.dependency import MD5Checker, get_file_md5

from .module_api import RECORDS_DIR
from .store.streams import STORE_DIR

#: Folders whose files only our atomic change-only writers write.
OWN_FOLDERS = frozenset({STORE_DIR, RECORDS_DIR})
#: Marks a state that is a file identity, not an md5 digest.
IDENTITY = "identity:"

_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


def file_md5(path: str, st: os.stat_result) -> str:
    """`path`'s md5, computed once per version of the file in this process."""
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        digest = _DIGESTS[key] = get_file_md5(path)
    return digest


def identity(st: os.stat_result) -> str:
    return f"{IDENTITY}{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def is_own(path: str) -> bool:
    """`path` lies in one of OWN_FOLDERS (by its string: doit asks for every file of every task)."""
    return os.path.basename(os.path.dirname(path)) in OWN_FOLDERS


def fingerprint(path: str, st: os.stat_result) -> str:
    """The third part of a file's state: its identity for our own files, else its md5."""
    return identity(st) if is_own(path) else file_md5(path, st)


class StoreAwareChecker(MD5Checker):  # type: ignore[misc]  # doit ships no type hints
    """doit's (mtime, size, md5) check, with identities for our own files."""

    def check_modified(self, file_path: str, file_stat: os.stat_result, state: Any) -> bool:
        timestamp, size, recorded = state
        if str(recorded).startswith(IDENTITY) or is_own(file_path):
            return bool(recorded != fingerprint(file_path, file_stat))
        if file_stat.st_mtime == timestamp:
            return False
        if file_stat.st_size != size:
            return True
        return bool(recorded != file_md5(file_path, file_stat))

    def get_state(self, dep: str, current_state: Any) -> Any:
        st = os.stat(dep)
        current = fingerprint(dep, st) if is_own(dep) else None
        if current_state and current_state[0] == st.st_mtime and (current is None or current_state[2] == current):
            return None
        return st.st_mtime, st.st_size, current if current is not None else file_md5(dep, st)
