"""Filesystem trouble: nothing is written through a symbolic link planted inside OUT, and every
filesystem failure (read-only, unwritable or full disk, OUT a link or a dangling link, a planted
link) is one `Error: ...` line with exit status 1 and no traceback.

The rule (tlparse_tasks/safepath.py): OUT itself may be a link the user chose; below it a link
where one of our files or directories belongs is refused, left in place, and named in the error;
`--overwrite` removes it (without following it).

These tests run as root in CI: root ignores permission bits, so read-only cases are made real
with a tmpfs remounted read-only, `chattr +i`, or a run as `nobody`; each skips where the machine
does not allow it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.logs import cid, entry, simple_log, write
from tlparse_tasks.atomic import link_or_copy, write_bytes, write_chunks
from tlparse_tasks.cli import main
from tlparse_tasks.fserrors import LINK_REASON, describe

REPO = Path(__file__).resolve().parents[1]
DB = ".tlparse-doit.db"
LOCK = ".tlparse.lock"
COMPILE_DIR = "-_0_0_0"


# -- helpers ------------------------------------------------------------------------------------

def tlparse(capsys: pytest.CaptureFixture[str], log: Path, out: Path, *extra: str) -> tuple[int, str]:
    """Run the command in-process: (exit status, stderr)."""
    code = main([str(log), "-o", str(out), "--no-browser", *extra])
    return code, capsys.readouterr().err


def one_line_error(code: int, err: str) -> str:
    """The run failed as the user should see it: exit 1, one `Error:` line, no traceback."""
    assert code == 1, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    return lines[0]


def link_error(path: Path) -> str:
    return f"Error: will not write through the symbolic link {path}: {LINK_REASON}"


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root` (not following links): its bytes and mtime."""
    files: dict[str, tuple[bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[path.relative_to(root).as_posix()] = (path.read_bytes(), path.stat().st_mtime_ns)
    return files


def grow(log: Path) -> None:
    """Append entries: the next run has files to write everywhere (the store, the first compile's
    directory, a new one, payloads/, pages, shards)."""
    with open(log, "a") as handle:
        handle.write(entry({"artifact": {"name": "grown_note", "encoding": "string"}, **cid()}, "grown"))
        handle.write(entry({"inductor_output_code": {"filename": "/tmp/grown.py"}, **cid(1)}, "def call(): pass"))
        handle.write(entry({"dynamo_output_graph": {"sizes": {}}, **cid(1)}, "class Grown:\n    pass"))
        handle.write(entry({"compilation_metrics": {"graph_op_count": 1, "restart_reasons": []}, **cid(1)}))


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write(tmp_path / "t.log", simple_log())


@pytest.fixture
def report(tmp_path: Path, log: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "out"
    code, err = tlparse(capsys, log, out)
    assert code == 0, err
    return out


def plant(out: Path, name: str, outside: Path) -> Path:
    """Replace OUT/name by a link to a copy of it in `outside` (a directory or a file)."""
    target = out / name
    copy = outside / name.replace("/", "_")
    if target.is_dir():
        shutil.copytree(target, copy)
        shutil.rmtree(target)
    elif target.exists():
        shutil.copy2(target, copy)
        target.unlink()
    else:
        copy.write_bytes(b"outside\n")
    target.symlink_to(copy)
    return target


def run_as_nobody() -> list[str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as an unprivileged user")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def command(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "tlparse_tasks", *args, "--no-browser"],
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at `path` (skips the test where mounting is not permitted)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`chattr +i path`: not even root may create or replace files in it."""
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)],
                                                        capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# -- planted links ------------------------------------------------------------------------------

PLANTED = [".modules", "intermediate", COMPILE_DIR, "data", "payloads", "index.html",
           "intermediate/raw.jsonl", "intermediate/manifest.json", DB, f"{DB}-journal"]


@pytest.mark.parametrize("name", PLANTED)
def test_a_link_planted_in_out_is_refused_and_its_target_untouched(
        tmp_path: Path, log: Path, report: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = plant(report, name, outside)
    before = snapshot(outside)
    grow(log)
    assert one_line_error(*tlparse(capsys, log, report)) == link_error(link)
    assert snapshot(outside) == before
    assert link.is_symlink()  # left for the user to look at
    # the documented remedy: --overwrite removes the link (never what it points to)
    code, err = tlparse(capsys, log, report, "--overwrite")
    assert code == 0, err
    assert not link.is_symlink()
    assert snapshot(outside) == before


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_linked_compile_directory_fails_the_module_tasks_in_one_line(
        tmp_path: Path, log: Path, report: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    """Module tasks (serial and in worker processes) report the refusal through doit as one line."""
    outside = tmp_path / "outside"
    outside.mkdir()
    link = plant(report, COMPILE_DIR, outside)
    before = snapshot(outside)
    grow(log)
    assert one_line_error(*tlparse(capsys, log, report, "-j", jobs, "--eager")) == link_error(link)
    assert snapshot(outside) == before


def test_a_linked_lock_file_is_refused(tmp_path: Path, log: Path, report: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = plant(report, LOCK, outside)
    before = snapshot(outside)
    line = one_line_error(*tlparse(capsys, log, report))
    assert str(link) in line and "symbolic link" in line
    assert snapshot(outside) == before


def test_the_writers_never_follow_a_link_inside_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "page.html").write_text("outside")
    out.mkdir()
    (out / "pages").symlink_to(outside)
    (out / "file.html").symlink_to(outside / "page.html")
    attempts: list[Callable[[], bool]] = [
        lambda: write_bytes(out / "pages" / "page.html", b"new", root=out),
        lambda: write_chunks(out / "pages" / "x" / "y.html", iter([b"new"]), root=out),
        lambda: write_bytes(out / "file.html", b"new", root=out),
        lambda: link_or_copy(out / "file.html", out / "copy.html", root=out)]
    for write_through in attempts:
        with pytest.raises(OSError, match=r"^will not write through the symbolic link "):
            write_through()
    assert snapshot(outside) == {"page.html": (b"outside", (outside / "page.html").stat().st_mtime_ns)}
    assert sorted(p.name for p in out.iterdir()) == ["file.html", "pages"]


def test_an_interrupted_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_bytes(out / "d" / "page.html", b"old", root=out)

    def chunks() -> Iterator[bytes]:
        yield b"half of the new"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError) as caught:
        write_chunks(out / "d" / "page.html", chunks(), root=out)
    assert describe(caught.value) == f"cannot write {out / 'd' / 'page.html'}: No space left on device"
    assert (out / "d" / "page.html").read_bytes() == b"old"
    assert sorted(p.name for p in (out / "d").iterdir()) == ["page.html"]


# -- OUT itself a link --------------------------------------------------------------------------

def test_out_given_as_a_link_is_used_but_overwrite_never_deletes_through_it(
        tmp_path: Path, log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "real"
    real.mkdir()
    out = tmp_path / "link"
    out.symlink_to(real)
    code, err = tlparse(capsys, log, out)
    assert code == 0, err  # the user chose the link: the report goes into its target
    assert (real / "index.html").is_file()
    before = snapshot(real)
    line = one_line_error(*tlparse(capsys, log, out, "--overwrite"))
    assert line == (f"Error: will not overwrite through the symbolic link {out}: --overwrite would delete "
                    f"the files of {real}; remove the link, or give that directory with -o")
    assert snapshot(real) == before and out.is_symlink()


@pytest.mark.parametrize("overwrite", [False, True])
def test_out_as_a_dangling_link_is_one_line(tmp_path: Path, log: Path, capsys: pytest.CaptureFixture[str],
                                            overwrite: bool) -> None:
    out = tmp_path / "dangling"
    out.symlink_to(tmp_path / "nowhere")
    line = one_line_error(*tlparse(capsys, log, out, *(["--overwrite"] if overwrite else [])))
    assert line == (f"Error: cannot use the output directory {out}: it is a symbolic link to a missing "
                    f"directory ({tmp_path / 'nowhere'})")
    assert out.is_symlink() and not (tmp_path / "nowhere").exists()


# -- read-only, unwritable and full disks --------------------------------------------------------

def test_a_read_only_filesystem_is_one_line(tmp_path: Path, log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tmpfs(tmp_path / "mnt", "8m") as mnt:
        code, err = tlparse(capsys, log, mnt / "out")
        assert code == 0, err
        before = snapshot(mnt)
        remount(mnt, "ro")
        grow(log)
        assert "Read-only file system" in one_line_error(*tlparse(capsys, log, mnt / "out"))
        assert one_line_error(*tlparse(capsys, log, mnt / "new")) == \
            f"Error: cannot access {mnt / 'new'}: Read-only file system"
        assert snapshot(mnt) == before


def test_an_immutable_out_is_one_line(tmp_path: Path, log: Path, report: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    grow(log)
    with immutable(report):
        line = one_line_error(*tlparse(capsys, log, report))
    assert "Operation not permitted" in line and str(report) in line


def test_an_immutable_compile_directory_fails_its_module_in_one_line(
        tmp_path: Path, log: Path, report: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The failure happens inside a doit task: it still reaches the user as one line."""
    grow(log)
    directory = report / COMPILE_DIR
    with immutable(directory):
        line = one_line_error(*tlparse(capsys, log, report, "--eager"))
    assert line.startswith(f"Error: cannot write {directory}/") and line.endswith(": Operation not permitted")
    assert not list(directory.glob(".*.tmp"))
    code, err = tlparse(capsys, log, report)
    assert code == 0, err


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory outside pytest's private tmp tree, so that another user can reach it."""
    path = Path(tempfile.mkdtemp(prefix="tlparse-fs-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_permission_errors_as_an_unprivileged_user(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nobody = run_as_nobody()
    tmp_path = shared_dir
    log = write(tmp_path / "t.log", simple_log())
    report = tmp_path / "out"
    code, err = tlparse(capsys, log, report)
    assert code == 0, err
    private = write(tmp_path / "private.log", simple_log())
    private.chmod(0o600)
    cases = {
        "an unreadable log": (command(nobody, str(private), "-o", str(tmp_path / "o")),
                              f"Error: cannot read {private}: Permission denied"),
        "an OUT of someone else": (command(nobody, str(log), "-o", str(report)),
                                   f"Error: cannot open the lock file {report / LOCK}: Permission denied"),
        "an OUT under an unwritable directory": (command(nobody, str(log), "-o", str(tmp_path / "new")),
                                                 f"Error: cannot access {tmp_path / 'new'}: Permission denied"),
    }
    for case, (result, message) in cases.items():
        assert result.returncode == 1, case
        assert result.stderr.strip() == message, case


def test_a_full_disk_is_one_line_leaves_no_temp_file_and_a_retry_finishes(
        tmp_path: Path, log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Run out of space at several points (the DB, the parse, the modules, the DB at the end);
    each failure is one line, and after space is freed the same command makes the report a fresh
    run makes."""
    fresh = tmp_path / "fresh"
    code, err = tlparse(capsys, log, fresh)
    assert code == 0, err
    needed = sum(p.stat().st_size for p in fresh.rglob("*") if p.is_file())
    failures = set()
    for fraction in (0.01, 0.1, 0.3, 0.5, 0.7, 0.85, 0.95):
        with tmpfs(tmp_path / "mnt", f"{max(int(needed * fraction) // 1024, 4)}k") as mnt:
            code, err = tlparse(capsys, log, mnt / "out")
            if code == 0:
                continue
            line = one_line_error(code, err)
            assert line.endswith(("No space left on device", "database or disk is full")), line
            failures.add(line)
            assert not [p for p in mnt.rglob("*.tmp")]
            remount(mnt, "size=64m")
            code, err = tlparse(capsys, log, mnt / "out")
            assert code == 0, err
            assert tree(mnt / "out") == tree(fresh)
    assert len(failures) >= 3, failures  # the failures happened at different files


def tree(root: Path) -> dict[str, bytes]:
    """A report's files and bytes, without the run's own state (DB, lock, resume point)."""
    skip = {DB, LOCK, "intermediate/parse_state.json"}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).as_posix() not in skip}


def test_a_linked_rank_folder_of_an_all_ranks_report_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for rank in (0, 1):
        write(logs / f"dedicated_log_torch_trace_rank_{rank}.log", simple_log())
    out = tmp_path / "out"
    assert main([str(logs), "--all-ranks-html", "-o", str(out), "--no-browser"]) == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    link = plant(out, "rank_0", outside)
    before = snapshot(outside)
    capsys.readouterr()
    code = main([str(logs), "--all-ranks-html", "-o", str(out), "--no-browser", "--eager"])
    assert one_line_error(code, capsys.readouterr().err) == link_error(link)
    assert snapshot(outside) == before
    assert main([str(logs), "--all-ranks-html", "-o", str(out), "--no-browser", "--overwrite"]) == 0
    assert not link.is_symlink() and snapshot(outside) == before


def test_a_dir_cache_opens_each_folder_once_and_still_refuses_a_planted_link(tmp_path: Path) -> None:
    from tlparse_tasks.atomic import DirCache, write_bytes
    from tlparse_tasks.fserrors import FsError

    out = tmp_path / "out"
    dirs = DirCache(out, size=2)
    for name in ("a", "b", "a", "c", "a"):
        write_bytes(out / name / "f.txt", name.encode(), root=out, dirs=dirs)
    assert list(dirs.open) == [out / "c", out / "a"]  # least recently used folder closed first
    dirs.close()
    assert not dirs.open and (out / "a" / "f.txt").read_bytes() == b"a"
    (tmp_path / "elsewhere").mkdir()
    (out / "d").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FsError):
        write_bytes(out / "d" / "f.txt", b"x", root=out, dirs=DirCache(out))
    assert not (tmp_path / "elsewhere" / "f.txt").exists()


def test_a_link_is_moved_into_a_free_name_not_over_the_old_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """ext4 writes back a file renamed over another inside rename() itself (atomic.py): a hard
    link to a file just written takes the name once the old file has left it."""
    source = tmp_path / "store.json"
    source.write_bytes(b"new bytes")
    target = tmp_path / "report.json"
    target.write_bytes(b"old bytes")
    seen: list[bool] = []
    real = os.replace

    def noting(src: str, dst: str, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None) -> None:
        seen.append(os.path.lexists(dst) if dst_dir_fd is None else dst in os.listdir(dst_dir_fd))
        real(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(os, "replace", noting)
    assert link_or_copy(source, target, root=tmp_path)
    assert seen == [False]
    assert os.path.samefile(source, target) and target.read_bytes() == b"new bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "store.json"]  # no temp left
