"""`tokbench hw`: the host probe, and on request the measured memory and disk read
bandwidths, which are kept (saved.py) for every later run's bound and estimate."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tokbench.hardware.bandwidth import measure
from tokbench.hardware.probe import probe
from tokbench.hardware.saved import save_bandwidth, save_disk
from tokbench.hardware.ssd import DEFAULT_FILE_BYTES, measure_disk
from tokbench.paths import data_dir


def survey(
    channels: int | None = None,
    mts: int | None = None,
    *,
    measure_bandwidth: bool = False,
    disk: Path | None = None,
    disk_bytes: int = DEFAULT_FILE_BYTES,
) -> dict[str, Any]:
    """The probe; with `measure_bandwidth`, also memory read bandwidth and, unless
    `disk_bytes` is 0, the read bandwidth of the disk holding `disk` (a folder or a model
    file; default the tokbench data dir). Measured figures are saved."""
    info = probe(channels, mts)
    if not measure_bandwidth:
        return info
    bw = measure()
    info["measured_bandwidth"] = asdict(bw)
    save_bandwidth(bw.all_cores_gbs)
    if disk_bytes > 0:
        if disk is None:
            folder = data_dir()
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = disk.parent if disk.is_file() else disk
        d = measure_disk(folder, disk_bytes)
        info["disk_bandwidth"] = asdict(d)
        save_disk(d)
    return info
