import json
import sqlite3
from pathlib import Path

import pytest

from tokbench.errors import TokbenchError
from tokbench.events import Count, Recorder
from tokbench.metrics import request_metrics
from tokbench.results import write_run_folder
from tokbench.store import MIGRATIONS, RequestRecord, RunInfo, Store


def a_run(run_id: str = "20260101-000000-aaaaaa") -> RunInfo:
    return RunInfo(
        id=run_id,
        created_at="2026-01-01T00:00:00",
        status="running",
        kind="run",
        tokbench_version="0",
        backend="openai",
        url="http://x/v1",
        model="m",
        suite="seed5",
        host_name="h",
        config={"repeat": 1},
        target={},
        host={"cpu_model": "cpu"},
    )


def a_request(run_id: str, item: str, rep: int = 0, ok: bool = True) -> RequestRecord:
    rec = Recorder(0)
    rec.add(100_000_000, "answer", "<b>hi</b> | there")
    rec.add(150_000_000, "answer", "!")
    trace = rec.finish(160_000_000, completion_tokens=Count(2, "server"))
    return RequestRecord(
        run_id=run_id,
        item_id=item,
        rep=rep,
        started_at="t",
        status="ok" if ok else "error",
        error=None if ok else "boom",
        prompt="问题",
        answer=trace.text("answer"),
        thinking="",
        metrics=request_metrics(trace),
    )


def test_migrations_are_recorded_and_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    s = Store(db)
    names = [r[0] for r in s.db.execute("SELECT name FROM _migrations")]
    assert names == [n for n, _ in MIGRATIONS]
    s.close()
    assert Store(db).migrate() == []


def test_round_trip_and_prefix_lookup(tmp_path: Path) -> None:
    s = Store(tmp_path / "r.db")
    s.create_run(a_run())
    s.add_request(a_request("20260101-000000-aaaaaa", "q1"))
    s.add_request(a_request("20260101-000000-aaaaaa", "q2", ok=False))
    s.update_run("20260101-000000-aaaaaa", status="done", finished_at="later")
    run = s.run("20260101-000000")
    assert run.status == "done" and run.host == {"cpu_model": "cpu"}
    recs = s.requests(run.id)
    assert [r.item_id for r in recs] == ["q1", "q2"]
    assert recs[0].metrics is not None and recs[0].metrics.completion_tokens == 2
    assert s.request_counts() == {run.id: (1, 1)}


def test_a_second_connection_sees_each_request_at_once(tmp_path: Path) -> None:
    s = Store(tmp_path / "r.db")
    s.create_run(a_run())
    s.add_request(a_request("20260101-000000-aaaaaa", "q1"))
    other = sqlite3.connect(tmp_path / "r.db")
    assert other.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 1


def test_unknown_and_ambiguous_ids(tmp_path: Path) -> None:
    s = Store(tmp_path / "r.db")
    s.create_run(a_run("20260101-000000-aaaaaa"))
    s.create_run(a_run("20260101-000000-bbbbbb"))
    with pytest.raises(TokbenchError, match="ambiguous"):
        s.run("20260101")
    with pytest.raises(TokbenchError, match="no run 'zzz'"):
        s.run("zzz")


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(TokbenchError, match="cannot open the results database"):
        Store(bad)


def test_run_folder_files(tmp_path: Path) -> None:
    run = a_run()
    recs = [a_request(run.id, "q1"), a_request(run.id, "q2", ok=False)]
    write_run_folder(tmp_path / "f", run, recs)
    doc = json.loads((tmp_path / "f" / "results.json").read_text("utf-8"))
    assert doc["summary"]["ok"] == 1 and doc["summary"]["failed"] == 1
    assert doc["requests"][0]["answer"] == "<b>hi</b> | there!"
    assert doc["requests"][0]["prompt"] == "问题"
    md = (tmp_path / "f" / "results.md").read_text("utf-8")
    assert "| q1 | 1 | – | 2 |" in md
    assert "error: boom" in md
    assert "```text\n<b>hi</b> | there!\n```" in md
