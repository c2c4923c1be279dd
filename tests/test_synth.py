"""`tokbench synth`: random-weight models that the real llama.cpp loads, runs and quantises."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tokbench
from tokbench.gguf import read_model
from tokbench.gguf_analysis import analyze
from tokbench.synth import shape_for, synthesize


def test_shapes_hit_their_size_with_whole_head_counts() -> None:
    s = shape_for(5e8)
    assert 5e8 <= s.params() < 7e8
    for p in (1e6, 6e7, 3e8, 2e9):
        x = shape_for(p)
        assert x.d_model % x.heads == 0 and x.heads % x.kv_heads == 0
    m = shape_for(5e8, moe=True, experts=16, experts_used=2)
    assert m.params() >= 5e8 and m.experts == 16


@pytest.mark.slow
@pytest.mark.parametrize(("moe", "params"), [(False, 2e7), (True, 2e7), (False, 8e7)])
def test_synthetic_model_quantises_loads_and_runs(tmp_path: Path, moe: bool, params: float) -> None:
    from tokbench.backends.embedded import EmbeddedBackend
    from tokbench.bench_engines import BenchTest, EmbeddedBench

    out = synthesize(tmp_path / "s.gguf", shape_for(params, moe=moe, experts=8), "Q4_K_M")
    a = analyze(read_model(out))
    assert "Q4_K" in a.bytes_by_type  # quantised by llama-quantize
    if moe:
        routed = a.bytes_by_class["routed_experts"]
        assert a.bytes_per_token == pytest.approx(
            a.total_bytes - routed * 6 / 8 - a.bytes_by_class["embeddings"], rel=1e-6
        )
    eb = EmbeddedBench(EmbeddedBackend(out, threads=2, n_ctx=256, chat_format="chatml"))
    s = eb.measure(BenchTest("tg", 8), 0)
    eb.close()
    assert s.status == "ok" and s.tokens == 8 and s.tps and s.tps > 0


def test_synth_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "x.gguf"
    out.write_text("mine")
    r = tokbench("synth", str(out), "--params", "1e6", "--quant", "F16")
    assert r.returncode == 2 and "pass --force" in r.stderr and out.read_text() == "mine"
    ok = tokbench("synth", str(out), "--params", "1e6", "--quant", "F16", "--force")
    assert ok.returncode == 0, ok.stderr
    assert read_model(out).metadata["general.architecture"] == "llama"
