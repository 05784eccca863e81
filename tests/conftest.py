"""Shared fixtures: corpus paths (read-only; copied before use) and the tlparse entry point."""

from __future__ import annotations

import lzma
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless system Chromium per test module (never a downloaded browser)."""
    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"headless Chromium not found at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh context and page per test (no shared cache or state)."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture(autouse=True, scope="session")
def private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The user cache (validated modules.yaml, compiled templates) of this test session only,
    for every run it starts, in-process or not: tests never read what another session left."""
    import os

    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if saved is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = saved
