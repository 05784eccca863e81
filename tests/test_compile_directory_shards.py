"""The compile directory's file lists ship in a few shared scripts (`files-<n>.js`, each at most
FILES_SHARD_BYTES unless one list is larger), not one script per compile id: creating files is
much of a run's cost. Each script registers every list it holds under the compile id's own shard
name, so modules.js and legacy-diff's reader (devtools/lazy_view.py) load it once for all of them.
The browser side is in tests/test_browser.py and tests/test_big_index.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from devtools.lazy_view import LazyError, find_blocks, read_shard, read_shards
from tests.big_log import write_synthetic_log
from tests.test_incremental_report import tree as report_tree
from tlparse_tasks.cli import main
from tlparse_tasks.module_api import shard_script
from tlparse_tasks.modules.compile_directory import FILES_SHARD_BYTES, packed

COUNT = 450  # compile ids of the report tests: ~800 bytes of file list each, so several scripts
DIRECTORY = "data/compile_directory"


# --------------------------------------------------------------------------------------------
# Packing


def test_packs_keep_order_and_stay_within_the_limit() -> None:
    sizes = [3, 4, 2, 5, 1, 1, 6, 2]
    packs = packed(sizes, lambda n: n, 7)
    assert packs == [[3, 4], [2, 5], [1, 1], [6], [2]]
    assert [n for pack in packs for n in pack] == sizes
    assert packed([], lambda n: n, 7) == []


def test_an_item_over_the_limit_gets_a_pack_of_its_own() -> None:
    assert packed([2, 10, 3, 11, 1], lambda n: n, 7) == [[2], [10], [3], [11], [1]]


def test_a_grown_list_changes_only_its_last_pack() -> None:
    """What a log that only grew at its end does: earlier scripts keep their bytes."""
    sizes = [(i * 37) % 11 + 1 for i in range(200)]
    before = packed(sizes, lambda n: n, 30)
    after = packed([*sizes, 5, 9, 2, 30, 4], lambda n: n, 30)
    assert after[:len(before) - 1] == before[:-1]
    assert after[len(before) - 1][:len(before[-1])] == before[-1]


# --------------------------------------------------------------------------------------------
# Scripts that register several shards, as legacy-diff's reader sees them


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_reader_takes_every_shard_a_script_registers(tmp_path: Path) -> None:
    lists: list[tuple[str, Any]] = [("-_0_0_0", [{"url": "a</script><!--", "n": 1}]), ("unknown", []),
                                    ("-_1_0_0", "text")]
    script = write(tmp_path / "files-0.js", b"".join(shard_script("compile_directory", k, d) for k, d in lists))
    assert read_shards(script) == [("compile_directory", k, d) for k, d in lists]
    with pytest.raises(LazyError, match="registers 3 shards, not one"):
        read_shard(script)


TWO = (shard_script("m", "a", [1]) + shard_script("m", "b", [2])).decode()


@pytest.mark.parametrize("text", [TWO + "alert(1);\n", TWO + 'TLP.register("m", "s", alert(1));\n', "x" + TWO,
                                  TWO + "x", TWO.replace(");\nTLP", "); TLP+")])
def test_the_reader_refuses_anything_but_calls(tmp_path: Path, text: str) -> None:
    with pytest.raises(LazyError):
        read_shards(write(tmp_path / "x.js", text.encode()))


# --------------------------------------------------------------------------------------------
# Reports


def build(log: Path, out: Path, *extra: str) -> Path:
    assert main([str(log), "-o", str(out), "--no-browser", "-j", "1", "--modules", "compile_directory", *extra]) == 0
    return out


def written(out: Path) -> list[str]:
    record = orjson.loads((out / ".modules" / "compile_directory.json").read_bytes())
    return [str(f) for f in record["files"]]


def entries_of(out: Path) -> list[tuple[str, str]]:
    """(shard, src) of every directory entry with a lazy file list: the first page's, in
    index.html, and the later pages', in their page scripts."""
    blocks = find_blocks((out / "index.html").read_text(encoding="utf-8"))
    first = [(b.shard, b.src) for b in blocks if b.module == "compile_directory" and b.renderer == "artifacts"]
    later = [e for p in sorted((out / DIRECTORY).glob("page-[0-9]*.js")) for e in read_shard(p)[2]]
    assert all(e["module"] == "compile_directory" for e in later if e["src"])
    return first + [(e["shard"], e["src"]) for e in later if e["src"]]


def test_file_lists_ship_in_a_few_bounded_scripts(tmp_path: Path) -> None:
    log = write_synthetic_log(tmp_path / "big.log", COUNT, recompiles=2, call_sites=3)
    out = build(log, tmp_path / "out")
    scripts = sorted((out / DIRECTORY).glob("files-*.js"))
    pages = sorted((out / DIRECTORY).glob("page-*.js"))
    assert 3 <= len(scripts) <= COUNT // 20
    assert sorted(written(out)) == sorted(["compile_directory.json"] + [p.relative_to(out).as_posix()
                                                                          for p in scripts + pages])
    directory = orjson.loads((out / "compile_directory.json").read_bytes())
    registered = {}
    for script in scripts:
        shards = read_shards(script)
        assert script.stat().st_size <= FILES_SHARD_BYTES or len(shards) == 1
        assert all(module == "compile_directory" for module, _, _ in shards)
        registered.update({shard: (script.relative_to(out).as_posix(), data) for _, shard, data in shards})
    entries = entries_of(out)
    assert len(entries) == len(registered) == len(directory) == COUNT
    for shard, src in entries:  # each entry names the script that registers its own list
        assert registered[shard][0] == src
        assert all(item["url"].startswith(f"{shard}/") for item in registered[shard][1])
    numbers = [a["number"] for entry in directory.values() for a in entry["artifacts"]]
    assert sorted(i["number"] for _, items in registered.values() for i in items) == sorted(numbers)


def test_eager_writes_no_scripts(tmp_path: Path) -> None:
    log = write_synthetic_log(tmp_path / "big.log", COUNT, recompiles=2, call_sites=3)
    out = build(log, tmp_path / "out", "--eager")
    assert written(out) == ["compile_directory.json"]
    assert not (out / "data").exists()


def test_a_grown_log_rewrites_only_the_last_scripts_and_matches_a_fresh_build(tmp_path: Path) -> None:
    log = write_synthetic_log(tmp_path / "grow.log", COUNT, recompiles=2, call_sites=3)
    out = build(log, tmp_path / "inc")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / DIRECTORY).glob("files-*.js")}
    write_synthetic_log(log, COUNT + 200, recompiles=2, call_sites=3)
    build(log, out)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / DIRECTORY).glob("files-*.js")}
    last = f"files-{len(before) - 1}.js"
    assert len(after) > len(before)
    assert {name: after[name] for name in before if name != last} == {n: v for n, v in before.items() if n != last}
    assert after[last][0].startswith(before[last][0])  # the same lists, then the new ones
    fresh = build(log, tmp_path / "fresh")
    os.rename(out, tmp_path / "kept")
    assert report_tree(tmp_path / "kept") == report_tree(fresh)  # byte for byte, run state aside
