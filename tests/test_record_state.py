"""compile_artifacts after a log grew: the records before the parse's resume point are not read
again (RecordState), their files and units carry over, and the report equals a fresh build's;
a state whose files are gone, or another run's, means reading everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_incremental_report import tree
from tests.test_search_incremental import build, fresh_tree, grow, grow_and_count, half_built
from tlparse_tasks.modules import compile_artifacts as ca


class Written:
    """The payload files compile_artifacts writes in a run (each read record that has one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = ca.write_payload_output

        def counting(ctx: object, record: dict[str, object], producer: str | None = None) -> str | None:
            self.count += 1
            return original(ctx, record, producer)  # type: ignore[arg-type]

        monkeypatch.setattr(ca, "write_payload_output", counting)


@pytest.mark.parametrize("where", ["record boundary", "inside a payload", "mid line"])
def test_a_grown_log_reads_only_the_new_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    monkeypatch.setattr(ca, "ENTRIES_PER_PAGE", 2)  # pages of other entries that span the point
    first, grown, total = grow_and_count(tmp_path, where, Written(monkeypatch), ".modules/compile_artifacts.state")
    assert total > first and grown < total - first / 2, (first, grown, total)


@pytest.mark.parametrize("change", ["a file it lists is gone", "another run's options"])
def test_a_state_that_does_not_hold_means_reading_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    log, out, data, cut = half_built(tmp_path)
    extra: tuple[str, ...] = ()
    if change == "a file it lists is gone":
        next(p for p in out.rglob("*.txt") if "dynamo_output_graph" in p.name).unlink()
    else:
        extra = ("--eager",)
    grow(log, data, cut)
    written = Written(monkeypatch)
    build(log, out, *extra)
    grown = written.count
    assert tree(out) == fresh_tree(tmp_path, log, *extra)
    assert grown == written.count - grown  # as many as the fresh build: every record read


def test_a_module_reads_its_own_state_never_through_a_link(tmp_path: Path) -> None:
    from tlparse_tasks.module_api import ModuleContext

    ctx = ModuleContext("m", tmp_path, {}, {}, [], ())
    (tmp_path / ".modules").mkdir()
    (tmp_path / ".modules" / "m.state").write_bytes(b"state")
    assert ctx.read_own(".modules/m.state") == b"state"
    (tmp_path / "elsewhere").write_bytes(b"not ours")
    (tmp_path / ".modules" / "m.state").unlink()
    (tmp_path / ".modules" / "m.state").symlink_to(tmp_path / "elsewhere")
    assert ctx.read_own(".modules/m.state") is None
    (tmp_path / ".modules" / "dir.state").mkdir()
    assert ctx.read_own(".modules/dir.state") is None
    assert ctx.read_own(".modules/missing.state") is None
    assert ctx.read_own("../outside") is None


def test_an_entry_naming_an_index_defined_later_is_read_again(tmp_path: Path) -> None:
    """A generic entry's stack names intern index 7 before the log defines it: once the grown log
    defines it, the entries page names the file, as a fresh build's does (StringTable.keeps)."""
    from tests.logs import cid, entry

    stack = [{"line": 3, "name": "forward", "filename": 7}]
    head = "".join(entry({"my_event": {"stack": stack, "n": n}, **cid()}) for n in range(3))
    data = (head + entry({"str": ["/home/user/defined_late.py", 7]})
            + entry({"my_event": {"stack": stack, "n": 3}, **cid()})).encode()
    log, out = tmp_path / "growing.log", tmp_path / "out"
    log.write_bytes(data[:len(head)])
    build(log, out)
    grow(log, data, len(head))
    build(log, out)
    assert tree(out) == fresh_tree(tmp_path, log)
    assert any(b"defined_late.py" in content for name, content in tree(out).items() if name.endswith(".html"))


@pytest.mark.parametrize(("where", "planted"), [("files", "../growing.log"), ("files", "a/../../growing.log"),
                                                ("unit", "../outside.txt"), ("unit", "/etc/passwd")])
def test_a_state_naming_a_path_outside_out_is_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, planted: str) -> None:
    """The state is read from OUT, which anyone may have edited: a file or unit path in it that
    is not a plain path inside OUT (here, one that exists) means reading everything."""
    import orjson

    log, out, data, cut = half_built(tmp_path)
    state_file = out / ".modules" / "compile_artifacts.state"
    state = orjson.loads(state_file.read_bytes())
    if where == "files":
        next(iter(state["parts"].values()))["files"].append(planted)
    else:
        part = next(part for part in state["parts"].values() if part["units"])
        next(iter(part["units"].values()))["files"].append(planted)
    state_file.write_bytes(orjson.dumps(state))
    grow(log, data, cut)
    written = Written(monkeypatch)
    build(log, out)
    grown = written.count
    assert tree(out) == fresh_tree(tmp_path, log)
    assert grown == written.count - grown  # as many as the fresh build: every record read


@pytest.mark.parametrize("list_from", [1, 1000], ids=["folders listed", "files looked at one by one"])
def test_all_files_holds_only_when_each_path_is_a_regular_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              list_from: int) -> None:
    from tlparse_tasks import record_state
    from tlparse_tasks.record_state import all_files

    monkeypatch.setattr(record_state, "LIST_FOLDER_FROM", list_from)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.html").write_text("x")
    (tmp_path / "top.css").write_text("y")
    (tmp_path / "a" / "link.html").symlink_to(tmp_path / "top.css")  # followed, as Path.is_file does
    (tmp_path / "a" / "dir.html").mkdir()
    root = str(tmp_path)
    assert all_files(root, ["a/x.html", "top.css", "a/link.html"])
    assert all_files(root, [])
    assert not all_files(root, ["a/x.html", "a/gone.html"])
    assert not all_files(root, ["a/dir.html"])
    assert not all_files(root, ["missing/x.html"])
    assert not all_files(root, ["top.css/x.html"])  # a file where a folder should be
    assert not all_files(str(tmp_path / "none"), ["x.html"])
