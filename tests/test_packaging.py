"""A plain (non-editable) `pip install .` carries templates, assets, schemas and modules.yaml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.logs import simple_log, write

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_install_in_a_fresh_venv_renders_a_report(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv", ".legacy-venv", ".git", "tl_out", "__pycache__", ".pytest_cache", "build", "dist"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", str(source)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    shutil.rmtree(source)  # the installed copy must not lean on the source tree
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import tlparse_tasks, pathlib; print(pathlib.Path(tlparse_tasks.__file__).parent)"],
                          capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    package = Path(site)
    for name in ("modules.yaml", "templates/index.html", "templates/static/modules.js",
                 "templates/static/style.css", "templates/stack_trie.html", "store/schemas/manifest.schema.json"):
        assert (package / name).is_file(), name
    log = write(tmp_path / "t.log", simple_log())
    run = subprocess.run([str(venv / "bin" / "tlparse"), str(log), "-o", str(tmp_path / "out"), "--no-browser"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "modules.js").is_file()
    assert "Stack trie" in (tmp_path / "out" / "index.html").read_text()
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "tlparse_tasks", "--list-modules"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert "compile_directory" in listed.stdout
