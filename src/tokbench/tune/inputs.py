"""What `tokbench tune` needs to know about the box and the model, as plain values.

The integrator fills these from tokbench's host probe (`hw`) and GGUF analysis; the tune
package itself reads neither, so it can be tested with made-up machines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokbench.errors import TokbenchError

# One core streams roughly 10-20 GB/s on current x86 servers (hardware_anchors.md §8.4);
# used only when the host probe measured nothing per thread.
DEFAULT_BANDWIDTH_PER_THREAD_GB_S = 12.0


@dataclass(frozen=True, slots=True)
class GpuFacts:
    """One accelerator: its memory and its memory bandwidth (GB/s, 1e9 bytes)."""

    name: str
    memory_bytes: int
    bandwidth_gb_s: float

    def __post_init__(self) -> None:
        if self.bandwidth_gb_s <= 0 or self.memory_bytes <= 0:
            raise TokbenchError(f"GPU {self.name}: memory and bandwidth must be positive")


@dataclass(frozen=True, slots=True)
class HostFacts:
    """CPU topology, memory and accelerators of the box being tuned.

    `cpu_bandwidth_gb_s` is the whole box's achievable DRAM bandwidth (measured, e.g.
    `tokbench hw --bandwidth`, or peak); None means unknown, and the predictor then
    assumes bandwidth grows with threads without a ceiling.
    """

    logical_cores: int
    physical_cores: int
    sockets: int = 1
    numa_nodes: int = 1
    ram_bytes: int = 0
    gpus: tuple[GpuFacts, ...] = ()
    cpu_bandwidth_gb_s: float | None = None
    bandwidth_per_thread_gb_s: float = DEFAULT_BANDWIDTH_PER_THREAD_GB_S

    def __post_init__(self) -> None:
        if self.logical_cores < 1 or self.physical_cores < 1:
            raise TokbenchError("a host has at least one core")
        if self.physical_cores > self.logical_cores:
            raise TokbenchError("physical cores cannot exceed logical cores")
        if self.sockets < 1 or self.numa_nodes < 1:
            raise TokbenchError("a host has at least one socket and one NUMA node")

    @property
    def physical_per_socket(self) -> int:
        return max(1, self.physical_cores // self.sockets)

    @property
    def gpu_memory_bytes(self) -> int:
        return sum(g.memory_bytes for g in self.gpus)

    @property
    def gpu_bandwidth_gb_s(self) -> float:
        # llama.cpp splits layers across GPUs and runs them one after another, so the
        # slowest card sets the pace; the minimum is the honest single number
        return min((g.bandwidth_gb_s for g in self.gpus), default=0.0)


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """The parts of a GGUF analysis that decide decode speed and placement.

    bytes_per_token: weight bytes read per generated token (MoE-aware), all layers.
    expert_bytes / expert_bytes_per_token: the routed-expert tensors (`*_exps`) in the
    file, and the part of them read per token (used/total experts). Both 0 when dense.
    kv_read_bytes_f16: KV-cache bytes read per generated token at the measured context
    depth with an f16 cache (0 when unknown or negligible).
    kv_bytes_per_token_f16 / n_vocab: the f16 KV cache per token of context and the
    vocabulary size, for the memory a candidate's context and batch need (0: unknown).
    """

    file_bytes: int
    bytes_per_token: float
    n_layers: int
    is_moe: bool = False
    expert_bytes: int = 0
    expert_bytes_per_token: float = 0.0
    kv_read_bytes_f16: float = 0.0
    name: str = field(default="")
    kv_bytes_per_token_f16: float = 0.0
    n_vocab: int = 0

    def __post_init__(self) -> None:
        if self.n_layers < 1:
            raise TokbenchError("a model has at least one layer")
        if self.bytes_per_token <= 0:
            raise TokbenchError("bytes per token must be positive")
        if self.expert_bytes_per_token > self.bytes_per_token:
            raise TokbenchError("expert bytes per token cannot exceed all bytes per token")
