"""`tokbench bench`: lengths, statistics, stop rules, concurrency, drift, resume."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.backends.openai import OpenAIBackend
from tokbench.backends.openai_bench import CompletionsBench
from tokbench.core.config import BENCH_TIMEOUT_S, BenchConfig, BenchTest, Connection, EngineSettings
from tokbench.core.records import BenchSample, Sample, Target, stop_rules
from tokbench.render.bench import markdown
from tokbench.results.bench import summarize_bench
from tokbench.runs.bench import execute_bench
from tokbench.store.database import Store


class ScriptedEngine:
    """A bench engine that returns the given rates in order (for the statistics)."""

    kind = "scripted"
    model = "m"

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)
        self.calls: list[tuple[str, int]] = []

    def info(self) -> Target:
        return Target(backend_kind=self.kind, threads=1)

    def measure(self, test: BenchTest, rep: int) -> Sample:
        self.calls.append((test.name, rep))
        return Sample(self.values.pop(0), None, test.n, "ok")

    def close(self) -> None:
        pass


def run_scripted(tmp_path: Path, cfg: BenchConfig, values: list[float]):
    store = Store(tmp_path / "b.db")
    engine = ScriptedEngine(values)
    run = execute_bench(cfg, store, lambda _m: engine)
    return run, summarize_bench(store.bench_samples(run.id), stop_rules(run)), engine


def test_fixed_reps_discard_warmups(tmp_path: Path) -> None:
    cfg = BenchConfig(n_prompt=(16,), n_gen=(), reps=4, warmup=2)
    _run, s, engine = run_scripted(tmp_path, cfg, [999.0, 888.0, 10.0, 12.0, 11.0, 13.0])
    (row,) = s.tests
    assert (row.test, row.n, row.warmups, row.stop_rule) == ("pp16", 4, 2, "reps")
    assert row.mean == pytest.approx(11.5)  # warm-ups (999, 888) are not in the mean
    assert row.sd == pytest.approx(1.290994, abs=1e-6)
    # the 95% CI of a rate is taken on the log scale: t(0.975, 3) = 3.182446
    logs = [math.log(v) for v in (10.0, 12.0, 11.0, 13.0)]
    half = 3.182446 * statistics.stdev(logs) / 2
    assert row.ci_low == pytest.approx(math.exp(statistics.fmean(logs) - half), abs=1e-5)
    assert row.ci_high == pytest.approx(math.exp(statistics.fmean(logs) + half), abs=1e-5)
    assert engine.calls[:2] == [("pp16", -1), ("pp16", -2)]


def test_until_ci_stops_when_tight_and_at_max_reps_when_not(tmp_path: Path) -> None:
    tight = BenchConfig(n_prompt=(), n_gen=(8,), warmup=0, until_ci_pct=2.0, max_reps=20)
    _run, s, _e = run_scripted(tmp_path, tight, [100.0, 100.5, 99.8, 100.2] + [100.0] * 20)
    assert s.tests[0].stop_rule == "ci" and s.tests[0].n == 3
    noisy = BenchConfig(n_prompt=(), n_gen=(8,), warmup=0, until_ci_pct=1.0, max_reps=6)
    _run, s, _e = run_scripted(tmp_path / "n", noisy, [50.0, 150.0] * 10)
    assert s.tests[0].stop_rule == "max-reps" and s.tests[0].n == 6


def test_until_ci_max_time(tmp_path: Path) -> None:
    cfg = BenchConfig(
        n_prompt=(), n_gen=(8,), warmup=0, until_ci_pct=0.001, max_reps=1000, max_time_s=0.0
    )
    _run, s, _e = run_scripted(tmp_path, cfg, [1.0, 3.0, 2.0, 5.0] * 10)
    assert s.tests[0].stop_rule == "max-time" and s.tests[0].n == 2  # a CI needs two


def test_test_names_and_matrix() -> None:
    cfg = BenchConfig(n_prompt=(512,), n_gen=(128,), depths=(0, 4096))
    assert [t.name for t in cfg.tests()] == ["pp512", "tg128", "pp512 @ d4096", "tg128 @ d4096"]


def test_drift_slope_flags_slowdown() -> None:
    def samples(tps: list[float]) -> list[BenchSample]:
        return [
            BenchSample(
                "r", "m", "soak tg8", 1, i, 0, "t", 60.0 * i, "ok", None, v, None, 8, 10.0, 1.0
            )
            for i, v in enumerate(tps)
        ]

    (d,) = summarize_bench(samples([20.0, 19.1, 18.0, 17.2, 15.9, 15.1]), {}).drift
    assert d.slope_tps_per_min == pytest.approx(-17.45 / 17.5) and d.slowdown  # Sxy / Sxx
    (flat,) = summarize_bench(samples([20.0, 20.3, 19.8, 20.1, 20.0, 19.9]), {}).drift
    assert not flat.slowdown


def test_http_exact_prompt_and_verified_output() -> None:
    with FakeServer(FakeConfig(n_tokens=50, itl_s=0.001)) as srv:
        hb = CompletionsBench(OpenAIBackend(srv.url))
        text, counted = hb.exact_text(40, __import__("random").Random(1))
        assert counted == 40 and len(text.split()) == 39  # 39 words + BOS
        pp = hb.measure(BenchTest("pp", 40), 0)
        assert pp.status == "ok" and pp.note is None and pp.tokens == 40
        assert srv.requests[-1]["max_tokens"] == 1
        tg = hb.measure(BenchTest("tg", 20), 0)
        body = srv.requests[-1]
        assert tg.status == "ok" and tg.tokens == 20
        assert body["ignore_eos"] is True and body["min_tokens"] == 20
        short = hb.measure(BenchTest("tg", 80), 0)  # the server stops at 50
        assert short.status == "short" and "only 50 of 80" in (short.note or "")


def test_concurrency_arithmetic(tmp_path: Path) -> None:
    # every stream: first token after 100 ms, then one every 20 ms, 20 tokens in all
    with FakeServer(FakeConfig(ttft_s=0.1, itl_s=0.02, n_tokens=20)) as srv:
        store = Store(tmp_path / "c.db")
        cfg = BenchConfig(
            Connection(url=srv.url, timeout_s=BENCH_TIMEOUT_S),
            n_prompt=(),
            n_gen=(20,),
            reps=1,
            warmup=0,
            concurrency=(1, 4),
        )
        opener = lambda _m: CompletionsBench(OpenAIBackend(srv.url))  # noqa: E731
        run = execute_bench(cfg, store, opener)
        s = summarize_bench(store.bench_samples(run.id), {})
    (level,) = s.concurrency
    assert (level.concurrency, level.ok, level.failed) == (4, 4, 0)
    assert level.per_stream_tps == pytest.approx(50, rel=0.08)  # 19 tokens / 380 ms
    assert level.aggregate_tps == pytest.approx(80 / 0.48, rel=0.1)  # 4x20 over 480 ms
    assert level.ttft_p50_ms == pytest.approx(100, abs=15)
    assert level.ttft_p99_ms is not None and level.ttft_p99_ms >= level.ttft_p50_ms


def test_markdown_has_llama_bench_shape(tmp_path: Path) -> None:
    run, s, _e = run_scripted(
        tmp_path,
        BenchConfig(n_prompt=(64,), n_gen=(16,), reps=2, warmup=0),
        [100.0, 102.0, 20.0, 21.0],
    )
    md = markdown(run, s).splitlines()
    assert md[0] == "| model | size | params | backend | threads | test | t/s | 95% CI | n |"
    cells = [c.strip() for c in md[2].strip("|").split("|")]
    assert cells[5] == "pp64" and cells[6] == "101.00 ± 1.41" and cells[8] == "2"


def test_resume_after_kill_neither_repeats_nor_loses(tb_home: Path) -> None:
    db = tb_home / "results.db"
    with FakeServer(FakeConfig(ttft_s=0.05, itl_s=0.01, n_tokens=8)) as srv:
        args = [
            "bench",
            "--url",
            srv.url,
            "-p",
            "8",
            "-n",
            "8",
            "-r",
            "4",
            "--warmup",
            "1",
            "--format",
            "json",
            "--no-progress",
        ]
        proc = subprocess.Popen(
            [sys.executable, "-m", "tokbench", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline, n = time.monotonic() + 60, 0
        while time.monotonic() < deadline and n < 4:
            time.sleep(0.02)
            with contextlib.suppress(sqlite3.OperationalError):
                n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM bench_samples").fetchone()[0]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        con = sqlite3.connect(db)
        run_id = con.execute("SELECT id FROM runs").fetchone()[0]
        before = set(con.execute("SELECT test, rep FROM bench_samples WHERE rep >= 0"))
        assert 0 < len(before) < 8
        r = tokbench("bench", "--resume", run_id, "--format", "json", "--no-progress")
        assert r.returncode == 0, r.stderr
    rows = list(
        sqlite3.connect(db).execute(
            "SELECT test, rep FROM bench_samples WHERE rep >= 0 ORDER BY test, rep"
        )
    )
    assert rows == [("pp8", i) for i in range(4)] + [("tg8", i) for i in range(4)]
    doc = json.loads(r.stdout)
    assert doc["run"]["status"] == "done" and [t["n"] for t in doc["tests"]] == [4, 4]


@pytest.mark.slow
def test_embedded_exact_lengths(gemma_path: Path) -> None:
    from tokbench.backends.embedded import EmbeddedBackend
    from tokbench.backends.embedded_bench import EmbeddedBench

    eb = EmbeddedBench(EmbeddedBackend(gemma_path, EngineSettings(threads=2, n_ctx=512)))
    pp = eb.measure(BenchTest("pp", 48, depth=32), 0)
    tg = eb.measure(BenchTest("tg", 8, depth=32), 0)
    eb.close()
    for s, n in ((pp, 48), (tg, 8)):
        assert s.status == "ok" and s.note is None and s.tokens == n  # the engine counted n
        assert s.tps and s.server_tps and s.server_tps == pytest.approx(s.tps, rel=0.2)


@pytest.mark.slow
def test_llama_cpp_server_exact_lengths(llama_server: str) -> None:
    hb = CompletionsBench(OpenAIBackend(llama_server))
    assert hb.info().details["tokenizer"] == "/extras/tokenize"
    pp = hb.measure(BenchTest("pp", 40), 0)
    assert pp.status == "ok" and pp.note is None, pp.note  # the server counted 40 too
    tg = hb.measure(BenchTest("tg", 12), 0)
    assert tg.status == "ok" and tg.tokens == 12, tg.note
    hb.close()


def test_ollama_bench_says_what_it_cannot_force() -> None:
    from tests.replay import ReplayServer, Stream, ollama_routes
    from tokbench.backends.ollama import OllamaBackend
    from tokbench.backends.ollama_bench import OllamaBench

    routes = ollama_routes(Stream("ollama_chat_cached.ndjson"))
    routes[("POST", "/api/generate")] = Stream("ollama_generate_short.ndjson", 0.05, 0.02)
    with ReplayServer(routes) as srv:
        ob = OllamaBench(OllamaBackend(srv.url))
        tg = ob.measure(BenchTest("tg", 16), 0)
        pp = ob.measure(BenchTest("pp", 32), 0)
        sent = srv.seen[-1][2]
    assert sent["raw"] is True and sent["options"]["num_predict"] == 1
    assert tg.status == "short" and tg.tokens == 5
    assert "cannot force the output length" in (tg.note or "")
    assert tg.server_tps == pytest.approx(5 / 0.1)
    assert pp.status == "ok" and pp.tokens == 33 and "approximate" in (pp.note or "")
    assert pp.server_tps == pytest.approx(33 / 0.15)


def test_soak_from_the_cli_reports_drift(tb_home: Path) -> None:
    with FakeServer(FakeConfig(ttft_s=0.01, itl_s=0.002, n_tokens=12)) as srv:
        r = tokbench(
            "bench",
            "--url",
            srv.url,
            "-n",
            "12",
            "--soak",
            "5",
            "--format",
            "json",
            "--no-progress",
        )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    (row,) = doc["tests"]
    assert row["test"] == "soak tg12" and row["n"] == 5
    (drift,) = doc["drift"]
    assert drift["n"] == 5 and drift["slope_tps_per_min"] is not None
    assert drift["ci_low"] <= drift["slope_tps_per_min"] <= drift["ci_high"]


def test_bad_bench_options_are_clear(tb_home: Path) -> None:
    r = tokbench("bench", "-d", "0,abc")
    assert r.returncode == 2 and "numbers separated by commas" in r.stderr
    r = tokbench("bench", "-c", "1,4")
    assert r.returncode == 2 and "concurrency (-c) needs a server" in r.stderr
    r = tokbench("bench", "--soak", "ten")
    assert r.returncode == 2 and "duration like 10m" in r.stderr
