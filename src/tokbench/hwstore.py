"""The host's measured bandwidth, kept between runs so every run can show its bound."""

from __future__ import annotations

import json

from tokbench.paths import data_dir


def save_bandwidth(gbs: float) -> None:
    path = data_dir() / "hw.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"bandwidth_gbs": gbs}))


def load_bandwidth() -> float | None:
    try:
        value = json.loads((data_dir() / "hw.json").read_text()).get("bandwidth_gbs")
    except (OSError, ValueError):
        return None
    return float(value) if isinstance(value, int | float) and value > 0 else None
