"""End to end through the real `tokbench` CLI, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_seed5_en, tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer


@pytest.mark.slow
def test_embedded_default_runs_seed5_end_to_end(gemma_path: Path, tb_home: Path) -> None:
    r = tokbench("run", "--max-tokens", "16", "--json", "--no-progress", "--seed", "1")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    run, reqs = doc["run"], doc["requests"]
    assert run["backend"] == "embedded" and run["status"] == "done"
    assert run["target"]["gguf_path"] == str(gemma_path)
    assert run["target"]["quantization"] == "Q4_K_M"
    assert run["host"]["cpu_model"] and run["host"]["physical_cores"] >= 1
    assert [q["item_id"] for q in reqs] == [
        "essay",
        "compare-9.11-9.9",
        "autumn-quatrain",
        "weekday",
        "physics-mcq",
    ]
    for q in reqs:
        m = q["metrics"]
        assert q["status"] == "ok", q["error"]
        assert m["prompt_tokens_source"] == "engine" and m["prompt_tokens"] > 10
        assert m["completion_tokens_source"] == "engine"
        assert 1 <= m["completion_tokens"] <= 16
        # the engine's own prefill count is the prompt we sent
        assert m["ttft_ms"] > 0 and m["total_ms"] >= m["ttft_ms"]
    # every seed question is graded, honestly: the tiny model mostly fails or gives no answer
    graders = [q["grade"]["grader"] for q in reqs]
    assert graders == [
        "seed5.essay",
        "seed5.compare-decimals",
        "seed5.quatrain",
        "seed5.weekday",
        "seed5.physics-choice",
    ]
    assert all(q["grade"]["verdict"] in ("pass", "fail", "no_answer") for q in reqs)
    assert all(q["grade"]["reason"] for q in reqs)
    quality = doc["summary"]["quality"]
    assert quality["n"] == 5 and 0 <= quality["ci_low"] <= quality["rate"] <= quality["ci_high"]
    decoded = [q["metrics"]["decode_tps"] for q in reqs if q["metrics"]["decode_tps"]]
    assert decoded and all(d > 0 for d in decoded)
    assert doc["summary"]["overall"]["decode_tps"]["n"] == len(decoded)

    folder = tb_home / "runs" / run["id"]
    saved = json.loads((folder / "results.json").read_text("utf-8"))
    assert saved["requests"] == reqs
    md = (folder / "results.md").read_text("utf-8")
    assert "| essay | 1 |" in md and "小学生开放命题作文" in md

    h = tokbench("history", "--json")
    assert h.returncode == 0 and json.loads(h.stdout)[0]["id"] == run["id"]
    s = tokbench("show", run["id"][:17])
    assert s.returncode == 0 and "physics-mcq" in s.stdout and "decode tok/s" in s.stdout


@pytest.mark.slow
def test_llama_cpp_server_run_matches_server_counts(llama_server: str) -> None:
    doc = run_seed5_en(llama_server)
    assert doc["run"]["model"] == "gemma-3-270m"
    for q in doc["requests"]:
        assert q["status"] == "ok", q["error"]
        m = q["metrics"]
        # llama_cpp.server streams no usage: the count is the chunk estimate...
        assert m["completion_tokens_source"] == "estimate"
        # ...and must agree with the server's own count for the same (greedy) request.
        prompt = q["prompt"]
        ref = httpx.post(
            llama_server + "/chat/completions",
            json={
                "model": "gemma-3-270m",
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 24,
                "temperature": 0,
            },
            timeout=120,
        ).json()
        assert ref["choices"][0]["message"]["content"] == q["answer"]
        server_n = ref["usage"]["completion_tokens"]
        assert 0.8 * server_n <= m["completion_tokens"] <= server_n
        assert m["decode_tps"] is None or m["decode_tps"] > 0


def test_ctrl_c_keeps_finished_requests_and_resume_completes(tb_home: Path) -> None:
    cfg = FakeConfig(ttft_s=0.05, itl_s=0.03, n_tokens=15)  # ~0.5 s per request
    db = tb_home / "results.db"
    with FakeServer(cfg) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tokbench", "run", "--url", srv.url, "--no-progress", "-n", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and done < 2:
            time.sleep(0.05)
            if db.exists():
                with contextlib.suppress(sqlite3.OperationalError):
                    done = (
                        sqlite3.connect(db).execute("SELECT COUNT(*) FROM requests").fetchone()[0]
                    )
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "--resume" in err
        con = sqlite3.connect(db)
        run_id, status = con.execute("SELECT id, status FROM runs").fetchone()
        assert status == "interrupted"
        kept = con.execute("SELECT item_id, rep, status FROM requests").fetchall()
        assert 2 <= len(kept) < 10 and all(s == "ok" for _, _, s in kept)

        r = tokbench("run", "--resume", run_id, "--json", "--no-progress")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
    keys = [(q["item_id"], q["rep"]) for q in doc["requests"]]
    assert len(keys) == 10 == len(set(keys))  # 5 questions x 2, none repeated, none lost
    assert doc["run"]["status"] == "done"
    # at most the one request in flight at Ctrl-C was sent twice
    assert 10 <= len(srv.requests) <= 11


def test_failed_requests_are_recorded_and_exit_non_zero(tb_home: Path) -> None:
    with FakeServer(FakeConfig(mode="no-stream")) as srv:
        r = tokbench("run", "--url", srv.url, "--no-progress", "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["run"]["status"] == "failed"
    assert len(doc["requests"]) == 5
    assert all("without streaming" in q["error"] for q in doc["requests"])
    assert "No request succeeded" in r.stderr


def test_user_errors_are_one_sentence_without_traceback(tmp_path: Path) -> None:
    with FakeServer() as srv:
        url = srv.url
    r = tokbench("run", "--url", url, "--no-progress")
    assert r.returncode == 2
    assert r.stderr.startswith("Error: nothing is listening") and "Traceback" not in r.stderr

    bad = tmp_path / "s.toml"
    bad.write_text('[[items]]\nid = "x"\nprompt = ""\n')
    r = tokbench("run", "--suite", str(bad), "--no-progress")
    assert r.returncode == 2 and "line 3, field 'items.0.prompt'" in r.stderr
    assert "Traceback" not in r.stderr

    r = tokbench("run", "--url", url, "--api-key-env", "TOKBENCH_TEST_UNSET_KEY")
    assert r.returncode == 2 and "TOKBENCH_TEST_UNSET_KEY is not set" in r.stderr

    r = tokbench("show", "nope")
    assert r.returncode == 2 and "no run 'nope'" in r.stderr


def test_api_key_is_sent_but_never_stored(tb_home: Path) -> None:
    secret = "sk-tokbench-SECRET-123"
    with FakeServer(FakeConfig(mode="unauthorized", api_key=secret, n_tokens=3)) as srv:
        r = tokbench(
            "run",
            "--url",
            srv.url,
            "--api-key-env",
            "TB_KEY",
            "--no-progress",
            env={"TB_KEY": secret},
        )
    assert r.returncode == 0, r.stderr
    assert srv.requests, "the key must have been accepted by the server"
    stored = [*tb_home.glob("results.db*"), *(tb_home / "runs").rglob("*.*")]
    assert len(stored) >= 3
    for f in stored:
        assert secret.encode() not in f.read_bytes(), f
    assert secret not in r.stdout + r.stderr


def test_help_is_light() -> None:
    code = (
        "import sys\n"
        "from tokbench.cli import cli\n"
        "try:\n    cli(['run', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('llama_cpp', 'numpy', 'httpx', 'rich', 'pydantic') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr


@pytest.mark.slow
def test_llama_cpp_server_inline_think_tags_are_split(llama_server: str, tmp_path: Path) -> None:
    """A real server emitting `<think>…</think>` (forced by a grammar passed through
    extra_body): thinking is stored apart and never shown as the answer."""
    suite = tmp_path / "think.toml"
    suite.write_text(
        "max_tokens = 48\ntemperature = 0\n"
        "[extra_body]\n"
        'grammar = \'root ::= "<think>" [a-z ]{8,40} "</think>" [A-Z] [a-z ]{4,30}\'\n'
        '[[items]]\nid = "t"\nprompt = "Is 9.9 larger than 9.11?"\n',
        "utf-8",
    )
    r = tokbench("run", "--url", llama_server, "--suite", str(suite), "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    q = json.loads(r.stdout)["requests"][0]
    assert q["status"] == "ok", q["error"]
    assert q["thinking"] and "<think>" not in q["thinking"] and "</think>" not in q["thinking"]
    assert q["answer"] and q["answer"][0].isupper() and "think>" not in q["answer"]
    m = q["metrics"]
    assert m["answer_state"] == "answered"
    assert m["thinking_tokens"] >= 2 and m["ttfa_ms"] > m["ttft_ms"]


def test_sigterm_ends_a_run_like_ctrl_c_and_it_resumes(tmp_path: Path) -> None:
    from tokbench.store.database import Store

    db = tmp_path / "r.db"
    env = {**os.environ, "TOKBENCH_HOME": str(tmp_path / "home")}
    with FakeServer(FakeConfig(n_tokens=20, itl_s=0.02)) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tokbench", "run", "--url", srv.url, "--suite", "seed5-en",
             "-n", "20", "--no-progress", "--db", str(db)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (db.exists() and _stored(db) >= 2):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "Traceback" not in err, err
        (run,) = Store(db).runs()
        kept = _stored(db)
        assert run.status == "interrupted" and kept >= 2
        resumed = tokbench("run", "--resume", run.id, "--db", str(db), env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert _stored(db) == 100 and Store(db).run(run.id).status == "done"


def _stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
        except sqlite3.OperationalError:
            return 0
