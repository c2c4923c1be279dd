"""`tokbench plan`: which box for which model, from the bandwidth physics.

Predicted decode speed uses time per token = bytes / (bandwidth · η_mem) + t_compute.
For the seed article's Xeon E5 box both terms are calibrated on its own two measurements
(1 channel: 0.8 tok/s, 4 channels: 1.5-1.83 tok/s with DeepSeek-R1 UD-IQ2_XXS), which
gives η_mem ≈ 0.8-1.0 and t_compute ≈ 0.33-0.43 s a token (IQ2 dequantisation on AVX2
cores). Other boxes use the published efficiency ranges (hardware_anchors.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass

from tokbench.estimate import EFFICIENCY


@dataclass(frozen=True, slots=True)
class Shape:
    """A model shape with per-quant bytes (hardware_anchors.md §2; file sizes published)."""

    name: str
    active_params: float
    moe: bool
    # quant -> (bytes read per token, file bytes, routed-expert bytes per token)
    quants: dict[str, tuple[float, float, float]]
    kv_bytes_per_token: dict[str, float]  # regime -> bytes per context token (f16)


SHAPES = {
    "deepseek-r1": Shape(
        "DeepSeek-R1 / V3 671B",
        36.6e9,
        True,
        {
            "Q8_0": (39.2e9, 713e9, 21.7e9),
            "Q4_K_M": (22.4e9, 404e9, 12.3e9),
            "Q4_K_S": (21.4e9, 386e9, 11.7e9),
            "Q2_K_L": (15.8e9, 228e9, 6.8e9),
            "UD-IQ2_XXS": (15.9e9, 183e9, 5.4e9),
            "UD-IQ1_S": (14.0e9, 131e9, 3.8e9),
        },
        {"pre-mla": 4.77 * 2**20, "mla": 68.6 * 2**10},
    ),
}


@dataclass(frozen=True, slots=True)
class Box:
    name: str
    description: str
    bandwidth_gbs: float  # peak: channels x MT/s x 8 B (one socket for llama.cpp)
    ram_bytes: float
    cpu_class: str  # "e5-avx2" (calibrated on the seed) or an EFFICIENCY profile
    gpu: bool = False  # a 24 GB GPU holds attention, shared experts and KV


PRESETS = {
    b.name: b
    for b in (
        Box("seed-4ch", "the seed's Xeon E5, 4 x DDR4-2400 (256 GB)", 76.8, 256 * 2**30, "e5-avx2"),
        Box("seed-1ch", "the same box with one DIMM (64 GB)", 19.2, 64 * 2**30, "e5-avx2"),
        Box(
            "xeon-sp-2s",
            "dual Xeon Scalable, 6 x DDR4-2666 per socket (384 GB); llama.cpp "
            "gains ~1.0-1.3x from the second socket",
            128.0,
            384 * 2**30,
            "moe",
        ),
        Box(
            "epyc-8ch",
            "EPYC 7002/7003, 8 x DDR4-3200, full-CCD SKU (512 GB)",
            204.8,
            512 * 2**30,
            "moe",
        ),
        Box("ddr5-12ch", "EPYC 9004/9005, 12 x DDR5-4800 (768 GB)", 460.8, 768 * 2**30, "moe"),
        Box(
            "epyc-8ch+gpu",
            "EPYC 8 x DDR4-3200 + a 24 GB GPU for attention and KV",
            204.8,
            512 * 2**30,
            "moe",
            gpu=True,
        ),
    )
}

# t_compute per token on the seed's E5 (calibrated, see the module docstring), per active
# parameter so that it scales with the model.
E5_MEM_EFFICIENCY = (0.8, 1.0)
E5_COMPUTE_S_PER_PARAM = (0.33 / 36.6e9, 0.43 / 36.6e9)


@dataclass(frozen=True, slots=True)
class Prediction:
    box: str
    quant: str
    bound_tps: float
    low_tps: float
    high_tps: float
    fits: bool
    price: float | None
    price_per_tps: float | None


def predict(
    shape: Shape,
    quant: str,
    box: Box,
    *,
    context: int = 1000,
    kv_regime: str = "mla",
    price: float | None = None,
) -> Prediction:
    per_token, file_bytes, expert_bytes = shape.quants[quant]
    cpu_bytes = expert_bytes if box.gpu else per_token
    kv = 0.0 if box.gpu else shape.kv_bytes_per_token[kv_regime] * context
    bw = box.bandwidth_gbs * 1e9
    bound = bw / (cpu_bytes + kv)
    if box.cpu_class == "e5-avx2":
        slow = (cpu_bytes + kv) / (
            bw * E5_MEM_EFFICIENCY[0]
        ) + shape.active_params * E5_COMPUTE_S_PER_PARAM[1]
        fast = (cpu_bytes + kv) / (
            bw * E5_MEM_EFFICIENCY[1]
        ) + shape.active_params * E5_COMPUTE_S_PER_PARAM[0]
        low, high = 1 / slow, 1 / fast
    else:
        lo, hi, _src = EFFICIENCY[box.cpu_class]
        low, high = bound * lo, bound * hi
    fits = file_bytes + kv + 4e9 <= box.ram_bytes
    return Prediction(
        box.name,
        quant,
        bound,
        low,
        high,
        fits,
        price,
        price / ((low + high) / 2) if price else None,
    )
