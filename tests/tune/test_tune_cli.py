"""`tokbench tune` end to end on the bundled Gemma: embedded and through llama-server,
stored as a bench run, resumable, and bad input answered in one sentence."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, tokbench
from tokbench.gguf.tools import find_tool
from tokbench.store.database import Store

pytestmark = pytest.mark.slow

# threads 1 and 2 x flash attention on/off x two ubatch sizes; two repetitions each
GRID = ("--set", "threads=1,2", "--set", "fa=on,off", "--set", "ubatch=256,512", "--only", "fa")
QUICK = ("-n", "8", "-r", "2", "--max-reps", "2")


def _tune(db: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    r = tokbench("tune", *args, *QUICK, "--json", "--db", str(db), timeout=300)
    assert "Traceback" not in r.stderr, r.stderr
    return r, (json.loads(r.stdout) if r.returncode in (0, 1) and r.stdout.strip() else {})


def _samples(db: Path, run_id: str) -> dict[tuple[str, str, int], tuple[float | None, str]]:
    return {
        (s.model, s.test, s.rep): (s.tps, s.started_at) for s in Store(db).bench_samples(run_id)
    }


def _measured(doc: dict[str, Any]) -> set[str]:
    return {r["key"] for r in doc["report"]["rows"] if r["failure"] is None}


def test_embedded_tune_sweeps_stores_and_resumes_without_remeasuring(
    gemma_path: Path, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    # --max-time stops after the start candidate: the run is kept and resumable
    r, first = _tune(db, str(gemma_path), *GRID, "--max-time", "0.01")
    assert r.returncode == 0, r.stderr
    run_id = first["run_id"]
    assert first["report"]["stopped"] == "max-time"
    assert _measured(first) == {"threads=2,fa=on,ubatch=512"}
    before = _samples(db, run_id)

    r, doc = _tune(db, "--resume", run_id)
    assert r.returncode == 0, r.stderr
    after = _samples(db, run_id)
    assert all(after[k] == v for k, v in before.items())  # kept, not measured again
    measured = _measured(doc)  # the start, then one change per knob from the leader
    assert len(measured) == 4 and "threads=1,fa=on,ubatch=512" in measured
    assert {"fa=off", "ubatch=256"} <= {p for k in measured for p in k.split(",")}
    rep = doc["report"]
    assert rep["grid_size"] == 8 and rep["candidates_tried"] == 4
    assert [p["threads"] for p in rep["threads"]["points"]] == [1, 2]
    assert {e["knob"] for e in rep["effects"]} == {"threads", "fa", "ubatch"}

    r, _ = _tune(db, "--resume", run_id)  # a finished tune measures nothing more
    assert r.returncode == 0 and _samples(db, run_id) == after
    listed = tokbench("history", "--json", "--db", str(db))
    assert [x["kind"] for x in json.loads(listed.stdout) if x["id"] == run_id] == ["tune"]

    shown = tokbench("show", run_id, "--db", str(db), "--format", "md")
    assert shown.returncode == 0, shown.stderr
    assert "candidates measured of a grid of 8" in shown.stdout
    assert "### Sensitivity" in shown.stdout and "llama-server -m" in shown.stdout
    html = tmp_path / "r.html"
    assert tokbench("report", run_id, "--db", str(db), "-o", str(html)).returncode == 0
    assert f"chart-threads-{run_id}" in html.read_text()


def test_a_short_real_tune_picks_its_rankings_top(gemma_path: Path, tmp_path: Path) -> None:
    r = tokbench(
        "tune", str(gemma_path), "--only", "threads", "--max-time", "60", "-n", "32",
        "--json", "--db", str(tmp_path / "t.db"), timeout=300,
    )  # fmt: skip
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    rep = json.loads(r.stdout)["report"]
    ok = [x for x in rep["rows"] if x["failure"] is None]
    assert ok[0]["is_best"] and ok[0]["key"] == rep["best"] and ok[0]["vs_pick"] == "pick"
    assert all(x["vs_pick"] in ("slower", "same", "within noise") for x in ok[1:])
    for e in rep["effects"]:  # an effect is claimed only where its interval excludes 0
        assert not e["measurable"] or e["change_low"] > 0
    assert rep["drift"] is not None  # measured again, or said why not


def test_a_tune_stored_as_a_bench_run_still_shows_and_resumes(
    gemma_path: Path, tmp_path: Path
) -> None:
    import sqlite3

    db = tmp_path / "t.db"
    r, first = _tune(db, str(gemma_path), *GRID, "--max-time", "0.01")
    assert r.returncode == 0, r.stderr
    run_id = first["run_id"]
    with sqlite3.connect(db) as con:  # as tokbench stored tunes before kind "tune"
        con.execute("UPDATE runs SET kind = 'bench' WHERE id = ?", (run_id,))
    shown = tokbench("show", run_id, "--db", str(db), "--format", "md")
    assert shown.returncode == 0 and "candidates measured of a grid of 8" in shown.stdout
    r, doc = _tune(db, "--resume", run_id)
    assert r.returncode == 0 and len(_measured(doc)) == 4, r.stderr


def test_server_tune_and_its_command_line_starts_a_server_that_answers(
    gemma_path: Path, tmp_path: Path
) -> None:
    r, doc = _tune(tmp_path / "t.db", str(gemma_path), "--server-bin", *GRID)
    assert r.returncode == 0, r.stderr
    assert doc["engine"] == "llama-server" and len(_measured(doc)) == 4
    line = doc["report"]["llama_server"]
    argv = shlex.split(line)
    port = free_port()
    argv[argv.index("--port") + 1] = str(port)
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen([*argv, "-c", "512"], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline, status = time.monotonic() + 90, 0
            while time.monotonic() < deadline and proc.poll() is None and status != 200:
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
                except httpx.HTTPError:
                    time.sleep(0.3)
            assert status == 200, (tmp_path / "server.log").read_text(errors="replace")[-2000:]
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _rejecting_server(tmp_path: Path, when: str) -> Path:
    """llama-server that is handed a KV-cache type it refuses when its argv matches `when`."""
    found = find_tool("llama-server")
    assert found is not None
    real = shlex.quote(str(found))
    script = tmp_path / "llama-server"
    script.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *{shlex.quote(when)}*) exec {real} "$@" -ctk bogus ;; esac\n'
        f'exec {real} "$@"\n'
    )
    script.chmod(0o755)
    return script


def test_a_rejected_flag_fails_one_candidate_and_the_search_goes_on(
    gemma_path: Path, tmp_path: Path
) -> None:
    fake = _rejecting_server(tmp_path, "-fa off")
    args = ("--only", "fa", "--set", "threads=1", "--set", "ubatch=512")
    r, doc = _tune(tmp_path / "t.db", str(gemma_path), "--server-bin", str(fake), *args)
    assert r.returncode == 0, r.stderr
    failed = {x["key"]: x["failure"] for x in doc["report"]["rows"] if x["failure"]}
    assert "Unsupported cache type" in failed["threads=1,fa=off,ubatch=512"]
    assert len(_measured(doc)) == 2  # auto and on ran


def test_nothing_succeeded_exits_non_zero_with_the_reason(gemma_path: Path, tmp_path: Path) -> None:
    fake = _rejecting_server(tmp_path, "-m")
    pinned = ("--set", "threads=1", "--set", "fa=on", "--set", "ubatch=512", "--only", "fa")
    r, _ = _tune(tmp_path / "t.db", str(gemma_path), "--server-bin", str(fake), *pinned)
    assert r.returncode == 1
    assert "Every candidate failed" in r.stderr and "Unsupported cache type" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("MISSING",), "model file not found"),
        (("NOTGGUF",), "not a GGUF file"),
        (("GEMMA", "--server-bin", "/bin/echo"), "does not look like llama.cpp's llama-server"),
        (("GEMMA", "--set", "kv=bogus"), "--set kv=bogus: expected one of"),
        (("GEMMA", "--only", "numa"), "one NUMA node"),
    ],
)
def test_bad_input_is_one_sentence(
    gemma_path: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "x.gguf").write_bytes(b"not a model" * 100)
    paths = {"MISSING": str(tmp_path / "nope.gguf"), "NOTGGUF": str(tmp_path / "x.gguf"),
             "GEMMA": str(gemma_path)}  # fmt: skip
    r = tokbench("tune", *(paths.get(a, a) for a in args), "--db", str(tmp_path / "t.db"))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
