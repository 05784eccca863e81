"""--overwrite: the old report is moved aside at once and removed while the new one is built."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tlparse_tasks import replaced
from tlparse_tasks.replaced import REPLACED_PREFIX, removed_in_background
from tlparse_tasks.run import RunError, prepared_out


def old_report(out: Path, files: int = 50) -> None:
    for i in range(files):
        (out / f"-_{i}_0_0").mkdir(parents=True)
        (out / f"-_{i}_0_0" / "page.html").write_text("old")
    (out / "index.html").write_text("old")


def test_the_body_starts_on_an_empty_out_and_no_old_file_is_left_after(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old_report(out)
    with prepared_out(out, tmp_path / "t.log", overwrite=True):
        visible = [p.name for p in out.iterdir() if not p.name.startswith(REPLACED_PREFIX)]
        assert visible == []
        (out / "index.html").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]
    assert (out / "index.html").read_text() == "new"


def test_a_folder_a_killed_run_left_is_removed_by_the_next_run_even_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / f"{REPLACED_PREFIX}abc" / "-_0_0_0").mkdir(parents=True)
    (out / f"{REPLACED_PREFIX}abc" / "-_0_0_0" / "x.txt").write_text("old")
    with removed_in_background(out, frozenset(), replace=False):
        pass
    assert list(out.iterdir()) == []


def test_a_failed_removal_is_one_line_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    old_report(out, files=1)

    def refusing_rmtree(path: Path, onerror: Callable[..., None]) -> None:  # as a read-only folder does
        page = next(Path(path).rglob("page.html"))
        onerror(os.unlink, str(page), (PermissionError, PermissionError(13, "Permission denied"), None))

    monkeypatch.setattr(replaced.shutil, "rmtree", refusing_rmtree)
    with pytest.raises(RunError, match=r"^cannot remove .*page\.html of the replaced report: .*Permission denied"), \
            prepared_out(out, tmp_path / "t.log", overwrite=True):
        pass


def test_the_body_error_wins_over_a_removal_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old_report(out, files=3)
    with pytest.raises(ValueError, match="build failed"), prepared_out(out, tmp_path / "t.log", overwrite=True):
        raise ValueError("build failed")
    assert not any(p.name.startswith(REPLACED_PREFIX) for p in out.iterdir())
