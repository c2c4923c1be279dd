"""Disk read bandwidth from a temporary file, and how it is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokbench.errors import TokbenchError
from tokbench.hardware.ssd import DiskBandwidth, device_of, measure_disk


def test_disk_bandwidth_is_measured_and_the_file_removed(tmp_path: Path) -> None:
    d = measure_disk(tmp_path, 8 * 2**20, random_reads=256)
    assert d.file_bytes == 8 * 2**20 and d.path == str(tmp_path)
    assert d.sequential_read_gbs > 0 and d.random_4k_read_gbs > 0
    assert 0 < d.random_reads <= 256
    assert d.random_4k_iops == pytest.approx(d.random_4k_read_gbs * 1e9 / 4096)
    assert d.cache_bypass in ("O_DIRECT", "fadvise", "none")
    assert list(tmp_path.iterdir()) == []
    assert device_of(tmp_path)[0] is not None


def test_disk_errors_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(TokbenchError, match="not a folder"):
        measure_disk(tmp_path / "missing")
    with pytest.raises(TokbenchError, match="--disk-mb"):
        measure_disk(tmp_path, 2**60)
    assert list(tmp_path.iterdir()) == []


def test_saved_figures_keep_each_other_and_old_files_still_read(tb_home: Path) -> None:
    from tokbench.hardware.bandwidth import load_bandwidth, load_disk, save_bandwidth, save_disk

    assert load_bandwidth() is None and load_disk() is None
    tb_home.mkdir(parents=True)
    (tb_home / "hw.json").write_text(json.dumps({"bandwidth_gbs": 20.0}))  # before disks
    assert load_bandwidth() == 20.0 and load_disk() is None
    disk = DiskBandwidth(
        "/models", "/dev/sda1", "ext4", 0.55, 0.04, 9800.0, 2**29, 4096, "O_DIRECT"
    )
    save_disk(disk)
    save_bandwidth(30.0)
    assert load_bandwidth() == 30.0 and load_disk() == disk
    (tb_home / "hw.json").write_text(json.dumps({"bandwidth_gbs": 20.0, "disk": {"path": 1}}))
    assert load_disk() is None and load_bandwidth() == 20.0
