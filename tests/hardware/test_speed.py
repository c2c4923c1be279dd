"""The one speed model: in RAM, paging from the SSD, and `estimate` = `plan`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tokbench.errors import TokbenchError
from tokbench.hardware.estimate import estimate
from tokbench.hardware.plan import plan
from tokbench.hardware.presets import PRESETS, SHAPES, shape_load
from tokbench.hardware.speed import BoxFacts, ModelLoad, predict

GIB = 2**30
R1_IQ2 = shape_load("deepseek-r1", "UD-IQ2_XXS")


@pytest.mark.parametrize("box", ["seed-4ch", "seed-1ch", "epyc-8ch", "epyc-8ch+gpu"])
@pytest.mark.parametrize("quant", ["UD-IQ2_XXS", "Q4_K_M"])
def test_estimate_and_plan_give_the_same_prediction(box: str, quant: str) -> None:
    for ctx in (1000, 4096):
        e = estimate("deepseek-r1", quant=quant, preset=box, context=ctx).prediction
        (p,) = plan("deepseek-r1", [quant], [box], context=ctx).rows
        assert e == p


@pytest.mark.parametrize("context", [0, 1000, 4096, 8192])
def test_the_seed_4ch_measurement_is_inside_the_range(context: int) -> None:
    p = predict(R1_IQ2, PRESETS["seed-4ch"], context=context)
    assert p.fits and p.ssd_bytes_per_token == 0
    assert p.low_tps <= 1.5 and p.high_tps >= 1.83  # LM Studio/Ollama, 4 x DDR4-2400
    assert p.high_tps < p.bound_tps  # never above the physics


def test_the_seed_with_one_dimm_pages_from_a_sata_ssd() -> None:
    # Assumptions: 64 GiB RAM, 5 % kept by the OS, 1.5 GB of compute buffers, MLA KV at
    # 4096 tokens; the non-expert weights stay resident first; 8 of 256 experts a token
    # hit in proportion to the resident share; SATA SSD at 0.5 GB/s.
    box = PRESETS["seed-1ch"]
    p = predict(R1_IQ2, box, context=4096)
    assert not p.fits and box.ssd_read_gbs == 0.5
    kv = 68.6 * 1024 * 4096
    cache = 64 * GIB * 0.95 - 1.5e9 - kv
    experts_held = 5.4e9 * 653.9 / 20.43
    resident_experts = (cache - (183e9 - experts_held)) / experts_held
    assert 0.2 < resident_experts < 0.4
    assert p.ssd_bytes_per_token == pytest.approx(5.4e9 * (1 - resident_experts), rel=1e-6)
    # the SSD's share of a token's time is most of it, so the range sits far below in-RAM
    assert p.ssd_bytes_per_token / 0.5e9 > 0.7 / p.high_tps
    assert 0.05 < p.low_tps < p.high_tps < 0.2
    assert p.in_ram_low_tps > 3 * p.high_tps
    assert p.note and "SSD" in p.note and "resident" in p.note


def test_ssd_and_ram_move_the_prediction_only_when_it_does_not_fit() -> None:
    four, one = PRESETS["seed-4ch"], PRESETS["seed-1ch"]
    nvme = replace(four, ssd_read_gbs=7.0)
    assert predict(R1_IQ2, nvme) == replace(predict(R1_IQ2, four), ssd_read_gbs=7.0)
    slow = predict(R1_IQ2, one)
    fast = predict(R1_IQ2, replace(one, ssd_read_gbs=3.0))
    bigger = predict(R1_IQ2, replace(one, ram_bytes=128 * GIB))
    assert fast.high_tps > 2 * slow.high_tps
    assert bigger.high_tps > slow.high_tps and bigger.resident_fraction > slow.resident_fraction
    # just enough RAM: the in-RAM range
    enough = predict(R1_IQ2, replace(one, ram_bytes=256 * GIB))
    assert enough.fits and enough.low_tps == pytest.approx(enough.in_ram_low_tps)


def test_a_dense_model_larger_than_ram_reads_all_of_it_at_the_low_end() -> None:
    dense = ModelLoad("dense-20g", None, False, 20e9, 20e9, 0.0, 0.0, 0.0)
    laptop = BoxFacts("laptop", 50.0, 16e9, 1.0)
    p = predict(dense, laptop, context=0)
    assert not p.fits
    assert p.low_tps == pytest.approx(1 / 20.0)  # 20 GB at 1 GB/s (llama.cpp PR #711)
    assert p.high_tps > p.low_tps  # the proportional cache at the high end
    assert 0 < p.ssd_bytes_per_token < 20e9


def test_a_gpu_keeps_only_the_routed_experts_on_the_cpu() -> None:
    q4 = shape_load("deepseek-r1", "Q4_K_M")
    p = predict(q4, PRESETS["epyc-8ch+gpu"], context=4096)
    assert " moe-hybrid " in p.efficiency_profile and p.kv_bytes_per_token == 0
    assert p.bound_tps == pytest.approx(204.8e9 / 12.3e9)
    assert p.fits and p.memory_needed_bytes < q4.file_bytes


def test_published_points_fall_in_their_preset_ranges() -> None:
    q4 = predict(shape_load("deepseek-r1", "Q4_K_M"), PRESETS["ddr5-12ch"], price=30000)
    assert q4.low_tps <= 7 and q4.high_tps >= 8  # measured 7-8 (fairydreaming, Xuanwu)
    assert q4.price_per_tps == pytest.approx(30000 / ((q4.low_tps + q4.high_tps) / 2))
    q8 = predict(
        shape_load("deepseek-r1", "Q8_0"), replace(PRESETS["ddr5-12ch"], bandwidth_gbs=537.6)
    )
    assert q8.low_tps <= 7.17 <= q8.high_tps  # Xuanwu, 12 x DDR5-5600


def test_the_worked_example_of_the_research_notes() -> None:
    pre_mla = shape_load("deepseek-r1", "UD-IQ2_XXS", kv="pre-mla")
    p = predict(pre_mla, PRESETS["seed-4ch"], context=1000)
    assert p.bound_weights_tps == pytest.approx(4.83, abs=0.01)
    assert p.bound_tps == pytest.approx(3.67, abs=0.05)  # pre-MLA KV at 1k context
    # Q2_K_L with pre-MLA KV at 4k on 240 GB: 228 + 20.5 + 1.5 GB does not fit
    q2 = predict(
        shape_load("deepseek-r1", "Q2_K_L", kv="pre-mla"),
        replace(PRESETS["seed-4ch"], ram_bytes=240e9),
        context=4096,
    )
    assert q2.memory_needed_bytes == pytest.approx(250e9, rel=0.01)
    assert not q2.fits and q2.ssd_bytes_per_token > 0


def test_bad_input_is_one_sentence() -> None:
    with pytest.raises(TokbenchError, match="must be positive"):
        predict(R1_IQ2, replace(PRESETS["seed-4ch"], bandwidth_gbs=0))
    with pytest.raises(TokbenchError, match="needs --quant"):
        shape_load("deepseek-r1", "Q3_K_Z")
    with pytest.raises(TokbenchError, match="unknown quant 'Q9'"):
        plan("deepseek-r1", ["Q9"])
    with pytest.raises(TokbenchError, match="neither a GGUF file nor a built-in shape"):
        estimate("no-such-model.gguf", preset="seed-4ch")
    assert set(SHAPES) == {"deepseek-r1"}


def test_a_gguf_file_and_its_bound(tb_home: Path, gemma_path: Path) -> None:
    from tokbench.hardware.bandwidth import speed_bound
    from tokbench.hardware.speed import gguf_load

    load = gguf_load(gemma_path)
    assert not load.moe and load.expert_bytes_per_token == 0
    assert load.bytes_per_token == 246_587_904 and load.kv_bytes_per_ctx_token > 0
    assert speed_bound(str(gemma_path)) is None  # no bandwidth measured yet
    tb_home.mkdir(parents=True)
    (tb_home / "hw.json").write_text(json.dumps({"bandwidth_gbs": 20.0}))
    b = speed_bound(str(gemma_path))
    assert b is not None
    assert (b.bandwidth_gbs, b.bytes_per_token) == (20.0, 246_587_904)
    assert b.bound_tps == 20e9 / 246_587_904
    e = estimate(str(gemma_path), context=0, ssd_gbs=2.0)
    assert e.box.bandwidth_source == "measured" and e.box.ssd_source == "given"
    assert e.prediction.bound_tps == pytest.approx(b.bound_tps)
    assert e.prediction.prefill_tps and e.prediction.prefill_tps > 0
