"""Built-in model shapes and hardware presets for `tokbench estimate` and `tokbench plan`.

DeepSeek-R1/V3 bytes per quant are from hardware_anchors.md §2: published file sizes, the
expert bits per weight solved from them, 20.43 B routed-expert parameters read of 653.9 B
held (8 of 256 experts), 36.6 B parameters read per token in all."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import KV_TYPE_BYTES
from tokbench.hardware.calibration import CPU_CLASSES, quant_family
from tokbench.hardware.speed import BoxFacts, ModelLoad

# Typical sequential read of one SSD, GB/s (used when the box's own disk is not measured):
# SATA 6 Gb/s carries 600 MB/s after 8b/10b coding; drives sit just under it (Samsung 870
# EVO data sheet: up to 560 MB/s). PCIe 3.0 x4 carries 3.94 GB/s (Samsung 970 EVO Plus: up
# to 3,500 MB/s). PCIe 4.0 x4 carries 7.88 GB/s (Samsung 990 PRO: up to 7,450 MB/s,
# slashcam.com 2022-08-28; c't 2024/4 measured 7.46 GB/s).
SSD_SATA_GBS = 0.5
SSD_NVME_GEN3_GBS = 3.0
SSD_NVME_GEN4_GBS = 7.0


@dataclass(frozen=True, slots=True)
class QuantFacts:
    file_bytes: float
    bytes_per_token: float
    expert_bytes_per_token: float  # routed experts read per token
    expert_file_bytes: float  # routed experts held: 653.9e9 params x expert bpw / 8


@dataclass(frozen=True, slots=True)
class Shape:
    """A model shape with per-quant bytes, known without its file."""

    name: str
    active_params: float
    moe: bool
    quants: dict[str, QuantFacts]
    kv_bytes_per_token: dict[str, float]  # regime -> f16 bytes per context token


def _ds(file_gb: float, per_token_gb: float, experts_gb: float) -> QuantFacts:
    # expert bpw = per-token expert bytes x 8 / 20.43e9; held = 653.9e9 x bpw / 8
    return QuantFacts(
        file_gb * 1e9, per_token_gb * 1e9, experts_gb * 1e9, experts_gb * 653.9 / 20.43 * 1e9
    )


SHAPES = {
    "deepseek-r1": Shape(
        "DeepSeek-R1 / V3 671B",
        36.6e9,
        True,
        {
            "Q8_0": _ds(713, 39.2, 21.7),
            "Q4_K_M": _ds(404, 22.4, 12.3),
            "Q4_K_S": _ds(386, 21.4, 11.7),
            "Q2_K_L": _ds(228, 15.8, 6.8),
            "UD-IQ2_XXS": _ds(183, 15.9, 5.4),
            "UD-IQ1_S": _ds(131, 14.0, 3.8),
        },
        # pre-MLA: K 128x192 + V 128x128 per layer; MLA: the 576-wide latent (V-less)
        {"pre-mla": 4.77 * 2**20, "mla": 68.6 * 2**10},
    ),
}
KV_REGIMES = ("mla", "pre-mla")


def shape_load(
    name: str, quant: str | None, *, kv: str = "mla", kv_cache: str = "f16"
) -> ModelLoad:
    """A built-in shape at one quant, its KV cache stored as `kv_cache`."""
    if name not in SHAPES:
        raise TokbenchError(f"unknown model shape {name!r}; known: {', '.join(SHAPES)}")
    shape = SHAPES[name]
    if quant not in shape.quants:
        raise TokbenchError(f"{name} needs --quant, one of {', '.join(shape.quants)}")
    if kv not in shape.kv_bytes_per_token:
        raise TokbenchError(f"unknown KV layout {kv!r}; known: {', '.join(KV_REGIMES)}")
    q = shape.quants[quant]
    return ModelLoad(
        name=name,
        quant=quant,
        moe=shape.moe,
        file_bytes=q.file_bytes,
        bytes_per_token=q.bytes_per_token,
        expert_bytes_per_token=q.expert_bytes_per_token,
        expert_file_bytes=q.expert_file_bytes,
        kv_bytes_per_ctx_token=shape.kv_bytes_per_token[kv] * KV_TYPE_BYTES[kv_cache] / 2,
        prefill_params=shape.active_params,
        family=quant_family(quant),
    )


GIB = 2**30
PRESETS = {
    b.name: b
    for b in (
        BoxFacts(
            "seed-4ch",
            76.8,
            256 * GIB,
            SSD_SATA_GBS,  # the article names no SSD: a SATA drive is assumed
            "xeon-e5-avx2",
            description="the seed's Xeon E5, 4 x DDR4-2400 (256 GB), SATA SSD",
        ),
        BoxFacts(
            "seed-1ch",
            19.2,
            64 * GIB,
            SSD_SATA_GBS,
            "xeon-e5-avx2",
            description="the same box with one 64 GB DIMM (1 channel)",
        ),
        BoxFacts(
            "xeon-sp-2s",
            128.0,
            384 * GIB,
            SSD_NVME_GEN3_GBS,
            "xeon-sp-avx512",
            sockets=2,
            description="dual Xeon Scalable, 6 x DDR4-2666 per socket (384 GB), NVMe Gen3; "
            "llama.cpp gains ~1.0-1.3x from the second socket",
        ),
        BoxFacts(
            "epyc-8ch",
            204.8,
            512 * GIB,
            SSD_NVME_GEN4_GBS,
            "epyc-ddr4-avx2",
            description="EPYC 7002/7003, 8 x DDR4-3200, full-CCD SKU (512 GB), NVMe Gen4",
        ),
        BoxFacts(
            "ddr5-12ch",
            460.8,
            768 * GIB,
            SSD_NVME_GEN4_GBS,
            "epyc-ddr5-avx512",
            description="EPYC 9004/9005, 12 x DDR5-4800 (768 GB), NVMe Gen4",
        ),
        BoxFacts(
            "epyc-8ch+gpu",
            204.8,
            512 * GIB,
            SSD_NVME_GEN4_GBS,
            "epyc-ddr4-avx2",
            gpu=True,
            description="EPYC 8 x DDR4-3200 + a 24 GB GPU for attention and KV, NVMe Gen4",
        ),
    )
}


def preset_box(name: str) -> BoxFacts:
    if name not in PRESETS:
        raise TokbenchError(f"unknown box {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]


_SIZE = re.compile(r"\s*(?P<n>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[GT]i?B?)?\s*", re.IGNORECASE)
_UNITS = {"g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12, "tib": 2**40}


def parse_ram(text: str) -> float:
    """Bytes of `--ram`: a number of GB (768), or with a unit: 768GB, 768GiB, 1.5TB, 1TiB."""
    m = _SIZE.fullmatch(text)
    value = float(m.group("n")) * _UNITS[(m.group("unit") or "gb").lower()] if m else 0.0
    if not 1e9 <= value <= 1e15:
        raise TokbenchError(
            f"--ram {text!r}: give the box's memory, 1 GB to 1 PB: 768, 768GB, 512GiB or 1.5TB"
        )
    return value


def described_box(
    box: BoxFacts,
    *,
    bandwidth_gbs: float | None = None,
    ram_bytes: float | None = None,
    ssd_gbs: float | None = None,
    cpu_class: str | None = None,
    sockets: int | None = None,
) -> BoxFacts:
    """`box` with what the user said about it in place of the preset's or host's figures.
    A box whose bandwidth is given is another box: this host's own efficiency is dropped."""
    if cpu_class is not None and cpu_class not in CPU_CLASSES:
        raise TokbenchError(f"unknown CPU class {cpu_class!r}; known: {', '.join(CPU_CLASSES)}")
    if bandwidth_gbs:
        box = replace(
            box, bandwidth_gbs=bandwidth_gbs, bandwidth_source="given", measured_efficiency=()
        )
    if ram_bytes:
        box = replace(box, ram_bytes=ram_bytes, ram_source="given")
    if ssd_gbs:
        box = replace(box, ssd_read_gbs=ssd_gbs, ssd_source="given")
    if cpu_class:
        box = replace(box, cpu_class=cpu_class, measured_efficiency=())
    if sockets:
        box = replace(box, sockets=sockets)
    return box
