"""The host's measured bandwidths, kept between runs, and the decode bound they give a model
whose file is here (`Target.bound_tps` of every run and bench target).

hw.json holds {"bandwidth_gbs": memory GB/s, "disk": {ssd.DiskBandwidth fields}}; each
save keeps the other keys, and readers ignore keys they do not know."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from tokbench.core.records import SpeedBound
from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import analyze
from tokbench.gguf.reader import read_model
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


def speed_bound(gguf_path: str | None) -> SpeedBound | None:
    """The decode bound of a run whose model file is known here and whose host bandwidth
    was measured (`tokbench hw --bandwidth`): weights only, all in RAM. None when either
    is unknown."""
    bw = load_bandwidth()
    if not gguf_path or bw is None or not Path(gguf_path).is_file():
        return None
    try:
        bytes_per_token = analyze(read_model(Path(gguf_path))).bytes_per_token
    except TokbenchError:
        return None
    return SpeedBound(bw, round(bytes_per_token), bw * 1e9 / bytes_per_token)
