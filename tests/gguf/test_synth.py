"""`tokbench synth`: random-weight models that the real llama.cpp loads, runs and quantises."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tokbench
from tokbench.core.config import EngineSettings
from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import Analysis, analyze
from tokbench.gguf.reader import read_model
from tokbench.gguf.synth import shape_for, synthesize


def test_shapes_hit_their_size_with_whole_head_counts() -> None:
    s = shape_for(5e8)
    assert 5e8 <= s.params() < 7e8
    for p in (1e6, 6e7, 3e8, 2e9):
        x = shape_for(p)
        assert x.d_model % x.heads == 0 and x.heads % x.kv_heads == 0
    m = shape_for(5e8, moe=True, experts=16, experts_used=2)
    assert m.params() >= 5e8 and m.experts == 16


def assert_routed_accounting(a: Analysis) -> None:
    """With 2 of 8 experts used, 6/8 of the routed bytes (and the gathered embedding) are
    not read per token; everything else is."""
    routed = a.bytes_by_class["routed_experts"]
    assert a.bytes_per_token == pytest.approx(
        a.total_bytes - routed * 6 / 8 - a.bytes_by_class["embeddings"], rel=1e-6
    )


def assert_generates_8_tokens(model: Path) -> None:
    from tokbench.backends.embedded import EmbeddedBackend
    from tokbench.backends.embedded_bench import EmbeddedBench
    from tokbench.core.config import BenchTest

    eb = EmbeddedBench(
        EmbeddedBackend(model, EngineSettings(threads=2, n_ctx=256, chat_format="chatml"))
    )
    s = eb.measure(BenchTest("tg", 8), 0)
    eb.close()
    assert s.status == "ok" and s.tokens == 8 and s.tps and s.tps > 0


@pytest.mark.slow
@pytest.mark.parametrize(("moe", "params"), [(False, 2e7), (True, 2e7), (False, 8e7)])
def test_synthetic_model_quantises_loads_and_runs(tmp_path: Path, moe: bool, params: float) -> None:
    out = synthesize(tmp_path / "s.gguf", shape_for(params, moe=moe, experts=8), "Q4_K_M")
    a = analyze(read_model(out))
    assert "Q4_K" in a.bytes_by_type  # quantised by llama-quantize
    if moe:
        assert_routed_accounting(a)
    assert_generates_8_tokens(out)


def test_sizing_by_bytes_per_token_lands_within_one_layer() -> None:
    for kw in ({}, {"shared_experts": 1, "dense_lead": 1, "experts": 8}):
        s = shape_for(bytes_per_token=40e6, quant="Q4_K_M", **kw)  # type: ignore[arg-type]
        got = s.active_params() * 4.5 / 8
        fewer = shape_for(bytes_per_token=40e6 * 0.5, quant="Q4_K_M", **kw)  # type: ignore[arg-type]
        assert 40e6 <= got < 40e6 * 1.5 and fewer.active_params() < s.active_params()
    s = shape_for(bytes_per_token=40e6, shared_experts=1, dense_lead=1, experts=8)
    assert s.arch == "deepseek" and s.experts == 8 and s.dense_lead == 1
    assert s.params() > 2 * s.active_params()  # routed experts dominate the total
    with pytest.raises(TokbenchError, match="not both"):
        shape_for(1e8, bytes_per_token=1e6)
    with pytest.raises(TokbenchError, match="unknown quant"):
        shape_for(bytes_per_token=1e6, quant="Q9_Z")


@pytest.mark.slow
def test_deepseek_layout_in_iq2_xxs_mix_loads_and_runs(tmp_path: Path) -> None:
    """DeepSeek's layout (leading dense layer, routed + shared experts) with experts in
    IQ2_XXS and the rest Q4_K_M, as UD-IQ2_XXS does: llama-quantize needs the imatrix."""
    s = shape_for(3e7, experts=8, experts_used=2, shared_experts=1, dense_lead=1)
    out = synthesize(tmp_path / "ds.gguf", s, "Q4_K_M", tensor_types=("ffn_.*_exps=iq2_xxs",))
    m = read_model(out)
    a = analyze(m)
    assert a.architecture == "deepseek" and m.key("expert_shared_count") == 1
    assert {t.type_name for t in m.tensors if "_exps" in t.name} == {"IQ2_XXS"}
    assert a.bytes_by_class["shared_experts"] > 0 and a.bytes_by_class["dense_ffn"] > 0
    assert_routed_accounting(a)
    assert_generates_8_tokens(out)


def test_bad_tensor_type_is_refused_before_any_work(tmp_path: Path) -> None:
    r = tokbench("synth", str(tmp_path / "x.gguf"), "--tensor-type", "attn_q")
    assert r.returncode == 2 and "PATTERN=TYPE" in r.stderr and "Traceback" not in r.stderr
    r = tokbench("synth", str(tmp_path / "x.gguf"), "--bytes-per-token", "12QB")
    assert r.returncode == 2 and "not a size" in r.stderr


def test_synth_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "x.gguf"
    out.write_text("mine")
    r = tokbench("synth", str(out), "--params", "1e6", "--quant", "F16")
    assert r.returncode == 2 and "pass --force" in r.stderr and out.read_text() == "mine"
    ok = tokbench("synth", str(out), "--params", "1e6", "--quant", "F16", "--force")
    assert ok.returncode == 0, ok.stderr
    assert read_model(out).metadata["general.architecture"] == "llama"
