"""The bandwidth-bound predictor: thread saturation, CPU/GPU split, MoE expert placement."""

from __future__ import annotations

import pytest

from tokbench.tune.inputs import GpuFacts, HostFacts, ModelFacts
from tokbench.tune.predict import (
    cpu_bandwidth_gb_s,
    fitted_start,
    order_values,
    placement,
    predict,
)
from tokbench.tune.space import Candidate, search_space

GB = 1e9
BOX = HostFacts(
    logical_cores=8, physical_cores=4, cpu_bandwidth_gb_s=40.0, bandwidth_per_thread_gb_s=12.0
)
GPU_BOX = HostFacts(
    logical_cores=8,
    physical_cores=4,
    bandwidth_per_thread_gb_s=10.0,  # no ceiling given: 4 threads reach exactly 40 GB/s
    gpus=(GpuFacts("gpu", 24 * 2**30, 1000.0),),
)
DENSE = ModelFacts(file_bytes=int(16 * GB), bytes_per_token=16 * GB, n_layers=32)
MOE = ModelFacts(
    file_bytes=int(100 * GB),
    bytes_per_token=10 * GB,
    n_layers=40,
    is_moe=True,
    expert_bytes=int(90 * GB),
    expert_bytes_per_token=8 * GB,
)


def test_bandwidth_grows_with_threads_then_saturates() -> None:
    bws = [cpu_bandwidth_gb_s(BOX, t) for t in (1, 2, 3, 4)]
    assert bws == sorted(bws) and bws[-1] < 40.0
    assert bws[0] == pytest.approx(12.0, rel=0.01)  # far below the knee: one core's share
    assert bws[-1] == pytest.approx((48.0**-4 + 40.0**-4) ** -0.25)


def test_hyperthreads_add_nothing_and_oversubscription_costs() -> None:
    four = cpu_bandwidth_gb_s(BOX, 4)
    assert cpu_bandwidth_gb_s(BOX, 8) == pytest.approx(0.97 * four)
    assert cpu_bandwidth_gb_s(BOX, 16) == pytest.approx(four * 8 / 16)


def test_numa_modes_only_matter_across_sockets() -> None:
    big = HostFacts(
        logical_cores=64,
        physical_cores=32,
        sockets=2,
        numa_nodes=2,
        cpu_bandwidth_gb_s=200.0,
        bandwidth_per_thread_gb_s=12.0,
    )
    at32 = {m: cpu_bandwidth_gb_s(big, 32, m) for m in ("off", "distribute", "isolate")}
    assert at32["distribute"] > at32["off"] > at32["isolate"]
    assert at32["isolate"] < 100.0  # one socket's half of the box
    at8 = {m: cpu_bandwidth_gb_s(big, 8, m) for m in ("off", "distribute", "isolate")}
    assert len({round(v, 9) for v in at8.values()}) == 1


def test_cpu_only_speed_is_bandwidth_over_bytes() -> None:
    p = predict(Candidate({"threads": "4"}), BOX, ModelFacts(int(4 * GB), 4 * GB, 32))
    assert p.decode_tps == pytest.approx(cpu_bandwidth_gb_s(BOX, 4) / 4)
    assert p.placement.gpu_bytes_per_token == 0 and p.fits


def test_kv_cache_type_shrinks_the_kv_bytes_read() -> None:
    model = ModelFacts(int(4 * GB), 4 * GB, 32, kv_read_bytes_f16=4 * GB)
    f16 = predict(Candidate({"threads": "4", "kv": "f16"}), BOX, model).decode_tps
    q8 = predict(Candidate({"threads": "4", "kv": "q8_0"}), BOX, model).decode_tps
    assert q8 / f16 == pytest.approx(8 / (4 + 4 * 34 / 64))


@pytest.mark.parametrize(
    ("ngl", "tps"),
    [
        ("0", 1 / (16 / 40)),  # all on the CPU at 40 GB/s
        ("16", 1 / (8 / 40 + 8 / 1000)),  # half and half: the times add
        ("all", 1 / (16 / 1000)),
    ],
)
def test_gpu_cpu_split_adds_the_two_times(ngl: str, tps: float) -> None:
    p = predict(Candidate({"threads": "4", "ngl": ngl}), GPU_BOX, DENSE)
    assert p.decode_tps == pytest.approx(tps)
    assert p.fits


def test_moe_experts_on_cpu_move_only_expert_bytes() -> None:
    all_cpu = placement(MOE, "all", "all")
    assert all_cpu.cpu_bytes_per_token == pytest.approx(8 * GB)  # every expert byte
    assert all_cpu.gpu_bytes_per_token == pytest.approx(2 * GB)  # attention, dense, output
    assert all_cpu.gpu_weight_bytes == pytest.approx(10 * GB)
    half = placement(MOE, "all", "20")
    assert half.cpu_bytes_per_token == pytest.approx(4 * GB)
    # --n-cpu-moe 10 with ngl 20: the first 20 layers are on the CPU anyway
    assert placement(MOE, "20", "10") == placement(MOE, "20", "0")
    p = predict(Candidate({"threads": "4", "ngl": "all", "cpu_moe": "all"}), GPU_BOX, MOE)
    assert p.decode_tps == pytest.approx(1 / (8 / 40 + 2 / 1000))
    assert p.fits
    too_big = predict(Candidate({"threads": "4", "ngl": "all", "cpu_moe": "20"}), GPU_BOX, MOE)
    assert not too_big.fits and "GPU" in too_big.note


def test_model_larger_than_ram_does_not_fit() -> None:
    small_ram = HostFacts(logical_cores=8, physical_cores=4, ram_bytes=int(8 * GB))
    p = predict(Candidate({"threads": "4"}), small_ram, DENSE)
    assert not p.fits and "RAM" in p.note


def test_the_start_gets_the_placement_llama_cpp_fit_would_choose() -> None:
    knobs = search_space(GPU_BOX, MOE)
    start = fitted_start(knobs, GPU_BOX, MOE)
    assert start["ngl"] == "all" and start["cpu_moe"] == "all"
    dense_knobs = search_space(GPU_BOX, DENSE)
    assert fitted_start(dense_knobs, GPU_BOX, DENSE)["ngl"] == "all"  # fits as it is


def test_order_puts_fitting_fast_values_first_and_keeps_the_default_on_ties() -> None:
    knobs = {k.name: k for k in search_space(GPU_BOX, MOE)}
    base = fitted_start(list(knobs.values()), GPU_BOX, MOE)
    ngl_order = order_values(knobs["ngl"], base, GPU_BOX, MOE)
    assert ngl_order[0] == "all" and ngl_order[-1] == "0"
    moe_order = order_values(knobs["cpu_moe"], base.with_value("cpu_moe", "0"), GPU_BOX, MOE)
    fits = [predict(base.with_value("cpu_moe", v), GPU_BOX, MOE).fits for v in moe_order]
    assert fits == sorted(fits, reverse=True)  # fitting ones first
    batch = order_values(knobs["batch"], base, GPU_BOX, MOE)
    assert batch[0] == knobs["batch"].default  # the bound cannot tell batch sizes apart
