"""Predict a candidate's decode speed from the bandwidth bound, to order the search.

Decode reads every active weight once per token, so time per token = bytes / bandwidth
(hardware_anchors.md §1.1). With a CPU/GPU split the layers run one after another, so the
times add: t = CPU bytes / CPU bandwidth + GPU bytes / GPU bandwidth.

CPU bandwidth grows with threads until the memory controllers saturate:
  BW(t) = smooth_min(t · per_thread, ceiling), smooth_min(a, c) = (a^-p + c^-p)^(-1/p)
with p = 4 (a sharp knee). Hyper-threads add no bandwidth, oversubscribed threads lose
time slices, and threads spread over sockets reach only part of the second socket's memory.
The numbers only rank candidates; every candidate is still measured.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tokbench.errors import TokbenchError
from tokbench.tune.inputs import HostFacts, ModelFacts
from tokbench.tune.space import Candidate, Knob, conflict, default_candidate

KNEE_SHARPNESS = 4.0
SMT_FACTOR = 0.97  # threads beyond the physical cores share load ports: a little slower
# Share of a further socket's bandwidth that threads reach, by NUMA mode. llama.cpp has no
# NUMA-aware placement, so naive dual-socket runs reach 15-25 % of aggregate peak against
# 28-52 % on one socket (hardware_anchors.md §0.6-0.7).
CROSS_SOCKET_SHARE = {"off": 0.5, "distribute": 0.75, "numactl": 0.75, "isolate": 0.0}
GPU_MEMORY_USABLE = 0.9  # compute buffers and the KV cache need the rest
# bytes per element relative to f16 (ggml block sizes: q8_0 34 B / 32, q4_0 18 B / 32...)
KV_SIZE_VS_F16 = {
    "f32": 2.0,
    "f16": 1.0,
    "bf16": 1.0,
    "q8_0": 34 / 64,
    "q5_1": 24 / 64,
    "q5_0": 22 / 64,
    "q4_1": 20 / 64,
    "q4_0": 18 / 64,
    "iq4_nl": 18 / 64,
}


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the bytes of one token live, and the weights each side must hold."""

    cpu_bytes_per_token: float
    gpu_bytes_per_token: float
    cpu_weight_bytes: float
    gpu_weight_bytes: float


@dataclass(frozen=True, slots=True)
class Prediction:
    decode_tps: float
    cpu_bandwidth_gb_s: float
    placement: Placement
    fits: bool
    note: str = ""


def cpu_bandwidth_gb_s(host: HostFacts, threads: int, numa: str = "off") -> float:
    """Achievable CPU bandwidth with `threads` threads (GB/s)."""
    if threads < 1:
        raise ValueError("threads must be at least 1")
    cores = host.physical_per_socket if numa == "isolate" else host.physical_cores
    busy = min(threads, cores)
    sockets_used = min(host.sockets, math.ceil(busy / host.physical_per_socket))
    ceiling = math.inf
    if host.cpu_bandwidth_gb_s is not None:
        per_socket = host.cpu_bandwidth_gb_s / host.sockets
        share = CROSS_SOCKET_SHARE.get(numa, CROSS_SOCKET_SHARE["off"])
        ceiling = per_socket * (1 + (sockets_used - 1) * share)
    demand = busy * host.bandwidth_per_thread_gb_s
    p = KNEE_SHARPNESS
    bw = demand if math.isinf(ceiling) else (demand**-p + ceiling**-p) ** (-1 / p)
    if threads > host.logical_cores:  # time-sliced: the slowest thread holds up each token
        bw *= host.logical_cores / threads
    elif threads > cores:
        bw *= SMT_FACTOR
    return bw


def _layers(value: str | None, n_layers: int, default: int) -> int:
    if value is None:
        return default
    return n_layers if value == "all" else min(int(value), n_layers)


def placement(model: ModelFacts, ngl: str | None, cpu_moe: str | None) -> Placement:
    """Split bytes per token and weights between CPU and GPU.

    llama.cpp offloads the last `ngl` layers; `--n-cpu-moe N` keeps the experts of the
    first N layers on the CPU, so the expert tensors on the CPU are those of the first
    max(n - ngl, N) layers. Bytes are taken as spread evenly over the layers.
    """
    n = model.n_layers
    gpu_layers = _layers(ngl, n, 0)
    cpu_layers = n - gpu_layers
    expert_cpu_layers = max(cpu_layers, _layers(cpu_moe, n, 0))
    dense_pt = model.bytes_per_token - model.expert_bytes_per_token
    cpu_pt = (dense_pt * cpu_layers + model.expert_bytes_per_token * expert_cpu_layers) / n
    dense_file = model.file_bytes - model.expert_bytes
    cpu_w = (dense_file * cpu_layers + model.expert_bytes * expert_cpu_layers) / n
    return Placement(
        cpu_bytes_per_token=cpu_pt,
        gpu_bytes_per_token=model.bytes_per_token - cpu_pt,
        cpu_weight_bytes=cpu_w,
        gpu_weight_bytes=model.file_bytes - cpu_w,
    )


def predict(candidate: Mapping[str, str], host: HostFacts, model: ModelFacts) -> Prediction:
    threads = int(candidate.get("threads", host.physical_cores))
    numa = candidate.get("numa", "off")
    # without an ngl knob in play llama.cpp offloads what fits (`auto`), i.e. all layers
    ngl = candidate.get("ngl", "all") if host.gpus else "0"
    place = placement(model, ngl, candidate.get("cpu_moe"))
    gpu_share = place.gpu_bytes_per_token / model.bytes_per_token
    kv = model.kv_read_bytes_f16 * KV_SIZE_VS_F16.get(candidate.get("kv", "f16"), 1.0)
    cpu_bytes = place.cpu_bytes_per_token + kv * (1 - gpu_share)
    gpu_bytes = place.gpu_bytes_per_token + kv * gpu_share
    bw_cpu = cpu_bandwidth_gb_s(host, threads, numa)
    seconds = cpu_bytes / (bw_cpu * 1e9)
    if gpu_bytes > 0:
        seconds += gpu_bytes / (host.gpu_bandwidth_gb_s * 1e9)
    notes = []
    fits = True
    if place.gpu_weight_bytes > GPU_MEMORY_USABLE * host.gpu_memory_bytes:
        fits = False
        notes.append("GPU weights exceed GPU memory")
    if host.ram_bytes and place.cpu_weight_bytes > host.ram_bytes:
        fits = False
        notes.append("CPU weights exceed RAM: pages come from disk every token")
    return Prediction(1 / seconds, bw_cpu, place, fits, "; ".join(notes))


def order_values(
    knob: Knob, base: Mapping[str, str], host: HostFacts, model: ModelFacts
) -> list[str]:
    """The knob's values, most promising first: fitting ones, then by predicted speed.

    Ties (knobs the bound does not see, like batch sizes) keep llama.cpp's default first,
    then the knob's own order.
    """

    def rank(value: str) -> tuple[bool, float, bool, int]:
        p = predict({**base, knob.name: value}, host, model)
        return (
            not p.fits,
            -round(p.decode_tps, 9),
            value != knob.default,
            knob.values.index(value),
        )

    return sorted(knob.values, key=rank)


def predicted_spread(
    knob: Knob, base: Mapping[str, str], host: HostFacts, model: ModelFacts
) -> float:
    """max/min predicted speed over the knob's values, from `base` (1.0: the bound is blind)."""
    speeds = [predict({**base, knob.name: v}, host, model).decode_tps for v in knob.values]
    return max(speeds) / min(speeds)


def fitted_start(knobs: Sequence[Knob], host: HostFacts, model: ModelFacts) -> Candidate:
    """llama.cpp's defaults, with the GPU placement llama.cpp's `--fit` would choose.

    When the defaults' placement is predicted not to fit, take the fitting ngl/cpu_moe
    combination with the best predicted speed (llama.cpp's default `-ngl auto` with
    `--fit on` likewise shrinks the offload until it fits). Knobs pinned with --set stay.
    """
    start = default_candidate(knobs)
    if predict(start, host, model).fits:
        return start
    placements = [k for k in knobs if k.name in ("ngl", "cpu_moe") and k.searched]
    best, best_tps = start, -1.0
    for values in itertools.product(*(k.values for k in placements)):
        cand = Candidate({**start, **{k.name: v for k, v in zip(placements, values, strict=True)}})
        p = predict(cand, host, model)
        if p.fits and p.decode_tps > best_tps and conflict(cand) is None:
            best, best_tps = cand, p.decode_tps
    return best


def memory_bytes(candidate: Mapping[str, str], model: ModelFacts, n_ctx: int) -> float:
    """RAM a candidate needs, roughly: the weights, the KV cache for `n_ctx` tokens, and
    float32 logits for a batch and a micro-batch (llama-cpp-python keeps n_batch rows of
    scores; llama.cpp's graph holds a micro-batch's)."""
    kv = model.kv_bytes_per_token_f16 * KV_SIZE_VS_F16.get(candidate.get("kv", "f16"), 1.0)
    rows = int(candidate.get("batch", "512")) + int(candidate.get("ubatch", "512"))
    return model.file_bytes + kv * n_ctx + 4.0 * model.n_vocab * rows


def check_box(
    knobs: Sequence[Knob], host: HostFacts, model: ModelFacts, n_ctx: Callable[[Candidate], int]
) -> None:
    """Refuse, in one sentence, settings beyond what the box has, before any engine starts:
    llama.cpp aborts (std::bad_alloc) rather than failing when asked for them."""
    by_name = {k.name: k for k in knobs}
    threads = by_name.get("threads")
    if threads is not None:
        most = max(int(v) for v in threads.values)
        if most > host.logical_cores:
            raise TokbenchError(
                f"threads={most} is more than this box's {host.logical_cores} logical CPUs; "
                f"tune at most {host.logical_cores} (e.g. --set threads=1,{host.logical_cores})"
            )
    if not host.ram_bytes:
        return
    worst = default_candidate(knobs)
    for name, pick in (("batch", max), ("ubatch", max)):
        if name in by_name:
            worst = worst.with_value(name, pick(by_name[name].values, key=int))
    if "kv" in by_name:
        worst = worst.with_value(
            "kv", max(by_name["kv"].values, key=lambda v: KV_SIZE_VS_F16.get(v, 1.0))
        )
    need, ctx = memory_bytes(worst, model, n_ctx(worst)), n_ctx(worst)
    if need > host.ram_bytes:
        sizes = ", ".join(f"{k}={worst[k]}" for k in ("batch", "ubatch", "kv") if k in worst)
        raise TokbenchError(
            f"{sizes or 'these settings'} with a {ctx}-token context need about "
            f"{need / 2**30:.1f} GiB (weights, KV cache, logits), more than this box's "
            f"{host.ram_bytes / 2**30:.1f} GiB of RAM; pin smaller values with --set or a "
            "smaller -n/-p"
        )
