"""`history` after `kill -9`, and runs named twice (#20 item 12)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.store.database import Store


def _requests_stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_a_run_killed_with_sigkill_shows_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    env = {**os.environ, "TOKBENCH_HOME": str(tmp_path / "home")}
    with FakeServer(FakeConfig(n_tokens=50, itl_s=0.01)) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tokbench", "run", "--url", srv.url, "--suite", "seed5-en",
             "-n", "20", "--no-progress", "--db", str(db)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _requests_stored(db) < 1:
                time.sleep(0.1)
            alive = tokbench("history", "--db", str(db), "--json")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL
    (running,) = json.loads(alive.stdout)  # while its process lived: running, nothing more
    assert running["status"] == "running" and "process_gone" not in running

    table = tokbench("history", "--db", str(db))
    assert table.returncode == 0, table.stderr
    assert "interrupted?" in table.stdout and "--resume" in table.stdout
    shown = tokbench("show", "--db", str(db), json.loads(alive.stdout)[0]["id"])
    assert shown.returncode == 0 and "interrupted?" in shown.stdout, shown.stderr
    (after,) = json.loads(tokbench("history", "--db", str(db), "--json").stdout)
    # the stored status is left as it was: only a resume or the run itself changes it
    assert after["status"] == "running" and after["process_gone"] is True
    assert Store(db).run(after["id"]).status == "running"


def test_only_a_dead_process_on_this_host_makes_a_run_orphaned(tmp_path: Path) -> None:
    from tokbench.core.records import RunInfo

    db = tmp_path / "r.db"
    store = Store(db)
    run = RunInfo(
        id="20260101-000000-own", created_at="2026-01-01T00:00:00+00:00", status="running",
        kind="run", tokbench_version="t", backend="openai", url=None, model="m", suite=None,
        host_name="h",
    )  # fmt: skip
    store.create_run(run)
    assert store.orphaned([run]) == set()  # this process runs it

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer exists
    _set(db, f"owner_pid = {gone.pid}")
    assert store.orphaned([run]) == {run.id}

    _set(db, "owner_host = 'elsewhere'")
    assert store.orphaned([run]) == set()  # another host's process cannot be checked from here

    store.update_run(run.id, status="running")  # resumed here: this process owns it again
    assert store.orphaned([run]) == set()
    store.update_run(run.id, status="done")
    assert store.orphaned([store.run(run.id)]) == set()


def _set(db: Path, assignment: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE runs SET {assignment}")


def _import(tmp_path: Path, db: Path, tps: float) -> str:
    row = {"build_commit": "abc", "model_type": f"llama {tps:g}B Q8_0", "n_threads": 4,
           "n_prompt": 0, "n_gen": 16, "avg_ts": tps, "stddev_ts": 0.5}  # fmt: skip
    path = tmp_path / f"lb-{tps:g}.json"
    path.write_text(json.dumps([row]))
    r = tokbench("import", str(path), "--db", str(db))
    assert r.returncode == 0, r.stderr
    runs = json.loads(tokbench("history", "--db", str(db), "--json").stdout)
    return str(runs[0]["id"])


def test_a_run_named_twice_is_reported_once(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    a, b = _import(tmp_path, db, 10.0), _import(tmp_path, db, 20.0)
    page = tmp_path / "r.html"
    r = tokbench("report", a, b, a, a[:-2], "-o", str(page), "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert "(2 runs)" in r.stderr
    html = page.read_text()
    assert html.count("llama 10B Q8_0") == html.count("llama 20B Q8_0") > 0


def test_a_run_named_twice_is_exported_once(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with FakeServer(FakeConfig(n_tokens=4)) as srv:
        r = tokbench("run", "--url", srv.url, "--suite", "seed5-en", "-n", "1", "--json",
                     "--no-progress", "--db", str(db))  # fmt: skip
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run"]["id"]
    out = tokbench("export", run_id, run_id[:-3], run_id, "--db", str(db))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["item_id"] for r in rows] == [
        "essay", "compare-9.11-9.9", "autumn-quatrain", "weekday", "physics-mcq",
    ]  # fmt: skip
