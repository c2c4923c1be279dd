"""HostFacts and ModelFacts from tokbench's host probe and GGUF analysis (this box, that file)."""

from __future__ import annotations

import os
from pathlib import Path

from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import analyze, kv_bytes_per_token
from tokbench.gguf.reader import read_model
from tokbench.hardware.bandwidth import load_bandwidth
from tokbench.hardware.probe import gpus, physical_cores, sockets_and_cores
from tokbench.tune.inputs import GpuFacts, HostFacts, ModelFacts

# nvidia-smi reports no memory bandwidth; a mid-range figure only orders the search
DEFAULT_GPU_BANDWIDTH_GB_S = 500.0


def numa_nodes() -> int:
    return len(list(Path("/sys/devices/system/node").glob("node[0-9]*"))) or 1


def host_facts() -> HostFacts:
    """This box: cores, sockets, NUMA nodes, RAM, GPUs, the saved `hw --bandwidth`."""
    import psutil

    logical = os.cpu_count() or 1
    physical = min(physical_cores(), logical)
    sockets, _ = sockets_and_cores()
    cards = tuple(
        GpuFacts(g.name, g.memory_bytes, DEFAULT_GPU_BANDWIDTH_GB_S)
        for g in gpus()
        if g.memory_bytes > 0
    )
    return HostFacts(
        logical_cores=logical,
        physical_cores=physical,
        sockets=max(1, min(sockets or 1, physical)),
        numa_nodes=numa_nodes(),
        ram_bytes=psutil.virtual_memory().total,
        gpus=cards,
        cpu_bandwidth_gb_s=load_bandwidth(),
    )


def model_facts(path: Path, context_tokens: int = 0) -> ModelFacts:
    """What decides decode speed for this GGUF; `context_tokens`: the mean context depth
    while decoding (for the KV-cache bytes read per token)."""
    if not path.is_file():
        raise TokbenchError(f"model file not found: {path}")
    try:
        model = read_model(path)
    except (OSError, ValueError) as exc:
        raise TokbenchError(f"cannot read {path} as a GGUF model: {exc}") from exc
    a = analyze(model)
    expert_bytes = a.bytes_by_class.get("routed_experts", 0)
    share = a.experts_used / a.experts if a.experts and a.experts_used else 1.0
    kv = kv_bytes_per_token(a, "f16") or 0.0
    if a.bytes_per_token <= 0:
        raise TokbenchError(f"{path} holds no weights")
    return ModelFacts(
        file_bytes=a.total_bytes,
        bytes_per_token=a.bytes_per_token,
        n_layers=a.n_layers or 1,
        is_moe=bool(a.experts) and expert_bytes > 0,
        expert_bytes=expert_bytes,
        expert_bytes_per_token=expert_bytes * share,
        kv_read_bytes_f16=kv * context_tokens,
        name=path.stem,
        kv_bytes_per_token_f16=kv,
        n_vocab=next((t.shape[-1] for t in model.tensors if t.name == "token_embd.weight"), 0),
    )
