"""The host's measured bandwidths, kept between runs so every run can show its bound.

hw.json holds {"bandwidth_gbs": memory GB/s, "disk": {ssd.DiskBandwidth fields}}; each
save keeps the other keys, and readers ignore keys they do not know."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from tokbench.hardware.ssd import DiskBandwidth
from tokbench.paths import data_dir


def _path() -> Path:
    return data_dir() / "hw.json"


def _load() -> dict[str, Any]:
    try:
        doc = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _save(**values: Any) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**_load(), **values}))


def save_bandwidth(gbs: float) -> None:
    _save(bandwidth_gbs=gbs)


def load_bandwidth() -> float | None:
    value = _load().get("bandwidth_gbs")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def save_disk(disk: DiskBandwidth) -> None:
    _save(disk=asdict(disk))


def load_disk() -> DiskBandwidth | None:
    doc = _load().get("disk")
    if not isinstance(doc, dict):
        return None
    try:
        disk = DiskBandwidth(**{f.name: doc[f.name] for f in fields(DiskBandwidth)})
    except (KeyError, TypeError):
        return None
    seq = disk.sequential_read_gbs
    return disk if isinstance(seq, int | float) and seq > 0 else None
