"""What a model costs per generated token: bytes read (MoE-aware) and KV-cache bytes.

bytes_per_token = Σ bytes(t) · f(t), with f = used/total experts for routed-expert
tensors, 0 for the token embedding (one row is gathered) unless it doubles as the
output matrix (tied), and 1 otherwise. See ../shared/research/hardware_anchors.md §1-2.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tokbench.gguf.reader import Model, Tensor

CLASSES = (
    "routed_experts",
    "shared_experts",
    "router",
    "attention",
    "dense_ffn",
    "embeddings",
    "output",
    "norms_other",
)
KV_TYPE_BYTES = {"f16": 2.0, "bf16": 2.0, "f32": 4.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


def classify(name: str) -> str:
    if name.startswith("token_embd"):
        return "embeddings"
    if name.startswith("output.") or name == "output":
        return "output"
    if "_exps" in name:
        return "routed_experts"
    if "_shexp" in name:
        return "shared_experts"
    if "ffn_gate_inp" in name:
        return "router"
    if ".attn_" in name and "norm" not in name:
        return "attention"
    if ".ffn_" in name and "norm" not in name:
        return "dense_ffn"
    return "norms_other"


@dataclass(frozen=True, slots=True)
class Analysis:
    architecture: str
    total_bytes: int
    params: int
    bytes_by_class: dict[str, int]
    params_by_class: dict[str, int]
    bytes_by_type: dict[str, int]
    experts: int | None
    experts_used: int | None
    tied_output: bool
    bytes_per_token: float
    active_params: float  # parameters read per generated token
    kv_regime: str
    kv_elements_per_token: int | None  # per token, all layers
    n_layers: int | None


def analyze(model: Model) -> Analysis:
    return analyze_tensors(model.tensors, model.metadata)


def analyze_tensors(tensors: list[Tensor], meta: dict[str, object]) -> Analysis:
    arch = str(meta.get("general.architecture", "?"))

    def key(name: str) -> object:
        return meta.get(f"{arch}.{name}")

    by_class: dict[str, int] = defaultdict(int)
    params_class: dict[str, int] = defaultdict(int)
    by_type: dict[str, int] = defaultdict(int)
    for t in tensors:
        c = classify(t.name)
        by_class[c] += t.n_bytes
        params_class[c] += t.n_elements
        by_type[t.type_name] += t.n_bytes
    experts = key("expert_count")
    used = key("expert_used_count")
    share = (
        (used / experts) if isinstance(experts, int) and isinstance(used, int) and experts else 1.0
    )
    tied = by_class.get("output", 0) == 0
    per_token = 0.0
    active = 0.0
    for c in CLASSES:
        f = share if c == "routed_experts" else 1.0
        if c == "embeddings":
            f = 1.0 if tied else 0.0  # a tied embedding is read whole as the output matrix
        per_token += by_class.get(c, 0) * f
        active += params_class.get(c, 0) * f
    regime, kv = _kv(meta, arch)
    layers = key("block_count")
    return Analysis(
        arch,
        sum(t.n_bytes for t in tensors),
        sum(params_class.values()),
        dict(by_class),
        dict(params_class),
        dict(by_type),
        experts if isinstance(experts, int) else None,
        used if isinstance(used, int) else None,
        tied,
        per_token,
        active,
        regime,
        kv,
        layers if isinstance(layers, int) else None,
    )


def _kv(meta: dict[str, object], arch: str) -> tuple[str, int | None]:
    """KV-cache elements per token (all layers) in the regime the file implies."""

    def key(name: str) -> int | None:
        v = meta.get(f"{arch}.{name}")
        return v if isinstance(v, int) else None

    layers = key("block_count")
    if layers is None:
        return "unknown", None
    lora = key("attention.kv_lora_rank")
    if lora:
        rope = key("rope.dimension_count") or 0
        if key("attention.key_length_mla") is not None:
            return "mla-latent", (lora + rope) * layers  # K latent; V read from it
        n_head = key("attention.head_count") or 0
        k_mla = key("attention.key_length") or 0
        v_mla = key("attention.value_length") or 0
        return "pre-mla-expanded", n_head * (k_mla + v_mla) * layers
    heads = key("attention.head_count")
    embd = key("embedding_length")
    if not heads or not embd:
        return "unknown", None
    kv_heads = key("attention.head_count_kv") or heads
    k_len = key("attention.key_length") or embd // heads
    v_len = key("attention.value_length") or embd // heads
    return ("gqa" if kv_heads < heads else "mha"), kv_heads * (k_len + v_len) * layers


def kv_bytes_per_token(a: Analysis, cache_type: str = "f16") -> float | None:
    if a.kv_elements_per_token is None:
        return None
    return a.kv_elements_per_token * KV_TYPE_BYTES[cache_type]
