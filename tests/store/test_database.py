import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tokbench.core.config import RunConfig
from tokbench.core.metrics import request_metrics
from tokbench.core.records import BenchSample, HostInfo, RequestRecord, RunInfo, RunSettings
from tokbench.core.redact import redact_url
from tokbench.core.trace import Count, Recorder
from tokbench.errors import TokbenchError
from tokbench.render.run_folder import write_run_folder
from tokbench.store.copy import copy_runs
from tokbench.store.database import Store
from tokbench.store.migrations import MIGRATIONS


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
        config=RunSettings(RunConfig(repeat=1)),
        host=HostInfo(cpu_model="cpu"),
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


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same storage tests against both engines: a SQLite file and a real PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "r.db")
    return str(request.getfixturevalue("pg_url"))


def test_migrations_are_recorded_and_idempotent(db: str) -> None:
    s = Store(db)
    assert s.schema_version() == [n for n, _ in MIGRATIONS]
    s.close()
    assert Store(db).migrate() == []


def test_round_trip_and_prefix_lookup(db: str) -> None:
    s = Store(db)
    s.create_run(a_run())
    s.add_request(a_request("20260101-000000-aaaaaa", "q1"))
    s.add_request(a_request("20260101-000000-aaaaaa", "q2", ok=False))
    s.update_run("20260101-000000-aaaaaa", status="done", finished_at="later")
    run = s.run("20260101-000000")
    assert run.status == "done" and run.host == HostInfo(cpu_model="cpu")
    recs = s.requests(run.id)
    assert [r.item_id for r in recs] == ["q1", "q2"]
    assert recs[0].metrics is not None and recs[0].metrics.completion_tokens == 2
    assert s.request_counts() == {run.id: (1, 1)}


def test_a_second_connection_sees_each_request_at_once(db: str) -> None:
    s = Store(db)
    s.create_run(a_run())
    s.add_request(a_request("20260101-000000-aaaaaa", "q1"))
    other = Store(db)
    assert len(other.requests("20260101-000000-aaaaaa")) == 1
    s.add_request(a_request("20260101-000000-aaaaaa", "q1"))  # a retry replaces, not adds
    assert len(other.requests("20260101-000000-aaaaaa")) == 1


def test_floats_keep_double_precision(db: str) -> None:
    """PostgreSQL's REAL is 4 bytes: the schema must say DOUBLE PRECISION there."""
    s = Store(db)
    s.create_run(a_run())
    sample = BenchSample(
        "20260101-000000-aaaaaa",
        "m",
        "tg128",
        1,
        0,
        0,
        "t",
        1.0000001,
        "ok",
        None,
        43.123456789,
        None,
        128,
        12.345678901,
        2.96,
    )
    s.add_bench_sample(sample)
    assert Store(db).bench_samples(sample.run_id) == [sample]


def test_unknown_and_ambiguous_ids(db: str) -> None:
    s = Store(db)
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


def test_copy_moves_every_run_once_and_resumes(tmp_path: Path, pg_url: str) -> None:
    src = Store(tmp_path / "local.db")
    for i, rid in enumerate(["20260101-000000-aaaaaa", "20260102-000000-bbbbbb"]):
        src.create_run(replace(a_run(rid), created_at=f"2026-01-0{i + 1}T00:00:00"))
        src.add_request(a_request(rid, "q1"))
        src.add_request(a_request(rid, "q2", ok=False))
    src.add_bench_sample(
        BenchSample(rid, "m", "pp512", 2, 0, 1, "t", 0.5, "ok", None, 100.0, 99.0, 512, 5.0, 5.1)
    )
    dst = Store(pg_url)
    dst.create_run(a_run("20260101-000000-aaaaaa"))  # already there: left alone
    r = copy_runs(src, dst)
    assert (r.runs_copied, r.runs_present, r.requests, r.bench_samples) == (1, 1, 2, 1)
    assert [x.id for x in dst.runs()] == [x.id for x in src.runs()]
    assert dst.requests(rid) == src.requests(rid)
    assert dst.bench_samples(rid) == src.bench_samples(rid)
    assert copy_runs(src, dst).runs_copied == 0  # again: nothing to do


def test_db_cli_migrate_and_copy_never_print_the_password(tmp_path: Path, pg_url: str) -> None:
    from tests.conftest import tokbench

    local = tmp_path / "l.db"
    Store(local).create_run(a_run())
    secret = pg_url.replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
    r = tokbench("db", "migrate", "--db", secret)
    assert r.returncode == 0, r.stderr
    assert MIGRATIONS[-1][0] in r.stdout and "s3cret" not in r.stdout + r.stderr
    r = tokbench("db", "copy", "--from", f"sqlite:///{local}", "--to", secret)
    assert r.returncode == 0 and "copied 1 runs" in r.stdout, r.stderr
    assert "s3cret" not in r.stdout + r.stderr
    h = tokbench("history", "--db", secret, "--json")
    assert [x["id"] for x in json.loads(h.stdout)] == ["20260101-000000-aaaaaa"]
    assert redact_url("postgresql://u:p@h/d") == "postgresql://u:***@h/d"
    typo = tokbench("db", "copy", "--from", str(tmp_path / "typo.db"), "--to", secret)
    assert typo.returncode == 2 and "does not exist" in typo.stderr
    assert not (tmp_path / "typo.db").exists()
    bad = tokbench("history", "--db", "postgresql://nobody@127.0.0.1:1/x")
    assert bad.returncode != 0 and "cannot connect" in bad.stderr and "Traceback" not in bad.stderr


WRITER = """
import sys
from tokbench.core.config import RunConfig
from tokbench.core.records import RunInfo, RunSettings, new_run_id, utc_now
from tokbench.store.database import Store
from tests.store.test_database import a_request
s = Store(sys.argv[1])
for i in range(int(sys.argv[2])):
    rid = new_run_id(sys.argv[3])
    s.create_run(RunInfo(rid, utc_now(), "running", "run", "0", "openai", None, "m", "seed5",
                         sys.argv[3], RunSettings(RunConfig())))
    for q in range(5):
        s.add_request(a_request(rid, f"q{q}"))
    s.update_run(rid, status="done")
"""


def test_concurrent_writers_on_two_hosts_never_collide(db: str) -> None:
    # a new store: the two writers race on its migrations, then on runs and requests
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db, "40", host],
            env={**os.environ, "TOKBENCH_HOST": host},
            stderr=subprocess.PIPE,
        )
        for host in ("box-a", "box-b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    s = Store(db)
    runs = s.runs()
    assert len(runs) == 80 and len({r.id for r in runs}) == 80
    assert sorted({r.host_name for r in runs}) == ["box-a", "box-b"]
    # a run's id carries its host's tag: the same second on two hosts cannot collide
    tags = [{r.id.split("-")[2] for r in runs if r.host_name == h} for h in ("box-a", "box-b")]
    assert all(len(t) == 1 for t in tags) and tags[0] != tags[1]
    assert s.request_counts() == {r.id: (5, 0) for r in runs}


def test_run_id_lookup_takes_wildcards_literally(tmp_path: Path) -> None:
    s = Store(tmp_path / "r.db")
    s.create_run(a_run("20260101-000000-aaaaaa"))
    assert s.run("20260101").id == "20260101-000000-aaaaaa"
    for pattern in ("%", "2026_101", "20260101%aaaaaa"):
        with pytest.raises(TokbenchError, match="no run"):
            s.run(pattern)
