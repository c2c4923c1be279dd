"""`tokbench hw`: the host probe and, on request, the measured memory read bandwidth (one
thread and all cores, best of several repetitions over a working set several times the
last-level cache) and disk read bandwidth, which are kept (hardware.bandwidth) for every
later run's bound and estimate."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tokbench.hardware.bandwidth import save_bandwidth, save_disk
from tokbench.hardware.probe import HostProbe, caches, probe
from tokbench.hardware.ssd import DEFAULT_FILE_BYTES, DiskBandwidth, measure_disk
from tokbench.paths import data_dir


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


@dataclass(frozen=True, slots=True)
class HostSurvey:
    """`tokbench hw`: the probe, and the bandwidths measured on request."""

    probe: HostProbe
    bandwidth: Bandwidth | None = None
    disk: DiskBandwidth | None = None

    def to_json(self) -> dict[str, Any]:
        """The probe's keys, then `measured_bandwidth` and `disk_bandwidth` when measured."""
        out = self.probe.to_json()
        if self.bandwidth is not None:
            out["measured_bandwidth"] = asdict(self.bandwidth)
        if self.disk is not None:
            out["disk_bandwidth"] = asdict(self.disk)
        return out


def survey(
    channels: int | None = None,
    mts: int | None = None,
    *,
    measure_bandwidth: bool = False,
    disk: Path | None = None,
    disk_bytes: int = DEFAULT_FILE_BYTES,
) -> HostSurvey:
    """The probe; with `measure_bandwidth`, also memory read bandwidth and, unless
    `disk_bytes` is 0, the read bandwidth of the disk holding `disk` (a folder or a model
    file; default the tokbench data dir). Measured figures are saved."""
    info = probe(channels, mts)
    if not measure_bandwidth:
        return HostSurvey(info)
    bw = measure()
    save_bandwidth(bw.all_cores_gbs)
    d = None
    if disk_bytes > 0:
        if disk is None:
            folder = data_dir()
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = disk.parent if disk.is_file() else disk
        d = measure_disk(folder, disk_bytes)
        save_disk(d)
    return HostSurvey(info, bw, d)
