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

from tokbench.errors import TokbenchError
from tokbench.hardware.calibration import EFFICIENCY, profile_for

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


@dataclass(frozen=True, slots=True)
class BoxFacts:
    """What a box brings: memory bandwidth (one socket), RAM, SSD, CPU class."""

    name: str
    bandwidth_gbs: float
    ram_bytes: float
    ssd_read_gbs: float  # sequential read
    cpu_class: str = "modern"  # "old-avx2" or "modern" (calibration.profile_for)
    gpu: bool = False  # a 24 GB GPU holds attention, shared experts and the KV cache
    description: str = ""
    bandwidth_source: str = "peak"  # "peak", "measured" or "given"
    ssd_source: str = "typical"  # "typical", "measured" or "assumed"
    compute_gflops: float | None = None  # peak FP32, for the prefill estimate


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
    efficiency_source: str
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
    profile = profile_for(box.cpu_class, moe=model.moe, gpu=box.gpu)
    eta_lo, eta_hi, source = EFFICIENCY[profile]
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
        efficiency_profile=profile,
        efficiency_low=eta_lo,
        efficiency_high=eta_hi,
        efficiency_source=source,
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
