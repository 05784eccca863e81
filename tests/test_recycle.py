"""`--overwrite` reuses the old report's files (tlparse_tasks/recycle.py): the new report is
the same as a fresh one, the old files are written into only when they are ours alone (never
the input log that `raw.log` links to, nor through a link), and nothing of the pool is left."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TORCH_213, corpus_copy
from tlparse_tasks.atomic import write_bytes
from tlparse_tasks.cli import main
from tlparse_tasks.recycle import POOL_NAME, claim, recycling, retire

LOCK = ".tlparse.lock"
DB = ".tlparse-doit.db"
SMALL_LOG = TORCH_213 / "03_graph_breaks" / "dedicated_log_torch_trace_qljjxkkz.log"


def tree(out: Path) -> dict[str, bytes]:
    """Every file of a report (not the lock or the dependency DB) and its bytes."""
    found = {}
    for path in out.rglob("*"):
        relative = path.relative_to(out).as_posix()
        if path.is_file() and not path.is_symlink() and not relative.startswith((LOCK, DB)):
            found[relative] = path.read_bytes()
    return found


def inodes(out: Path) -> set[int]:
    return {p.lstat().st_ino for p in out.rglob("*") if p.is_file() and not p.is_symlink()}


def pool_with(out: Path, files: dict[str, bytes]) -> None:
    """OUT holding `files`, then retired into its pool as --overwrite does."""
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    retire(out, keep=frozenset())


# -- the pool, by itself --------------------------------------------------------------------------

def test_retire_moves_everything_but_the_kept_names_into_the_pool(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "page.html").write_bytes(b"old")
    (tmp_path / "index.html").write_bytes(b"old index")
    (tmp_path / LOCK).write_bytes(b"")
    retire(tmp_path, keep=frozenset({LOCK}))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([LOCK, POOL_NAME])
    moved = {p.relative_to(tmp_path / POOL_NAME).as_posix().split("/", 1)[1]
             for p in (tmp_path / POOL_NAME).rglob("*") if p.is_file()}
    assert moved == {"a/page.html", "index.html"}


def test_a_write_takes_a_pool_file_and_leaves_exactly_its_own_bytes(tmp_path: Path) -> None:
    pool_with(tmp_path, {"long.html": b"x" * 10_000})
    old = {p.stat().st_ino for p in (tmp_path / POOL_NAME).rglob("*.html")}
    with recycling(tmp_path):
        assert write_bytes(tmp_path / "d" / "new.html", b"short", root=tmp_path)
    written = tmp_path / "d" / "new.html"
    assert written.read_bytes() == b"short"
    assert written.stat().st_ino in old
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert not (tmp_path / POOL_NAME).exists()


def test_a_shorter_pool_file_grows_and_a_wrong_mode_is_mended(tmp_path: Path) -> None:
    pool_with(tmp_path, {"short.html": b"x"})
    old = next((tmp_path / POOL_NAME).rglob("short.html"))
    old.chmod(0o600)
    with recycling(tmp_path):
        write_bytes(tmp_path / "long.html", b"y" * 100_000, root=tmp_path)
    written = tmp_path / "long.html"
    assert written.read_bytes() == b"y" * 100_000
    assert stat.S_IMODE(written.stat().st_mode) == 0o644


def test_a_pool_that_is_a_link_is_never_moved_into(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "page.html").write_bytes(b"old")
    (out / POOL_NAME).symlink_to(outside)
    retire(out, keep=frozenset())
    assert list(outside.iterdir()) == []
    assert (out / POOL_NAME).is_dir() and not (out / POOL_NAME).is_symlink()


def test_what_cannot_be_deleted_is_said_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from tlparse_tasks import recycle

    pool_with(tmp_path, {"a.html": b"old", "b.html": b"old"})

    def refusing(path: Path, onerror: Any) -> None:
        onerror(os.unlink, str(path / "x"), (PermissionError, PermissionError(13, "Permission denied"), None))

    monkeypatch.setattr(recycle.shutil, "rmtree", refusing)
    said = io.StringIO()
    with recycling(tmp_path, said):
        pass
    lines = said.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Warning: 1 old file(s) of the replaced report could not")
    assert "Permission denied" in lines[0] and str(tmp_path / POOL_NAME) in lines[0]


def test_files_the_new_report_did_not_need_go_with_the_pool(tmp_path: Path) -> None:
    pool_with(tmp_path, {f"c/{n}.html": b"old" for n in range(5)})
    with recycling(tmp_path):
        write_bytes(tmp_path / "only.html", b"new", root=tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["only.html"]


def test_once_the_pool_is_empty_files_are_created_as_usual(tmp_path: Path) -> None:
    pool_with(tmp_path, {"one.html": b"old"})
    with recycling(tmp_path):
        for n in range(3):
            write_bytes(tmp_path / f"{n}.html", str(n).encode(), root=tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {"0.html": b"0", "1.html": b"1", "2.html": b"2"}


def test_a_file_linked_elsewhere_is_never_written_into(tmp_path: Path) -> None:
    """The report's raw.log is a hard link to the user's log: reusing it would overwrite the log."""
    log = tmp_path / "trace.log"
    log.write_bytes(b"the user's log\n")
    out = tmp_path / "out"
    out.mkdir()
    os.link(log, out / "raw.log")
    retire(out, keep=frozenset())
    with recycling(out):
        write_bytes(out / "page.html", b"a new page", root=out)
    assert log.read_bytes() == b"the user's log\n"
    assert log.stat().st_nlink == 1
    assert (out / "page.html").read_bytes() == b"a new page"


def test_a_link_in_the_pool_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    out = tmp_path / "out"
    (out / "d").mkdir(parents=True)
    (out / "d" / "link.html").symlink_to(outside)
    (out / "dirlink").symlink_to(tmp_path)
    retire(out, keep=frozenset())
    with recycling(out):
        for n in range(3):
            write_bytes(out / f"{n}.html", b"new", root=out)
    assert outside.read_bytes() == b"keep me"
    assert sorted(p.name for p in out.iterdir()) == ["0.html", "1.html", "2.html"]


def test_processes_walking_the_pool_never_take_the_same_file(tmp_path: Path) -> None:
    """Workers and the children of costly tasks are forked: each takes files on its own, and a
    file goes to one of them only."""
    pool_with(tmp_path, {f"c{n % 7}/{n}.html": b"old" for n in range(60)})
    target = tmp_path / "new"
    target.mkdir()
    with recycling(tmp_path):
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
        claim(fd, ".warm.tmp", 0o644)  # the parent has begun its walk before the fork
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:
            got = [claim(fd, f".child{n}.tmp", 0o644) for n in range(40)]
            os.write(writer, bytes([sum(g is not None for g in got)]))
            os._exit(0)
        got = [claim(fd, f".parent{n}.tmp", 0o644) for n in range(40)]
        os.waitpid(child, 0)
        by_child = os.read(reader, 1)[0]
        for handle in got:
            if handle is not None:
                handle.close()
        os.close(fd)
        taken = list(target.iterdir())
        assert len(taken) == 1 + sum(g is not None for g in got) + by_child == 60
        assert len({p.stat().st_ino for p in taken}) == 60


# -- whole runs -----------------------------------------------------------------------------------

def run(log: Path, out: Path, *extra: str) -> None:
    assert main([str(log), "-o", str(out), "--no-browser", *extra]) == 0


def test_overwrite_reuses_the_old_report_and_equals_a_fresh_one(tmp_path: Path) -> None:
    log = corpus_copy(SMALL_LOG, tmp_path)
    before = log.read_bytes()
    fresh, again = tmp_path / "fresh", tmp_path / "again"
    run(log, fresh)
    run(log, again)
    old = inodes(again)
    run(log, again, "--overwrite")
    assert tree(again) == tree(fresh)
    assert not (again / POOL_NAME).exists()
    assert log.read_bytes() == before  # raw.log links to it: never written into
    reused = inodes(again) & old
    assert len(reused) > len(old) // 2  # the report's files were reused, not created anew


def test_overwrite_with_another_log_reuses_files_for_a_different_report(tmp_path: Path) -> None:
    small = corpus_copy(SMALL_LOG, tmp_path)
    other = corpus_copy(next((TORCH_213 / "02_training").glob("*.log*")), tmp_path)
    fresh, out = tmp_path / "fresh", tmp_path / "out"
    run(other, fresh)
    run(small, out)
    run(other, out, "--overwrite")
    assert tree(out) == tree(fresh)


def test_a_pool_left_by_a_killed_run_is_used_then_removed(tmp_path: Path) -> None:
    """A run killed after its files went into the pool leaves OUT holding the lock and the pool
    only: the next run, without --overwrite, builds the report into it and removes the pool."""
    log = corpus_copy(SMALL_LOG, tmp_path)
    fresh, out = tmp_path / "fresh", tmp_path / "out"
    run(log, fresh)
    run(log, out)
    retire(out, keep=frozenset({LOCK}))
    run(log, out)
    assert tree(out) == tree(fresh)
    assert not (out / POOL_NAME).exists()


@pytest.mark.parametrize("overwrite", [False, True])
def test_multi_rank_overwrite_reuses_files_too(tmp_path: Path, overwrite: bool) -> None:
    from tests.multi_rank_support import make_rank_folder

    logs = make_rank_folder(tmp_path / "logs", ranks=2)
    fresh, out = tmp_path / "fresh", tmp_path / "out"
    assert main([str(logs), "--all-ranks-html", "-o", str(fresh), "--no-browser"]) == 0
    assert main([str(logs), "--all-ranks-html", "-o", str(out), "--no-browser"]) == 0
    old = inodes(out)
    flags = ["--overwrite"] if overwrite else []
    assert main([str(logs), "--all-ranks-html", "-o", str(out), "--no-browser", *flags]) == 0
    assert tree(out) == tree(fresh)
    assert not (out / POOL_NAME).exists()
    if overwrite:
        assert len(inodes(out) & old) > len(old) // 2
