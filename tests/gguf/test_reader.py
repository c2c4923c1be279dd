"""The GGUF reader and per-token analysis: tiny generated files, a crafted one, DeepSeek."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import analyze, analyze_tensors, kv_bytes_per_token
from tokbench.gguf.reader import Tensor, read_model


def write_tiny(path: Path, *, moe: bool = False, arch: str = "llama") -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_context_length(128)
    w.add_feed_forward_length(128)
    if moe:
        w.add_expert_count(8)
        w.add_expert_used_count(2)
    w.add_tensor("token_embd.weight", np.zeros((100, 64), dtype=np.float32))
    w.add_tensor("output.weight", np.zeros((100, 64), dtype=np.float16))
    for i in range(2):
        w.add_tensor(f"blk.{i}.attn_q.weight", np.zeros((64, 64), dtype=np.float16))
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.zeros(64, dtype=np.float32))
        if moe:
            w.add_tensor(f"blk.{i}.ffn_up_exps.weight", np.zeros((8, 128, 64), dtype=np.float16))
            w.add_tensor(f"blk.{i}.ffn_gate_inp.weight", np.zeros((8, 64), dtype=np.float32))
        else:
            w.add_tensor(f"blk.{i}.ffn_up.weight", np.zeros((128, 64), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_dense_and_moe_bytes_per_token(tmp_path: Path) -> None:
    dense = analyze(read_model(write_tiny(tmp_path / "d.gguf")))
    assert dense.params == 100 * 64 * 2 + 2 * (64 * 64 + 64 + 128 * 64)
    # embeddings are a row gather (untied output): everything else is read once
    assert dense.bytes_per_token == 100 * 64 * 2 + 2 * (64 * 64 * 2 + 64 * 4 + 128 * 64 * 2)
    assert dense.kv_regime == "gqa" and dense.kv_elements_per_token == 2 * 2 * (16 + 16)
    assert kv_bytes_per_token(dense) == 2 * 2 * 32 * 2
    moe = analyze(read_model(write_tiny(tmp_path / "m.gguf", moe=True)))
    routed = 2 * 8 * 128 * 64 * 2
    assert moe.bytes_by_class["routed_experts"] == routed
    assert moe.bytes_by_class["router"] == 2 * 8 * 64 * 4
    non_expert = moe.total_bytes - routed - 100 * 64 * 4
    assert moe.bytes_per_token == pytest.approx(non_expert + routed * 2 / 8)


def deepseek_r1_tensors() -> tuple[list[Tensor], dict[str, object]]:
    """DeepSeek-V3/R1's tensor shapes (1 byte a weight), from its published config."""
    d, inter, moe_inter, vocab, layers = 7168, 18432, 2048, 129280, 61
    t: list[Tensor] = []

    def add(name: str, *shape: int) -> None:
        n = 1
        for s in shape:
            n *= s
        t.append(Tensor(name, shape, 24, 0, n, 0))

    add("token_embd.weight", d, vocab)
    add("output.weight", d, vocab)
    for i in range(layers):
        b = f"blk.{i}"
        add(f"{b}.attn_q_a.weight", d, 1536)
        add(f"{b}.attn_q_b.weight", 1536, 128 * 192)
        add(f"{b}.attn_kv_a_mqa.weight", d, 576)
        add(f"{b}.attn_kv_b.weight", 512, 128 * 256)
        add(f"{b}.attn_output.weight", 128 * 128, d)
        add(f"{b}.attn_norm.weight", d)
        if i < 3:
            for p in ("gate", "up", "down"):
                add(f"{b}.ffn_{p}.weight", d, inter)
        else:
            for p in ("gate", "up", "down"):
                add(f"{b}.ffn_{p}_exps.weight", d, moe_inter, 256)
                add(f"{b}.ffn_{p}_shexp.weight", d, moe_inter)
            add(f"{b}.ffn_gate_inp.weight", d, 256)
    meta = {
        "general.architecture": "deepseek2",
        "deepseek2.block_count": layers,
        "deepseek2.expert_count": 256,
        "deepseek2.expert_used_count": 8,
        "deepseek2.attention.kv_lora_rank": 512,
        "deepseek2.rope.dimension_count": 64,
        "deepseek2.attention.head_count": 128,
        "deepseek2.attention.key_length": 192,
        "deepseek2.attention.value_length": 128,
    }
    return t, meta


def test_deepseek_r1_reads_36_6b_parameters_per_token() -> None:
    tensors, meta = deepseek_r1_tensors()
    a = analyze_tensors(tensors, meta)
    assert a.params == pytest.approx(671.03e9, rel=0.001)
    assert a.active_params == pytest.approx(36.6e9, rel=0.003)
    assert a.params_by_class["routed_experts"] * 8 / 256 == pytest.approx(20.43e9, rel=0.002)
    # pre-MLA file: K 128x192 and V 128x128 per layer, f16 -> 4.77 MiB a token
    assert a.kv_regime == "pre-mla-expanded"
    assert kv_bytes_per_token(a) == pytest.approx(4.77 * 2**20, rel=0.01)
    mla = analyze_tensors(tensors, {**meta, "deepseek2.attention.key_length_mla": 192})
    assert mla.kv_regime == "mla-latent" and mla.kv_elements_per_token == 576 * 61


def test_unknown_tensor_type_takes_its_size_from_offsets(tmp_path: Path) -> None:
    path = write_tiny(tmp_path / "u.gguf")
    data = bytearray(path.read_bytes())
    # retag blk.0.attn_q.weight (F16) with a type id newer than the reader knows
    name = b"blk.0.attn_q.weight"
    i = data.index(name) + len(name)
    n_dims = struct.unpack_from("<I", data, i)[0]
    type_at = i + 4 + 8 * n_dims
    struct.pack_into("<I", data, type_at, 200)
    path.write_bytes(bytes(data))
    t = {x.name: x for x in read_model(path).tensors}["blk.0.attn_q.weight"]
    assert t.type_name == "type200" and t.n_bytes >= 64 * 64 * 2  # up to the next tensor


def test_crafted_and_truncated_files_fail_cleanly(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.gguf"
    bomb.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**60, 2**60) + b"\0" * 64)
    with pytest.raises(TokbenchError, match="truncated or corrupt"):
        read_model(bomb)
    good = write_tiny(tmp_path / "t.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good[: len(good) - 500])
    with pytest.raises(TokbenchError, match="truncated"):
        read_model(cut)
    notgguf = tmp_path / "x.gguf"
    notgguf.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(TokbenchError, match="not a GGUF file"):
        read_model(notgguf)
    long_string = tmp_path / "s.gguf"
    long_string.write_bytes(b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, 2**62) + b"\0" * 64)
    with pytest.raises(TokbenchError, match="truncated or corrupt"):
        read_model(long_string)


def test_bundled_gemma(gemma_path: Path) -> None:
    a = analyze(read_model(gemma_path))
    assert a.architecture == "gemma3" and a.params == 268_098_176  # llama.cpp says 268.10 M
    assert a.tied_output and a.bytes_per_token == a.total_bytes


def test_a_string_array_running_past_the_end_is_truncation(tmp_path: Path) -> None:
    # one metadata key holding an array of 3 strings whose second length overruns the file
    key = b"tokenizer.ggml.tokens"
    body = struct.pack("<Q", len(key)) + key + struct.pack("<IIQ", 9, 8, 3)
    body += struct.pack("<Q", 1) + b"a" + struct.pack("<Q", 10**6) + b"b" * 20
    f = tmp_path / "vocab.gguf"
    f.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + body)
    with pytest.raises(TokbenchError, match="truncated or corrupt"):
        read_model(f)
