"""`tokbench estimate`: one model (a GGUF file or a built-in shape) on this host, a preset
box or a described one, through the one speed model (speed.predict)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from tokbench.errors import TokbenchError
from tokbench.hardware.bandwidth import load_bandwidth, load_disk
from tokbench.hardware.calibration import (
    LOW_EFFICIENCY_HINT,
    MeasuredEfficiency,
    cpu_class_of,
    efficiency,
)
from tokbench.hardware.presets import SHAPES, SSD_SATA_GBS, described_box, preset_box, shape_load
from tokbench.hardware.probe import HostProbe, probe
from tokbench.hardware.speed import (
    DEFAULT_CONTEXT,
    BoxFacts,
    ModelLoad,
    Prediction,
    gguf_load,
    predict,
)

__all__ = ["LOW_EFFICIENCY_HINT", "Estimate", "efficiency", "estimate", "host_box"]


@dataclass(frozen=True, slots=True)
class Estimate:
    model: ModelLoad
    box: BoxFacts
    prediction: Prediction


def peak_gflops(host: HostProbe) -> float:
    """Peak FP32 throughput from the probe: cores x GHz x FLOP a cycle (two FMA units:
    AVX2 32, AVX-512 64; 8 without AVX2)."""
    isa = host.isa
    per_cycle = 64 if isa.get("avx512f") else 32 if isa.get("avx2") else 8
    return float((host.cores or 1) * (host.mhz or 2000) / 1000 * per_cycle)


def host_box(
    bandwidth_gbs: float | None = None,
    ssd_gbs: float | None = None,
    measured: Sequence[MeasuredEfficiency] = (),
) -> BoxFacts:
    """This machine: the given or last measured bandwidths, its RAM and CPU, and its own
    measured efficiency (used only at its measured bandwidth, which it is relative to)."""
    bw = bandwidth_gbs or load_bandwidth()
    if bw is None:
        raise TokbenchError(
            "no bandwidth known: pass --bandwidth GB/s or --hw PRESET, or run "
            "`tokbench hw --bandwidth` once"
        )
    disk = None if ssd_gbs else load_disk()
    host = probe()
    return BoxFacts(
        name="this host",
        bandwidth_gbs=bw,
        ram_bytes=float(psutil.virtual_memory().total),
        ssd_read_gbs=ssd_gbs or (disk.sequential_read_gbs if disk else SSD_SATA_GBS),
        cpu_class=cpu_class_of(host.cpu_model or "", host.isa),
        description=host.cpu_model or "",
        bandwidth_source="given" if bandwidth_gbs else "measured",
        ssd_source="given" if ssd_gbs else "measured" if disk else "assumed: a SATA SSD",
        compute_gflops=peak_gflops(host),
        sockets=host.sockets or 1,
        ram_source="this host",
        measured_efficiency=() if bandwidth_gbs else tuple(measured),
    )


def estimate(
    model: str,
    *,
    quant: str | None = None,
    bandwidth_gbs: float | None = None,
    preset: str | None = None,
    context: int = DEFAULT_CONTEXT,
    kv: str = "mla",
    kv_cache: str = "f16",
    ssd_gbs: float | None = None,
    ram_bytes: float | None = None,
    cpu_class: str | None = None,
    sockets: int | None = None,
    measured: Sequence[MeasuredEfficiency] = (),
) -> Estimate:
    """Decode speed of MODEL (a GGUF path or a built-in shape with `quant`) on the preset
    box, or on this host with its measured or the given bandwidth; `ram_bytes`, `ssd_gbs`,
    `cpu_class` and `sockets` describe the box where it differs. `measured` is this host's
    own efficiency from its benches, used for this host at its measured bandwidth only."""
    if model in SHAPES:
        load = shape_load(model, quant, kv=kv, kv_cache=kv_cache)
    elif Path(model).is_file():
        load = gguf_load(Path(model), kv_cache)
    else:
        raise TokbenchError(
            f"{model} is neither a GGUF file nor a built-in shape ({', '.join(SHAPES)})"
        )
    if preset:
        box = described_box(preset_box(preset), bandwidth_gbs=bandwidth_gbs)
    else:
        box = host_box(bandwidth_gbs, ssd_gbs, measured)
    box = described_box(
        box, ram_bytes=ram_bytes, ssd_gbs=ssd_gbs, cpu_class=cpu_class, sockets=sockets
    )
    return Estimate(load, box, predict(load, box, context=context))
