"""Decode efficiency η = measured tok/s / bound tok/s, calibrated on published measurements.

Each profile's range is the span of its anchors' η widened by MARGIN, so a range is never
wider than its evidence and every anchor lies inside it. η is taken against the
weights-only bound at *peak* DRAM bandwidth (channels x MT/s x 8 B), as the sources report
it (hardware_anchors.md §5-6). The seed's one-channel 0.8 tok/s is no anchor: it was an
unnamed smaller model measured before the 671B model could be loaded (§0 item 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Anchor:
    """One published decode measurement and the bound it implies."""

    setup: str
    profile: str
    peak_gbs: float  # for hybrid rows: the CPU side only
    gb_per_token: float  # weights read per token (CPU side for hybrid rows)
    low_tps: float
    high_tps: float
    source: str

    @property
    def bound_tps(self) -> float:
        return self.peak_gbs / self.gb_per_token

    @property
    def efficiency_low(self) -> float:
        return self.low_tps / self.bound_tps

    @property
    def efficiency_high(self) -> float:
        return self.high_tps / self.bound_tps


ANCHORS: tuple[Anchor, ...] = (
    Anchor(
        "Xeon E5 v3/v4, 4 x DDR4-2400, LM Studio/Ollama, DeepSeek-R1 UD-IQ2_XXS",
        "moe-old-avx2-iq",
        76.8,
        15.9,
        1.5,
        1.83,
        "the seed article (blog.rovertang.com 2025-04-05)",
    ),
    Anchor(
        "EPYC 9135/9115, 12 x DDR5-5600, llama.cpp, R1 Q8_0 (peak speed)",
        "moe",
        537.6,
        39.2,
        7.17,
        7.17,
        "xlab.tencent.com 2025-03-16",
    ),
    Anchor(
        "EPYC 9374F, 12 x DDR5-4800, llama.cpp, V3 Q4_K_S, CPU only",
        "moe",
        460.8,
        21.4,
        7.87,
        7.87,
        "llama.cpp #10981 (fairydreaming)",
    ),
    Anchor(
        "2 x Xeon Gold 6454S, 8 x DDR5-4800 a socket, llama.cpp, R1 Q4_K_M (one socket's BW)",
        "moe",
        307.2,
        22.4,
        4.51,
        4.51,
        "ktransformers DeepseekR1_V3_tutorial",
    ),
    Anchor(
        "AmpereOne A192-32X, 8 x DDR5-5200, Ollama deepseek-r1:671b (Q4_K_M assumed)",
        "moe",
        332.8,
        22.4,
        4.18,
        4.18,
        "geerlingguy/ai-benchmarks #10",
    ),
    Anchor(
        "Xeon 32C, 8 x DDR5-4800 + 4090D, ktransformers V0.2, R1 Q4_K_M (expert bytes)",
        "moe-hybrid",
        307.2,
        12.3,
        8.73,
        8.73,
        "ktransformers DeepseekR1_V3_tutorial",
    ),
    Anchor(
        "EPYC 9654, 12 x DDR5-4800 + 4090, ktransformers, R1 Q4, 1K context (expert bytes)",
        "moe-hybrid",
        460.8,
        12.3,
        14.0,
        14.0,
        "ktransformers #314",
    ),
    Anchor(
        "EPYC 24C, 12 x DDR5-4800 + 4090, ktransformers, R1 Q4_K_M (expert bytes)",
        "moe-hybrid",
        460.8,
        12.3,
        12.1,
        12.1,
        "ktransformers #587",
    ),
    Anchor(
        "i7-14700, 2 x DDR5-4800 + 4090, ik_llama.cpp, R1 IQ1_S_R4, experts on CPU",
        "moe-hybrid",
        76.8,
        4.5,
        7.0,
        7.0,
        "hexkern.com, running-deepseek-r1-671b-on-gaming-pc",
    ),
    Anchor(
        "Mac Pro 2019 Xeon W 16C, 6 x DDR4-2933, llama.cpp, Llama-2 70B q4_0",
        "dense",
        140.8,
        38.8,
        2.05,
        2.05,
        "XiongjieDai/GPU-Benchmarks-on-LLM-Inference #1",
    ),
    Anchor(
        "i5-6500, 2 x DDR3-1600 (peak assumed; 20.0 GB/s measured), llama.cpp, 7B q4",
        "dense",
        25.6,
        3.8,
        3.94,
        3.94,
        "llama.cpp #34",
    ),
)
MARGIN = 0.02  # widening of each anchor span: two percentage points, then rounded outward

PROFILE_NOTES = {
    "dense": "dense models, llama.cpp on one socket",
    "moe": "MoE, llama.cpp-family engines on one socket (a second socket adds little)",
    "moe-old-avx2-iq": "MoE with IQ quants on old AVX2 Xeons (grid lookups cost compute)",
    "moe-hybrid": "MoE with the experts on the CPU and the rest on a GPU (CPU-side bytes)",
}


def _calibrate() -> dict[str, tuple[float, float, str]]:
    out: dict[str, tuple[float, float, str]] = {}
    for profile in PROFILE_NOTES:
        rows = [a for a in ANCHORS if a.profile == profile]
        lo = min(a.efficiency_low for a in rows) - MARGIN
        hi = max(a.efficiency_high for a in rows) + MARGIN
        source = "; ".join(
            f"{a.source}: {a.efficiency_low:.0%}"
            + (f"-{a.efficiency_high:.0%}" if a.high_tps != a.low_tps else "")
            for a in rows
        )
        # round() first: 0.29 * 100 is 28.999999999999996 in binary floating point
        out[profile] = (
            math.floor(round(lo * 100, 6)) / 100,
            math.ceil(round(hi * 100, 6)) / 100,
            source,
        )
    return out


# profile -> (η low, η high, the anchors behind it)
EFFICIENCY: dict[str, tuple[float, float, str]] = _calibrate()

LOW_EFFICIENCY_HINT = (
    "below 0.4 the run is not limited by memory bandwidth: check the thread count (physical "
    "cores, not SMT threads), NUMA (pin to one node, numa_balancing off), the KV-cache regime "
    "(a pre-MLA DeepSeek GGUF reads megabytes of KV per token), and dequantisation cost "
    "(IQ quants on AVX2-only CPUs)"
)


def profile_for(cpu_class: str, *, moe: bool, gpu: bool) -> str:
    """The efficiency profile of a model on a box: `cpu_class` is "old-avx2" (Haswell and
    Broadwell Xeons, calibrated on the seed) or "modern"."""
    if not moe:
        return "dense"
    if gpu:
        return "moe-hybrid"
    return "moe-old-avx2-iq" if cpu_class == "old-avx2" else "moe"


def efficiency(measured_tps: float, bound_tps: float) -> tuple[float, str | None]:
    """η of a measurement, with a hint when it is too low to be bandwidth-bound."""
    eta = measured_tps / bound_tps
    return eta, LOW_EFFICIENCY_HINT if eta < 0.4 else None


def decode_efficiency(test: str, tps: float | None, bound_tps: float | None) -> float | None:
    """η of one bench row: only token-generation tests (`tg128`, `tg128 @ d512`) are
    bandwidth-bound; prompt processing is compute-bound and gets None."""
    if not test.startswith("tg") or not tps or not bound_tps:
        return None
    return tps / bound_tps
