"""history, show, compare, report and export read the same from SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.test_quality import store_run
from tests.conftest import tokbench
from tests.render.test_report import add_evil_run
from tests.store.test_database import a_request
from tokbench.core.records import BenchSample
from tokbench.store.database import Store


def test_every_reading_command_agrees_on_both_engines(tmp_path: Path, pg_url: str) -> None:
    local = tmp_path / "local.db"
    store_run(local, "20260101-000000-aaaaa1", "model-a", ["pass", "fail", "pass"])
    store_run(local, "20260101-000000-aaaaa2", "model-b", ["pass", "pass", "fail"])
    evil = add_evil_run(local)
    s = Store(local)
    s.add_request(a_request(evil, "timed"))  # one with full metrics
    s.add_bench_sample(
        BenchSample(evil, "m", "tg128", 1, 0, 0, "t", 0.1, "ok", None, 43.4, 43.1, 128, 9.5, 3.0)
    )
    r = tokbench("db", "copy", "--from", str(local), "--to", pg_url)
    assert r.returncode == 0, r.stderr
    commands = [
        ("history", "--json"),
        ("show", evil, "--json"),
        ("show", evil, "--answers"),
        ("compare", "--last", "3", "--format", "json"),
        ("compare", "20260101-000000-aaaaa2", "--ref", "20260101-000000-aaaaa1"),
        ("export", "--format", "jsonl"),
        ("export", "--format", "csv", "--bench"),
        ("answers", "20260101-000000-aaaaa1", "20260101-000000-aaaaa2", "--item", "weekday"),
    ]
    for cmd in commands:
        a, b = tokbench(*cmd, "--db", str(local)), tokbench(*cmd, "--db", pg_url)
        assert a.returncode == b.returncode == 0, (cmd, a.stderr, b.stderr)
        assert a.stdout == b.stdout and len(a.stdout) > 50, cmd
    for name, db in (("a", str(local)), ("b", pg_url)):
        r = tokbench("report", "--last", "3", "-o", str(tmp_path / f"{name}.html"), "--db", db)
        assert r.returncode == 0, r.stderr
    html = [re.sub(r"generated [^<]*", "", (tmp_path / f"{n}.html").read_text()) for n in "ab"]
    assert html[0] == html[1] and "&lt;b&gt;evil&lt;/b&gt;-model" in html[0]
