"""What a quant comparison shows, fresh or read back from the store: plain records that
the renderers take without importing the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokbench.core.records import RunInfo


@dataclass(frozen=True, slots=True)
class DecodeSpeed:
    """Decode tok/s measured by a comparison (quant.speed.measure_decode)."""

    tps: float  # mean of the repetitions
    se: float  # its standard error


@dataclass(frozen=True, slots=True)
class ModelSpeed:
    path: str
    size_bytes: int | None
    bytes_per_token: float | None
    bandwidth_gbs: float | None
    bound_tps: float | None  # None: the host's bandwidth was never measured
    decode_tps: float | None  # measured by a run or bench of this file
    decode_run: str | None  # the run that measured it


@dataclass(frozen=True, slots=True)
class QuantView:
    """One comparison: its run (None when nothing was stored), the reference (the
    `quant_references` row's shape), one `quant_results`-shaped row per candidate, and
    the speed facts of every model file by path."""

    run: RunInfo | None
    reference: dict[str, Any]
    rows: list[dict[str, Any]]
    speeds: dict[str, ModelSpeed] = field(default_factory=dict)
