"""The one decode-speed model behind `tokbench estimate` and `tokbench plan`.

A token costs the bytes it reads. What is resident in RAM is read at the box's memory
bandwidth times an efficiency η (calibration.py); what is not is read from the SSD:

    t_token = RAM bytes / (bandwidth x η) + SSD bytes / SSD read bandwidth

A model that fits in RAM reads nothing from the SSD, so its range is η x the in-RAM bound.
One that does not fit runs from llama.cpp's mmap of the file: the page cache keeps what
RAM allows (the non-expert weights first, as every token touches them) and the rest is
faulted in from the SSD. MoE routing spreads tokens over all experts, so an expert page is
a hit in proportion to the resident share of expert bytes:

    SSD bytes = routed-expert bytes per token x (1 - resident expert share)
              + non-expert bytes per token x (1 - resident non-expert share)

A dense model walks its layers in order, and a least-recently-used cache smaller than the
model evicts each page before its next use: the low end of a dense range assumes every
byte comes from the SSD (llama.cpp PR #711: "20 seconds per token" for 20 GB on 16 GB).
Assumed: expert slices are megabytes long, so faults read near the SSD's sequential rate;
no read-ahead waste, no writes. See ../shared/research/hardware_anchors.md §1, §6 and §9.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import KV_TYPE_BYTES, Analysis, analyze
from tokbench.gguf.reader import read_model
from tokbench.hardware.calibration import (
    MeasuredEfficiency,
    efficiency_range,
    kind_of,
    quant_family,
)

DEFAULT_CONTEXT = 4096  # llama-server's and LM Studio's default context window
BUFFER_BYTES = 1.5e9  # llama.cpp's CPU compute buffers (about 0.3-2 GB, §9)


def os_reserve_bytes(ram_bytes: float) -> float:
    """RAM the OS and runtime keep for themselves: 5 %, at least 2 GB (§9)."""
    return max(2e9, 0.05 * ram_bytes)


@dataclass(frozen=True, slots=True)
class ModelLoad:
    """What one generated token costs a model, and what holding it takes."""

    name: str
    quant: str | None
    moe: bool
    file_bytes: float  # all weights: what RAM must hold
    bytes_per_token: float  # weights read per token (routed experts: the used share)
    expert_bytes_per_token: float  # the routed-expert part of bytes_per_token (0: dense)
    expert_file_bytes: float  # all routed-expert weights in the file
    kv_bytes_per_ctx_token: float  # KV read per generated token, per token of context
    prefill_params: float | None = None  # weights multiplied per prompt token
    family: str | None = None  # quant family (calibration.quant_family); None: unknown


@dataclass(frozen=True, slots=True)
class BoxFacts:
    """What a box brings: memory bandwidth (one socket), RAM, SSD, CPU class, and its own
    measured efficiency where the user benched it (this host only)."""

    name: str
    bandwidth_gbs: float
    ram_bytes: float
    ssd_read_gbs: float  # sequential read
    cpu_class: str = "client"  # calibration.CPU_CLASSES
    gpu: bool = False  # a 24 GB GPU holds attention, shared experts and the KV cache
    description: str = ""
    bandwidth_source: str = "peak"  # "peak", "measured" or "given"
    ssd_source: str = "typical"  # "typical", "measured" or "assumed"
    compute_gflops: float | None = None  # peak FP32, for the prefill estimate
    sockets: int = 1  # more than one: llama.cpp reads across NUMA nodes
    ram_source: str = "preset"  # "preset", "this host" or "given"
    measured_efficiency: tuple[MeasuredEfficiency, ...] = ()


@dataclass(frozen=True, slots=True)
class Prediction:
    box: str
    model: str
    quant: str | None
    context: int
    bandwidth_gbs: float
    weights_bytes_per_token: float  # read from memory or SSD on the CPU side
    kv_bytes_per_token: float  # at this context
    bound_weights_tps: float  # bandwidth / weights, all in RAM
    bound_tps: float  # bandwidth / (weights + KV), all in RAM
    low_tps: float
    high_tps: float
    in_ram_low_tps: float  # the range the box would give with enough RAM
    in_ram_high_tps: float
    efficiency_profile: str
    efficiency_low: float
    efficiency_high: float
    efficiency_source: str  # the anchors' labels, or the user's runs
    memory_needed_bytes: float  # weights + KV + buffers (CPU side)
    ram_bytes: float
    fits: bool
    resident_fraction: float  # of the CPU-side weights that stay in RAM
    ssd_bytes_per_token: float  # at the high end of the range
    ssd_read_gbs: float
    prefill_tps: float | None
    note: str | None
    price: float | None = None
    price_per_tps: float | None = None
    calibration: str = "uncalibrated"  # measured | calibrated | partly calibrated | ...
    calibration_reason: str = ""
    anchors: tuple[str, ...] = ()  # the published points the range rests on


def predict(
    model: ModelLoad, box: BoxFacts, *, context: int = DEFAULT_CONTEXT, price: float | None = None
) -> Prediction:
    """Decode tok/s range of `model` on `box` at `context` tokens of context."""
    if box.bandwidth_gbs <= 0 or box.ssd_read_gbs <= 0 or box.ram_bytes <= 0:
        raise TokbenchError(f"box {box.name}: bandwidth, SSD speed and RAM must be positive")
    if model.bytes_per_token <= 0 or model.file_bytes <= 0:
        raise TokbenchError(f"model {model.name}: bytes per token and file size must be positive")
    if context < 0:
        raise TokbenchError("the context length cannot be negative")
    hybrid = box.gpu and model.moe
    # with a GPU, only the routed experts stay on the CPU side; the KV cache is on the GPU
    weights = model.expert_bytes_per_token if hybrid else model.bytes_per_token
    held = model.expert_file_bytes if hybrid else model.file_bytes
    kv = 0.0 if hybrid else model.kv_bytes_per_ctx_token * context
    experts_read = model.expert_bytes_per_token
    experts_held = model.expert_file_bytes
    eff = efficiency_range(
        box.cpu_class,
        kind_of(moe=model.moe, gpu=box.gpu),
        model.family,
        sockets=box.sockets,
        measured=box.measured_efficiency,
        bytes_per_token=model.bytes_per_token,
    )
    eta_lo, eta_hi = eff.low, eff.high
    bw = box.bandwidth_gbs * 1e9
    ssd_bw = box.ssd_read_gbs * 1e9

    needed = held + kv + BUFFER_BYTES
    usable = box.ram_bytes - os_reserve_bytes(box.ram_bytes)
    fits = needed <= usable
    if fits:
        ssd_hi = ssd_lo = 0.0
        resident = 1.0
    else:
        cache = max(0.0, usable - kv - BUFFER_BYTES)  # the page cache left for weights
        other_held = max(held - experts_held, 0.0)
        other_read = max(weights - experts_read, 0.0)
        other_in = min(other_held, cache)
        experts_in = min(experts_held, cache - other_in)
        other_share = other_in / other_held if other_held else 1.0
        expert_share = experts_in / experts_held if experts_held else 1.0
        ssd_hi = experts_read * (1 - expert_share) + other_read * (1 - other_share)
        # dense: an LRU cache smaller than the model misses every page (module docstring)
        ssd_lo = ssd_hi if model.moe else weights
        resident = (other_in + experts_in) / held
    t_fast = (weights + kv - ssd_hi) / (bw * eta_hi) + ssd_hi / ssd_bw
    t_slow = (weights + kv - ssd_lo) / (bw * eta_lo) + ssd_lo / ssd_bw
    low, high = 1 / t_slow, 1 / t_fast
    prefill = (
        box.compute_gflops * 1e9 / (2 * model.prefill_params)
        if box.compute_gflops and model.prefill_params
        else None
    )
    return Prediction(
        box=box.name,
        model=model.name,
        quant=model.quant,
        context=context,
        bandwidth_gbs=box.bandwidth_gbs,
        weights_bytes_per_token=weights,
        kv_bytes_per_token=kv,
        bound_weights_tps=bw / weights,
        bound_tps=bw / (weights + kv),
        low_tps=low,
        high_tps=high,
        in_ram_low_tps=bw * eta_lo / (weights + kv),
        in_ram_high_tps=bw * eta_hi / (weights + kv),
        efficiency_profile=eff.profile,
        efficiency_low=eta_lo,
        efficiency_high=eta_hi,
        efficiency_source=eff.source,
        memory_needed_bytes=needed,
        ram_bytes=box.ram_bytes,
        fits=fits,
        resident_fraction=resident,
        ssd_bytes_per_token=ssd_hi,
        ssd_read_gbs=box.ssd_read_gbs,
        prefill_tps=prefill,
        note=None if fits else _paging_note(model, box, resident, ssd_hi),
        price=price,
        price_per_tps=price / ((low + high) / 2) if price else None,
        calibration=eff.status,
        calibration_reason=eff.reason,
        anchors=tuple(a.label for a in eff.anchors),
    )


def _paging_note(model: ModelLoad, box: BoxFacts, resident: float, ssd_bytes: float) -> str:
    how = (
        "expert pages hit in proportion to what is resident"
        if model.moe
        else "a dense model's pages are read in order, so the low end reads all from the SSD"
    )
    return (
        f"does not fit in RAM: llama.cpp maps the file, {resident:.0%} of the weights stay "
        f"resident and {ssd_bytes / 1e9:.2f} GB a token come from the SSD at "
        f"{box.ssd_read_gbs:.3g} GB/s ({box.ssd_source}); {how}"
    )


def load_of(name: str, a: Analysis, file_bytes: float, kv_cache: str = "f16") -> ModelLoad:
    """The load of an analysed GGUF: its quant family is that of the type holding the
    most bytes."""
    experts_held = float(a.bytes_by_class.get("routed_experts", 0))
    share = a.experts_used / a.experts if a.experts and a.experts_used else 1.0
    # prefill computes logits for the last token only: the output matrix hardly counts
    output = a.params_by_class.get("output", 0) or (
        a.params_by_class.get("embeddings", 0) if a.tied_output else 0
    )
    main_type = max(a.bytes_by_type, key=a.bytes_by_type.__getitem__, default=None)
    return ModelLoad(
        name=name,
        quant=None,
        moe=bool(a.experts),
        file_bytes=file_bytes,
        bytes_per_token=a.bytes_per_token,
        expert_bytes_per_token=experts_held * share,
        expert_file_bytes=experts_held,
        kv_bytes_per_ctx_token=(a.kv_elements_per_token or 0) * KV_TYPE_BYTES[kv_cache],
        prefill_params=a.active_params - output,
        family=quant_family(main_type),
    )


def gguf_load(path: Path, kv_cache: str = "f16") -> ModelLoad:
    """The load of a GGUF file (all shards of a split model)."""
    if not path.is_file():
        raise TokbenchError(f"{path} is not a file")
    m = read_model(path)
    return load_of(str(path), analyze(m), float(m.total_bytes), kv_cache)
