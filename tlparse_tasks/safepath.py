"""Paths inside the output directory: names from a log, and walks that follow no link.

Every artifact, dump_file, graph_dump and inductor filename comes from an untrusted log.
Ordinary names (letters, digits, `._-`) pass unchanged so paths match the legacy layout;
anything else is rewritten, and over-long names are cut and tagged with a digest.

Inside OUT nothing is followed. OUT itself may be a symbolic link (the user chose it), but a
link found below it, where one of our files or directories belongs, is refused: `open_dir`
walks from OUT one component at a time with `O_NOFOLLOW` and raises `link_refused` (a one-line
error naming the link) instead of going through it. The link is left in place for the user to
look at; `--overwrite` removes it (without following it).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .fserrors import FsError, link_refused

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=,@#$%^&()\[\]{}~ -]")
MAX_NAME_BYTES = 150


def safe_component(name: str, fallback: str = "unnamed") -> str:
    """One path component: no separators, no leading dots, no control characters, bounded."""
    cleaned = _UNSAFE.sub("_", name).strip(" ")
    cleaned = cleaned.lstrip(".")
    if not cleaned:
        cleaned = fallback
    if len(cleaned.encode()) > MAX_NAME_BYTES:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        cleaned = cleaned.encode()[: MAX_NAME_BYTES - 13].decode("utf-8", "ignore") + "-" + digest
    return cleaned


def inside(root: Path, relative: str) -> Path:
    """`root/relative` for a relative path of plain components (no `..`, `.`, empty or absolute
    part). Symbolic links on the way are refused when the file is written (`open_dir`)."""
    return root.joinpath(*plain_parts(relative))


def plain_parts(relative: str) -> list[str]:
    """The components of a relative path of plain components; ValueError for any other."""
    if os.path.isabs(relative) or "\\" in relative:
        raise ValueError(f"unsafe output path: {relative!r}")
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"unsafe output path: {relative!r}")
    return parts


def parts_below(root: Path, path: Path) -> tuple[str, ...]:
    """The components of `path` below `root`, compared lexically (both made absolute)."""
    base, full = os.fspath(root).rstrip(os.sep), os.fspath(path)
    if full.startswith(base + os.sep):  # the usual case, without normalising
        parts = tuple(full[len(base) + 1:].split(os.sep))
        if not any(part in ("", ".", "..") for part in parts):
            return parts
    relative = os.path.relpath(os.path.abspath(full), os.path.abspath(root))
    if relative == ".":
        return ()
    parts = tuple(relative.split(os.sep))
    if parts[0] == "..":
        raise ValueError(f"{path} is not inside the output directory {root}")
    return parts


DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def is_link_at(dir_fd: int, name: str) -> bool:
    """`name` in the directory `dir_fd` is a symbolic link."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_dir(root: Path, parts: Sequence[str], create: bool = True) -> int:
    """A descriptor of `root/parts...`, each component made when missing (`create`) and opened
    without following a symbolic link. `root` itself is opened (and made) as given."""
    fd = _open_root(root, create)
    try:
        for depth in range(1, len(parts) + 1):
            child = _open_child(fd, root, parts[:depth], create)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_root(root: Path, create: bool) -> int:
    try:
        return os.open(root, DIR_FLAGS)
    except FileNotFoundError:
        if not create:
            raise FsError("cannot open the output directory", errno.ENOENT, os.strerror(errno.ENOENT),
                          root) from None
    except OSError as error:
        raise FsError.wrap("cannot open the output directory", error, root) from None
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        return os.open(root, DIR_FLAGS)
    except OSError as error:
        raise FsError.wrap("cannot create the output directory", error, root) from None


def _open_child(fd: int, root: Path, parts: Sequence[str], create: bool) -> int:
    """Open (or make, then open) the directory `parts[-1]` in `fd` (which is `root/parts[:-1]`)."""
    name = parts[-1]

    def shown() -> Path:  # built only for an error message
        return root.joinpath(*parts)

    try:
        return _open_no_follow(fd, name, shown)
    except FileNotFoundError:
        if not create:
            raise
    try:
        os.mkdir(name, 0o777, dir_fd=fd)
    except FileExistsError:
        pass  # made meanwhile: the open below tells what it is
    except OSError as error:
        raise FsError.wrap("cannot create the directory", error, shown()) from None
    return _open_no_follow(fd, name, shown)


def _open_no_follow(fd: int, name: str, shown: Callable[[], Path]) -> int:
    """Open the directory `name` in `fd`; a missing one raises FileNotFoundError (naming it)."""
    try:
        return os.open(name, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(shown())) from None
    except OSError as error:
        if is_link_at(fd, name):
            raise link_refused(shown()) from None
        raise FsError.wrap("cannot open the directory", error, shown()) from None


def check_no_links(root: Path, paths: Iterable[Path]) -> None:
    """Refuse (`link_refused`) any of `paths`, or a directory on the way to it from `root`, that
    is a symbolic link: for files that others open by name (doit's dependency DB). Missing
    components are fine; nothing is created."""
    for path in paths:
        current = root
        for name in parts_below(root, path):
            current = current / name
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                break
            except OSError as error:
                raise FsError.wrap("cannot check", error, current) from None
            if stat.S_ISLNK(mode):
                raise link_refused(current)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*):")
SAFE_SCHEMES = frozenset({"http", "https"})


def safe_href(url: str) -> str | None:
    """`url` if following it cannot run script: relative paths and http(s) only.

    `javascript:`, `data:`, `vbscript:` and any other scheme give None (show it as text).
    Control characters are refused too, since browsers strip them before reading a scheme.
    """
    if _CONTROL.search(url):
        return None
    match = _SCHEME.match(url)
    if match is None:
        return url
    return url if match.group(1).lower() in SAFE_SCHEMES else None
