"""A GGUF file's cost per token, as the speed model takes it (speed.ModelLoad)."""

from __future__ import annotations

from pathlib import Path

from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import KV_TYPE_BYTES, Analysis, analyze
from tokbench.gguf.reader import read_model
from tokbench.hardware.speed import ModelLoad


def load_of(name: str, a: Analysis, file_bytes: float, kv_cache: str = "f16") -> ModelLoad:
    experts_held = float(a.bytes_by_class.get("routed_experts", 0))
    share = a.experts_used / a.experts if a.experts and a.experts_used else 1.0
    # prefill computes logits for the last token only: the output matrix hardly counts
    output = a.params_by_class.get("output", 0) or (
        a.params_by_class.get("embeddings", 0) if a.tied_output else 0
    )
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
    )


def gguf_load(path: Path, kv_cache: str = "f16") -> ModelLoad:
    """The load of a GGUF file (all shards of a split model)."""
    if not path.is_file():
        raise TokbenchError(f"{path} is not a file")
    m = read_model(path)
    return load_of(str(path), analyze(m), float(m.total_bytes), kv_cache)
