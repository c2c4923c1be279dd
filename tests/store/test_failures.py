"""When storage fails (a full disk, a damaged or read-only database, a folder that cannot
be written) the user gets one clear line and a non-zero exit, never a traceback, the
run is not left `running`, and no temporary file is left behind."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.store.connection import explain


def test_a_damaged_database_is_one_sentence_for_every_reader(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with FakeServer(FakeConfig(n_tokens=3)) as srv:
        r = tokbench(
            "run",
            "--url",
            srv.url,
            "--suite",
            "seed5-en",
            "--db",
            str(db),
            env={"TOKBENCH_HOME": str(tmp_path / "home")},
        )
    assert r.returncode == 0, r.stderr
    data = bytearray(db.read_bytes())
    for page in range(1, len(data) // 4096):  # every page after the header page
        data[page * 4096 : page * 4096 + 64] = b"\xff" * 64
    db.write_bytes(bytes(data))
    for args in (
        ("history",),
        ("show", "2026"),
        ("report", "-o", str(tmp_path / "x.html")),
        ("export",),
    ):
        r = tokbench(*args, "--db", str(db))
        assert r.returncode != 0 and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.startswith("Error: ") and "database" in r.stderr, (args, r.stderr)


def _full_disk() -> None:
    # files may not grow past 256 KiB: writes beyond fail with EFBIG, as on a full disk
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


def test_a_full_disk_stops_the_run_with_one_sentence(tmp_path: Path) -> None:
    db, home = tmp_path / "r.db", tmp_path / "home"
    env = {**os.environ, "TOKBENCH_HOME": str(home)}
    with FakeServer(FakeConfig(n_tokens=200, token="x" * 400 + " ")) as srv:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "tokbench",
                "run",
                "--url",
                srv.url,
                "--suite",
                "seed5-en",
                "-n",
                "20",
                "--no-progress",
                "--db",
                str(db),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            preexec_fn=_full_disk,
        )
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "full" in r.stderr or "too large" in r.stderr.lower(), r.stderr
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.partial"))
    finished = tokbench("history", "--json", "--db", str(db))
    assert finished.returncode == 0, finished.stderr
    assert '"status": "running"' not in finished.stdout


def test_an_unwritable_runs_folder_is_found_before_any_request(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with FakeServer(FakeConfig(n_tokens=3)) as srv:
        r = tokbench(
            "run",
            "--url",
            srv.url,
            "--suite",
            "seed5-en",
            "--db",
            str(tmp_path / "r.db"),
            env={"TOKBENCH_HOME": str(blocker / "x")},
        )
        assert srv.requests == []
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "runs folder" in r.stderr


def test_every_database_failure_has_a_remedy() -> None:
    cases = {
        "database or disk is full": "free some disk space",
        "attempt to write a readonly database": "writable",
        "database disk image is malformed": "damaged",
        "file is not a database": "damaged",
        "database is locked": "another process",
    }
    for message, remedy in cases.items():
        text = explain("/data/r.db", sqlite3.OperationalError(message))
        assert text.startswith("the results database /data/r.db failed: " + message)
        assert remedy in text
