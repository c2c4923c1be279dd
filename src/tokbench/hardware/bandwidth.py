"""Measured memory read bandwidth: one thread and all cores, best of several repetitions,
over a working set several times the last-level cache."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tokbench.hardware.probe import caches


@dataclass(frozen=True, slots=True)
class Bandwidth:
    one_thread_gbs: float
    all_cores_gbs: float
    threads: int
    working_set_bytes: int
    reps: int


def measure(
    working_set_bytes: int | None = None, reps: int = 5, threads: int | None = None
) -> Bandwidth:
    import numpy as np

    llc = max(caches().values(), default=32 * 2**20)
    size = working_set_bytes or max(8 * llc, 512 * 2**20)
    n = size // 8
    data = np.ones(n, dtype=np.int64)  # touched once, so the pages exist before timing
    threads = threads or os.cpu_count() or 1

    def read(part: Any) -> None:
        np.add.reduce(part)  # a streaming read; numpy releases the GIL for it

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return size / min(times) / 1e9

    one = best(lambda: read(data))
    parts = np.array_split(data, threads)
    with ThreadPoolExecutor(threads) as pool:
        every = best(lambda: list(pool.map(read, parts)))
    return Bandwidth(one, every, threads, size, reps)
