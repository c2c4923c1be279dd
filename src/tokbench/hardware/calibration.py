"""Decode efficiency η = measured tok/s / bound tok/s, calibrated on published measurements
or on the user's own benches.

η is taken against the weights-only bound at *peak* DRAM bandwidth of one socket (channels x
MT/s x 8 B), as the sources report it (hardware_anchors.md §5-6). A box and a model fall in
one class: the CPU class (which also fixes the ISA and DRAM generation), one socket or more
(NUMA), the model kind (dense, MoE, MoE with the experts on the CPU and the rest on a GPU)
and the quant family (IQ grid quants cost more compute per byte than K-quants, and K-quants
more than the plain Q8_0/Q4_0 blocks and floats). The range of a class is, in this order:

- **measured**: the user's own benches on this box for the same model kind (η against the
  measured bandwidth; only for this host at its measured bandwidth). It replaces the prior.
- **calibrated**: the span of the published points of the same class, widened by SPREAD.
- **partly calibrated**: points of the same CPU class, NUMA and kind but another quant
  family bound one side (a cheaper family's point is a ceiling, a costlier one's a floor);
  the other side is the kind's widest published point.
- **uncalibrated**: no point of this CPU class: the span of every published point of the
  kind, however wide.

SPREAD is the run-to-run and setup spread seen within one class: the seed box reports 1.5
and 1.83 tok/s (±10 % around the centre), the two 12-channel Genoa boxes with a 4090 12.1 and
14 (±7 %). Left out, with why: the seed's one-channel 0.8 tok/s (an unnamed smaller model,
§0 item 5), ktransformers on two sockets (a NUMA-aware engine that copies the weights to
both nodes, which the one-socket bandwidth here does not describe), 2x EPYC 9135 + 4090
(quant not stated), the EPYC 9V45 run (no peak bandwidth given).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

SPREAD = 1.1  # a class's range: [lowest η / SPREAD, highest η x SPREAD]
# A bench's η speaks for models within this factor of its bytes per token: a small model
# is bound by per-token overhead, not bandwidth, and would misjudge a large one.
OWN_SIZE_FACTOR = 10.0

CPU_CLASSES = {
    "xeon-e5-avx2": "Haswell/Broadwell Xeon E5/E7 v3/v4: AVX2, DDR4-2133/2400",
    "xeon-sp-avx512": "Xeon Scalable and Xeon W, Skylake and later: AVX-512, DDR4 or DDR5",
    "epyc-ddr4-avx2": "EPYC 7001-7003: AVX2, 8 x DDR4, bandwidth capped by the CCD count",
    "epyc-ddr5-avx512": "EPYC 8004/9004/9005: AVX-512, 6-12 x DDR5",
    "arm-server": "Arm servers: AmpereOne, Altra, Graviton, Grace",
    "client": "desktop and laptop CPUs: Core, Ryzen, Apple",
}
KINDS = ("dense", "moe", "moe-hybrid")
# cost of dequantisation per byte, cheapest last: a point of a cheaper family is a ceiling
FAMILY_RANK = {"iq": 0, "k": 1, "plain": 2}
FAMILY_NAMES = {"iq": "IQ", "k": "K-quant", "plain": "Q8_0/Q4_0/float"}


@dataclass(frozen=True, slots=True)
class Anchor:
    """One published decode measurement and the bound it implies."""

    setup: str
    cpu_class: str
    sockets: int
    kind: str  # dense | moe | moe-hybrid
    family: str  # quant family: iq | k | plain
    peak_gbs: float  # one socket's peak; for hybrid rows the CPU side only
    gb_per_token: float  # weights read per token (CPU side for hybrid rows)
    low_tps: float
    high_tps: float
    source: str
    where: str = "hardware_anchors.md §6"

    @property
    def bound_tps(self) -> float:
        return self.peak_gbs / self.gb_per_token

    @property
    def efficiency_low(self) -> float:
        return self.low_tps / self.bound_tps

    @property
    def efficiency_high(self) -> float:
        return self.high_tps / self.bound_tps

    @property
    def label(self) -> str:
        """The source and its η, as the plan and estimate outputs cite it."""
        lo, hi = self.efficiency_low, self.efficiency_high
        eta = f"{lo:.0%}" if self.high_tps == self.low_tps else f"{lo:.0%}-{hi:.0%}"
        return f"{self.source} ({self.setup}: η {eta}; {self.where})"


ANCHORS: tuple[Anchor, ...] = (
    Anchor(
        "Xeon E5 v3/v4, 4 x DDR4-2400, LM Studio/Ollama, R1 UD-IQ2_XXS",
        "xeon-e5-avx2", 1, "moe", "iq", 76.8, 15.9, 1.5, 1.83,
        "the seed article (blog.rovertang.com 2025-04-05)", "hardware_anchors.md §5",
    ),
    Anchor(
        "EPYC 9135/9115, 12 x DDR5-5600, llama.cpp, R1 Q8_0 (peak speed)",
        "epyc-ddr5-avx512", 1, "moe", "plain", 537.6, 39.2, 7.17, 7.17,
        "xlab.tencent.com 2025-03-16",
    ),
    Anchor(
        "EPYC 9374F, 12 x DDR5-4800, llama.cpp, V3 Q4_K_S, CPU only",
        "epyc-ddr5-avx512", 1, "moe", "k", 460.8, 21.4, 7.87, 7.87,
        "llama.cpp #10981 (fairydreaming)",
    ),
    Anchor(
        "2 x Xeon Gold 6454S, 8 x DDR5-4800 a socket, llama.cpp, R1 Q4_K_M (one socket's BW)",
        "xeon-sp-avx512", 2, "moe", "k", 307.2, 22.4, 4.51, 4.51,
        "ktransformers DeepseekR1_V3_tutorial",
    ),
    Anchor(
        "AmpereOne A192-32X, 8 x DDR5-5200, Ollama deepseek-r1:671b (Q4_K_M assumed)",
        "arm-server", 1, "moe", "k", 332.8, 22.4, 4.18, 4.18,
        "geerlingguy/ai-benchmarks #10",
    ),
    Anchor(
        "Xeon 32C, 8 x DDR5-4800 + 4090D, ktransformers V0.2, R1 Q4_K_M (expert bytes)",
        "xeon-sp-avx512", 1, "moe-hybrid", "k", 307.2, 12.3, 8.73, 8.73,
        "ktransformers DeepseekR1_V3_tutorial",
    ),
    Anchor(
        "EPYC 9654, 12 x DDR5-4800 + 4090, ktransformers, R1 Q4, 1K context (expert bytes)",
        "epyc-ddr5-avx512", 1, "moe-hybrid", "k", 460.8, 12.3, 14.0, 14.0,
        "ktransformers #314",
    ),
    Anchor(
        "EPYC 24C, 12 x DDR5-4800 + 4090, ktransformers, R1 Q4_K_M (expert bytes)",
        "epyc-ddr5-avx512", 1, "moe-hybrid", "k", 460.8, 12.3, 12.1, 12.1,
        "ktransformers #587",
    ),
    Anchor(
        "i7-14700, 2 x DDR5-4800 + 4090, ik_llama.cpp, R1 IQ1_S_R4, experts on CPU",
        "client", 1, "moe-hybrid", "iq", 76.8, 4.5, 7.0, 7.0,
        "hexkern.com, running-deepseek-r1-671b-on-gaming-pc",
    ),
    Anchor(
        "Mac Pro 2019 Xeon W 16C, 6 x DDR4-2933, llama.cpp, Llama-2 70B q4_0",
        "xeon-sp-avx512", 1, "dense", "plain", 140.8, 38.8, 2.05, 2.05,
        "XiongjieDai/GPU-Benchmarks-on-LLM-Inference #1",
    ),
    Anchor(
        "i5-6500, 2 x DDR3-1600 (peak assumed; 20.0 GB/s measured), llama.cpp, 7B q4_0",
        "client", 1, "dense", "plain", 25.6, 3.8, 3.94, 3.94,
        "llama.cpp #34",
    ),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MeasuredEfficiency:
    """η of the user's own generation tests on this box, against its measured bandwidth."""

    kind: str  # dense | moe | moe-hybrid
    low: float
    high: float
    tests: int  # generation test rows behind it
    source: str  # which runs and models
    bytes_per_token: float  # of the model benched: η transfers only to a similar size


@dataclass(frozen=True, slots=True)
class EfficiencyRange:
    """η for one box and model, and what it rests on."""

    low: float
    high: float
    status: str  # measured | calibrated | partly calibrated | uncalibrated
    profile: str  # the class, e.g. "epyc-ddr5-avx512 1s moe k"
    anchors: tuple[Anchor, ...]
    reason: str  # one clause: why this status

    @property
    def width(self) -> float:
        return self.high / self.low

    @property
    def source(self) -> str:
        """The evidence in one line: the anchors' labels, or the user's runs."""
        return "; ".join(a.label for a in self.anchors) or self.reason


def kind_of(*, moe: bool, gpu: bool) -> str:
    if not moe:
        return "dense"
    return "moe-hybrid" if gpu else "moe"


def quant_family(name: str | None) -> str | None:
    """The quant family of a quant or GGML type name: IQ2_XXS, UD-IQ1_S -> iq; Q4_K_M,
    Q2_K_L -> k; Q8_0, Q4_0, F16, BF16 -> plain; None when unknown."""
    if not name:
        return None
    n = name.upper().removeprefix("UD-")
    if n.startswith("IQ"):
        return "iq"
    if re.match(r"Q\d_K", n):
        return "k"
    if re.match(r"(Q\d_[01]|MXFP4|B?F16|F32)", n):
        return "plain"
    return None


def _span(rows: Sequence[Anchor]) -> tuple[float, float]:
    return (
        min(a.efficiency_low for a in rows) / SPREAD,
        max(a.efficiency_high for a in rows) * SPREAD,
    )


def efficiency_range(
    cpu_class: str,
    kind: str,
    family: str | None,
    *,
    sockets: int = 1,
    measured: Sequence[MeasuredEfficiency] = (),
    bytes_per_token: float | None = None,
) -> EfficiencyRange:
    """η for a box of `cpu_class` with `sockets` running a model of `kind` and quant
    `family` that reads `bytes_per_token`: the user's own measurement of the same kind and
    a similar size if any, else the published points."""
    numa = "2s" if sockets > 1 else "1s"
    profile = f"{cpu_class} {numa} {kind} {family or 'unknown-quant'}"
    own = [
        m
        for m in measured
        if m.kind == kind
        and (
            bytes_per_token is None
            or 1 / OWN_SIZE_FACTOR <= bytes_per_token / m.bytes_per_token <= OWN_SIZE_FACTOR
        )
    ]
    if own:
        lo, hi = min(m.low for m in own) / SPREAD, max(m.high for m in own) * SPREAD
        tests = sum(m.tests for m in own)
        why = f"measured on this box: {tests} generation test(s), " + "; ".join(
            m.source for m in own
        )
        return EfficiencyRange(lo, hi, "measured", f"this box {kind}", (), why)
    of_kind = [a for a in ANCHORS if a.kind == kind]
    cls = [a for a in of_kind if a.cpu_class == cpu_class and (a.sockets > 1) == (sockets > 1)]
    same = [a for a in cls if a.family == family]
    if same:
        lo, hi = _span(same)
        return EfficiencyRange(lo, hi, "calibrated", profile, tuple(same), "same class")
    prior_lo, prior_hi = _span(of_kind)
    if cls and family in FAMILY_RANK:
        rank = FAMILY_RANK[family]
        cheaper = [a.efficiency_high for a in cls if FAMILY_RANK[a.family] > rank]
        costlier = [a.efficiency_low for a in cls if FAMILY_RANK[a.family] < rank]
        # the tightest bounds: the slowest cheaper point, the fastest costlier one
        lo = max(costlier) / SPREAD if costlier else prior_lo
        hi = min(cheaper) * SPREAD if cheaper else prior_hi
        hi = max(hi, lo * SPREAD**2)
        why = (
            f"no {FAMILY_NAMES[family]} point for {cpu_class} ({numa}): its other quant "
            "families bound one side, every published point of the kind the other"
        )
        return EfficiencyRange(lo, hi, "partly calibrated", profile, tuple(cls), why)
    why = (
        f"uncalibrated: no published point for {cpu_class} ({numa}, {kind}); "
        f"the range spans every {kind} point"
    )
    return EfficiencyRange(prior_lo, prior_hi, "uncalibrated", profile, tuple(of_kind), why)


def cpu_class_of(cpu_model: str, isa: dict[str, bool] | None = None) -> str:
    """The CPU class of a model name, the ISA deciding where the name does not (a VM that
    shows only "AMD EPYC")."""
    isa = isa or {}
    avx512 = bool(isa.get("avx512f"))
    m = cpu_model
    if re.search(r"Xeon.*\bE[57]-\d{4}\w* v[34]\b", m):
        return "xeon-e5-avx2"
    if re.search(r"EPYC", m):
        if re.search(r"EPYC\s+[489]\d{3}", m):
            return "epyc-ddr5-avx512"
        if re.search(r"EPYC\s+7\d{3}", m):
            return "epyc-ddr4-avx2"
        return "epyc-ddr5-avx512" if avx512 else "epyc-ddr4-avx2"
    if re.search(r"Xeon", m):
        if re.search(r"Xeon.*\b(Platinum|Gold|Silver|Bronze|Max|W-\d|w\d-)", m) or avx512:
            return "xeon-sp-avx512"
        return "xeon-e5-avx2"
    if re.search(r"Ampere|Neoverse|Graviton|Grace|aarch64|arm64", m, re.IGNORECASE):
        return "arm-server"
    return "client"


LOW_EFFICIENCY_HINT = (
    "below 0.4 the run is not limited by memory bandwidth: check the thread count (physical "
    "cores, not SMT threads), NUMA (pin to one node, numa_balancing off), the KV-cache regime "
    "(a pre-MLA DeepSeek GGUF reads megabytes of KV per token), and dequantisation cost "
    "(IQ quants on AVX2-only CPUs)"
)


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
