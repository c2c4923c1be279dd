"""The speed bound: decode tok/s <= bandwidth / bytes read per token (weights, plus the KV
cache at a context length), an expected range from published efficiencies, a prefill
estimate from compute, and whether the model fits in RAM.
See ../shared/research/hardware_anchors.md §1, §6 and §9."""

from __future__ import annotations

from dataclasses import dataclass

# Efficiency η = measured / bound, as published (hardware_anchors.md §6).
EFFICIENCY: dict[str, tuple[float, float, str]] = {
    "dense": (
        0.55,
        0.65,
        "Mac Pro Xeon W 6ch DDR4-2933, Llama-2 70B q4_0: 57 % "
        "(GPU-Benchmarks-on-LLM-Inference #1); i5-6500, 7B q4: 75 % of measured BW "
        "(llama.cpp #34)",
    ),
    "moe": (
        0.35,
        0.50,
        "EPYC 9115 12ch DDR5-5600, R1 Q8_0: 52 % (xlab.tencent.com "
        "2025-03-16); EPYC 9374F, V3 Q4_K_S: 37 % (llama.cpp #10981)",
    ),
    "moe-old-avx2-iq": (
        0.30,
        0.40,
        "E5 v3/v4 4ch DDR4-2400, R1 UD-IQ2_XXS: 38 % (the seed "
        "article); IQ grid lookups cost compute on AVX2-only cores",
    ),
}
LOW_EFFICIENCY_HINT = (
    "below 0.4 the run is not limited by memory bandwidth: check the thread count (physical "
    "cores, not SMT threads), NUMA (pin to one node, numa_balancing off), the KV-cache regime "
    "(a pre-MLA DeepSeek GGUF reads megabytes of KV per token), and dequantisation cost "
    "(IQ quants on AVX2-only CPUs)"
)


@dataclass(frozen=True, slots=True)
class Estimate:
    bandwidth_gbs: float
    weights_bytes_per_token: float
    kv_bytes_per_token: float  # at the given context
    bound_weights_tps: float
    bound_with_kv_tps: float
    expected_low_tps: float
    expected_high_tps: float
    efficiency_profile: str
    efficiency_source: str
    prefill_tps: float | None
    fits: bool | None
    memory_needed_bytes: float | None
    note: str | None


def estimate(
    *,
    weights_bytes_per_token: float,
    bandwidth_gbs: float,
    moe: bool,
    kv_bytes_per_token_per_ctx: float = 0.0,
    context: int = 0,
    profile: str | None = None,
    active_params: float | None = None,
    compute_gflops: float | None = None,
    model_bytes: float | None = None,
    ram_bytes: float | None = None,
) -> Estimate:
    if bandwidth_gbs <= 0 or weights_bytes_per_token <= 0:
        raise ValueError("bandwidth and bytes per token must be positive")
    bw = bandwidth_gbs * 1e9
    kv = kv_bytes_per_token_per_ctx * context
    bound_w = bw / weights_bytes_per_token
    bound_kv = bw / (weights_bytes_per_token + kv)
    name = profile or ("moe" if moe else "dense")
    lo, hi, source = EFFICIENCY[name]
    prefill = (
        compute_gflops * 1e9 / (2 * active_params) if compute_gflops and active_params else None
    )
    need = fits = note = None
    if model_bytes is not None:
        need = model_bytes + kv_bytes_per_token_per_ctx * context + 1.5e9  # buffers, OS
        if ram_bytes is not None:
            fits = need <= ram_bytes
            if not fits:
                note = (
                    "does not fit in RAM: llama.cpp maps the file, so the excess is read "
                    "back from disk for every token, at SSD speed"
                )
    return Estimate(
        bandwidth_gbs,
        weights_bytes_per_token,
        kv,
        bound_w,
        bound_kv,
        bound_kv * lo,
        bound_kv * hi,
        name,
        source,
        prefill,
        fits,
        need,
        note,
    )


def efficiency(measured_tps: float, bound_tps: float) -> tuple[float, str | None]:
    eta = measured_tps / bound_tps
    return eta, LOW_EFFICIENCY_HINT if eta < 0.4 else None
