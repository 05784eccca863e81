"""Shared fixtures: corpus paths (read-only; copied before use) and the tlparse entry point."""

from __future__ import annotations

import lzma
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
LEGACY_TESTS = CORPUS / "tlparse-0.4.3-tests"
TORCH_213 = CORPUS / "torch-2.13"


def corpus_copy(source: Path, tmp_path: Path) -> Path:
    """Copy a corpus log into tmp_path (decompressing .xz) so nothing writes into shared/."""
    if source.suffix == ".xz":
        target = tmp_path / source.stem
        with lzma.open(source) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return target
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    return target


@pytest.fixture
def simple_log(tmp_path: Path) -> Path:
    return corpus_copy(LEGACY_TESTS / "simple.log", tmp_path)
