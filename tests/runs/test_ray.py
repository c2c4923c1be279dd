"""Distributed load on a real local Ray cluster (worker processes) against a loopback
server with fixed per-token pacing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fake_server_process, tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.backends.openai import OpenAIBackend
from tokbench.backends.openai_bench import CompletionsBench
from tokbench.backends.registry import open_engine_for
from tokbench.core.config import BENCH_TIMEOUT_S, BenchConfig, Connection
from tokbench.core.records import BenchSettings, RayReport, RunInfo, Sample
from tokbench.results.bench import summarize_bench
from tokbench.runs.bench import execute_bench
from tokbench.runs.ray import RayConcurrency, assign_streams, measure_offset, to_driver_clock
from tokbench.store.database import Store


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def ray_report(run: RunInfo) -> RayReport:
    assert isinstance(run.config, BenchSettings) and run.config.ray is not None
    return run.config.ray


def test_offsets_and_stream_assignment() -> None:
    skew = 5_000_000_000

    def remote_clock() -> int:
        time.sleep(0.001)
        return time.perf_counter_ns() + skew

    off = measure_offset(remote_clock, rounds=5)
    assert abs(off.offset_ns - skew) <= off.uncertainty_ns + 200_000
    s = Sample(10.0, None, 5, "ok", None, 50.0, skew + 100, skew + 900)
    assert (to_driver_clock(s, skew).first_ns, to_driver_clock(s, skew).last_ns) == (100, 900)
    assert assign_streams(5, 2) == [[0, 2, 4], [1, 3]]


def _level(store: Store, cfg: BenchConfig, url: str, runner: object | None) -> object:
    opener = lambda _m: CompletionsBench(OpenAIBackend(url))  # noqa: E731
    run = execute_bench(cfg, store, opener, concurrency_runner=runner)  # type: ignore[arg-type]
    (level,) = summarize_bench(store.bench_samples(run.id), {}).concurrency
    return run, level


def test_ray_workers_match_a_single_process_run(tmp_path: Path, ray_cluster: None) -> None:
    # every stream: first token after 150 ms, then one every 25 ms: 30 tokens, ~0.9 s; the
    # server runs in its own process, or the single-process client would share its GIL
    pacing = ("--ttft-ms", "150", "--itl-ms", "25", "--n-tokens", "30")
    with fake_server_process(tmp_path, *pacing) as url:
        cfg = BenchConfig(
            Connection(url=url, timeout_s=BENCH_TIMEOUT_S),
            n_prompt=(),
            n_gen=(30,),
            reps=1,
            warmup=0,
            concurrency=(8,),
        )
        store = Store(tmp_path / "r.db")
        _, single = _level(store, cfg, url, None)
        rc = RayConcurrency(cfg, None, 2, open_engine_for)
        run, merged = _level(store, cfg, url, rc)
    assert (merged.ok, merged.failed) == (8, 0)  # type: ignore[attr-defined]
    for metric in ("aggregate_tps", "per_stream_tps", "ttft_p50_ms", "ttft_p90_ms"):
        a, b = getattr(single, metric), getattr(merged, metric)
        assert b == pytest.approx(a, rel=0.05), metric
    workers = ray_report(run).workers or ()
    assert len({w.pid for w in workers}) == 2 and os.getpid() not in {w.pid for w in workers}
    (lv,) = ray_report(run).levels
    assert lv.workers == 2 and 0 < lv.clock_uncertainty_ms < 50


def test_a_killed_worker_marks_its_streams_failed(tmp_path: Path, ray_cluster: None) -> None:
    with FakeServer(FakeConfig(ttft_s=0.05, itl_s=0.05, n_tokens=60)) as srv:  # ~3 s streams
        cfg = BenchConfig(
            Connection(url=srv.url, timeout_s=BENCH_TIMEOUT_S),
            n_prompt=(),
            n_gen=(60,),
            reps=1,
            warmup=0,
            concurrency=(6,),
        )
        rc = RayConcurrency(cfg, None, 2, open_engine_for)

        def kill_worker_1() -> None:
            while rc.workers is None:
                time.sleep(0.05)
            time.sleep(2.0)  # the 1 s scheduled start, then mid-stream
            os.kill(rc.workers[1].pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_worker_1)
        killer.start()
        store = Store(tmp_path / "r.db")
        run, level = _level(store, cfg, srv.url, rc)
        killer.join()
    samples = {s.stream: s for s in store.bench_samples(run.id)}  # type: ignore[attr-defined]
    assert sorted(samples) == list(range(6))  # none dropped
    assert {i for i, s in samples.items() if s.status == "ok"} == {0, 2, 4}
    assert all("ray worker 1 failed" in (samples[i].note or "") for i in (1, 3, 5))
    assert (level.ok, level.failed) == (3, 3)  # type: ignore[attr-defined]


def test_bench_cli_with_ray(tmp_path: Path) -> None:
    with FakeServer(FakeConfig(ttft_s=0.05, itl_s=0.01, n_tokens=10)) as srv:
        r = tokbench(
            "bench", "--url", srv.url, "-p", "0", "-n", "10", "-r", "1", "--warmup", "0",
            "-c", "4", "--ray", "--ray-workers", "2", "--format", "json", "--no-progress",
        )  # fmt: skip
    assert r.returncode == 0, r.stderr
    (level,) = json.loads(r.stdout)["concurrency"]
    assert level["ok"] == 4 and level["failed"] == 0
    assert "2 Ray workers, clock offset uncertainty" in r.stderr
    bad = tokbench("bench", "--url", "http://127.0.0.1:1/v1", "--ray")  # no -c level
    assert bad.returncode == 2 and "--ray spreads concurrency levels" in bad.stderr
