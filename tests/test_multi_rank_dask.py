"""`--dask local:2`: the per-rank tasks run on a LocalCluster and the report is the same, byte for
byte (HTML aside: pages carry no run-specific data, but only files a reader does not see are
compared strictly here), as a plain local run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LEGACY_TESTS
from tests.multi_rank_support import build_ranks

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow
#: Ours, not legacy's: the store's manifest names the log and the time, the DB and lock are doit's.
SKIPPED = ("intermediate/", ".tlparse-doit.db", ".tlparse.lock")


def report_files(out: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if path.is_file() and not path.name.endswith(".html") and \
                not any(part in relative for part in SKIPPED):
            files[relative] = path.read_bytes()
    return files


def test_dask_local_cluster_gives_the_same_files(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for path in (LEGACY_TESTS / "multi_rank_schedule").iterdir():  # 3 small ranks with schedules
        (logs / path.name).write_bytes(path.read_bytes())
    plain = build_ranks(logs, tmp_path / "plain")
    dask = build_ranks(logs, tmp_path / "dask", "--dask", "local:2", "-v")
    assert dask.stdout.replace(str(tmp_path / "dask"), "OUT") == plain.stdout.replace(str(tmp_path / "plain"), "OUT")
    ran = dask.stderr.split("ran: ", 1)[1].split(";")[0].split(", ")
    assert {"rank0:parse", "rank2:module:rank_summary", "module:multi_rank", "landing"} <= set(ran)
    local, remote = report_files(tmp_path / "plain"), report_files(tmp_path / "dask")
    assert "collective_schedules.json" in local and "rank_1/collectives_parity.json" in local
    assert sorted(local) == sorted(remote)
    assert [name for name in local if local[name] != remote[name]] == []
    assert sorted(p.relative_to(tmp_path / "plain").as_posix() for p in (tmp_path / "plain").rglob("*.html")) == \
        sorted(p.relative_to(tmp_path / "dask").as_posix() for p in (tmp_path / "dask").rglob("*.html"))
    again = build_ranks(logs, tmp_path / "dask", "--dask", "local:2", "-v")  # doit's up-to-date checks hold
    assert "ran: nothing;" in again.stderr
