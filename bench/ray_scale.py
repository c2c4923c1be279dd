"""How many SSE chunks per second can one process ingest, against two Ray workers?

A local server (`tests.testing.fakeserver`, in processes of its own) streams as fast as it can;
the same concurrency level runs, alternating, in this process (threads, as `tokbench
bench -c N` does) and spread over two Ray worker processes (`--ray`), full metric pipeline
in both. Prints the aggregate chunk rate of each side by side, and the clock-offset
uncertainty Ray's merge carries.

Usage: python bench/ray_scale.py [--streams 4] [--chunks 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import fake_server_process

from tokbench.backends.openai import OpenAIBackend
from tokbench.backends.openai_bench import CompletionsBench
from tokbench.backends.registry import open_engine_for
from tokbench.core.config import BenchConfig
from tokbench.core.records import BenchSettings, RunInfo
from tokbench.results.bench import summarize_bench
from tokbench.runs.bench import execute_bench
from tokbench.runs.ray import RayConcurrency
from tokbench.store.database import Store


def ray_report(run: RunInfo) -> dict[str, Any]:
    assert isinstance(run.config, BenchSettings) and run.config.ray is not None
    return run.config.ray


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--chunks", type=int, default=100000, help="per stream")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64, help="chunks per server write")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    with fake_server_process(tmp, "--n-tokens", str(a.chunks), "--batch", str(a.batch)) as url:
        cfg = BenchConfig(
            url=url, n_prompt=(), n_gen=(a.chunks,), reps=1, warmup=0, concurrency=(a.streams,)
        )
        store = Store(tmp / "r.db")
        opener = lambda _m: CompletionsBench(OpenAIBackend(url))  # noqa: E731
        print("starting a local Ray cluster...", flush=True)
        ray = RayConcurrency(cfg, None, 2, open_engine_for)
        rates: dict[str, list[float]] = {"one process": [], "two Ray workers": []}
        uncertainty = []
        for _ in range(a.rounds):
            for name, runner in (("one process", None), ("two Ray workers", ray)):
                run = execute_bench(cfg, store, opener, concurrency_runner=runner)
                (level,) = summarize_bench(store.bench_samples(run.id), {}).concurrency
                assert level.failed == 0, "a stream failed"
                rates[name].append(level.aggregate_tps or 0)
                if runner:
                    uncertainty.append(ray_report(run)["levels"][-1]["clock_uncertainty_ms"])
                print(f"  {name}: {level.aggregate_tps:,.0f} chunks/s", flush=True)
    one, two = (statistics.median(v) for v in rates.values())
    print(f"\n{a.streams} streams x {a.chunks} chunks, {a.rounds} alternating rounds (median)")
    print(f"one process:      {one:10,.0f} chunks/s")
    print(f"two Ray workers:  {two:10,.0f} chunks/s   ({two / one:.2f} x one process)")
    print(f"clock-offset uncertainty (half the best round trip): {max(uncertainty):.3f} ms max")


if __name__ == "__main__":
    main()
