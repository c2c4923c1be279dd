"""Does a long run cost more per request at its end than at its start?

A 1,000-request suite run (the full `tokbench run` path: backend, metrics, grading, the
store) against a loopback fake server in its own process, answering instantly. Prints
the harness's own time per request (the whole request less its stream, as the request's
own clock measured it: metrics, grading, the store write) and the whole time per
request, for the first and the last 100 requests, and their ratio. A flat run has a
ratio near 1.

Usage: python bench/long_run.py [--requests 1000] [--tokens 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import fake_server_process

from tokbench.core.config import RunConfig
from tokbench.core.records import RequestRecord
from tokbench.runs.suite import run_suite
from tokbench.store.database import Store
from tokbench.suites.loader import Item

SUITE = """
name = "long-run"
[[items]]
id = "q"
prompt = "Say something."
max_tokens = 64
"""


class Clock:
    """Monotonic send and finish times of every request, taken by the run's observer."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.done: list[float] = []
        self.stream_s: list[float] = []

    def started(self, item: Item, rep: int, index: int, total: int) -> None:
        self.sent.append(time.perf_counter())

    def token(self) -> None:
        pass

    def finished(self, record: RequestRecord) -> None:
        self.done.append(time.perf_counter())
        self.stream_s.append((record.metrics.total_ms or 0) / 1000 if record.metrics else 0)


def ms(values: list[float]) -> str:
    median, mean = statistics.median(values) * 1000, statistics.fmean(values) * 1000
    return f"{median:7.3f} ms (mean {mean:.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--tokens", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        suite = base / "long.toml"
        suite.write_text(SUITE, "utf-8")
        with fake_server_process(base, "--n-tokens", str(a.tokens)) as url:
            clock = Clock()
            store = Store(base / "r.db")
            cfg = RunConfig(suite=str(suite), url=url, backend="openai", repeat=a.requests)
            result = run_suite(cfg, store, base / "runs", observer=clock)
    n = len(clock.done)
    assert result.outcome.ok == a.requests, result.outcome
    whole = [clock.done[i] - clock.sent[i] for i in range(n)]
    harness = [w - s for w, s in zip(whole, clock.stream_s, strict=True)]
    k = min(100, n // 2)
    print(f"{n} requests against a loopback fake server ({a.tokens} tokens each)")
    for name, xs in (("harness per request", harness), ("whole request", whole)):
        first, last = xs[:k], xs[-k:]
        ratio = statistics.median(last) / statistics.median(first)
        print(f"{name:26s} first {k}: {ms(first)}   last {k}: {ms(last)}   last/first {ratio:.2f}")


if __name__ == "__main__":
    main()
