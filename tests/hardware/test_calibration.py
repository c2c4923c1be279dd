"""Efficiency ranges come from the published points (or the user's own benches), every
published point lies inside the range predicted for its own box, a range calibrated on a
point of its class is at most a factor 1.5 wide, and one without says "uncalibrated"."""

from __future__ import annotations

import pytest

from tokbench.hardware.calibration import (
    ANCHORS,
    CPU_CLASSES,
    KINDS,
    SPREAD,
    Anchor,
    MeasuredEfficiency,
    cpu_class_of,
    decode_efficiency,
    efficiency,
    efficiency_range,
    quant_family,
)
from tokbench.hardware.plan import plan
from tokbench.hardware.presets import PRESETS, shape_load
from tokbench.hardware.speed import BoxFacts, ModelLoad, predict
from tokbench.render.hardware import plan_markdown

WIDTH_GOAL = 1.5


def _box_and_model(a: Anchor) -> tuple[BoxFacts, ModelLoad]:
    """The published point's box (its peak bandwidth, class, sockets, RAM enough) and a
    model reading its bytes per token (for hybrid rows: all of them routed experts)."""
    hybrid = a.kind == "moe-hybrid"
    box = BoxFacts("anchor", a.peak_gbs, 4e12, 7.0, a.cpu_class, gpu=hybrid, sockets=a.sockets)
    b = a.gb_per_token * 1e9
    model = ModelLoad(
        a.setup, None, a.kind != "dense", 10 * b, b, b if hybrid else 0.0, 0.0, 0.0,
        family=a.family,
    )  # fmt: skip
    return box, model


@pytest.mark.parametrize("anchor", ANCHORS, ids=lambda a: a.source)
def test_every_published_point_is_inside_its_predicted_range(anchor: Anchor) -> None:
    box, model = _box_and_model(anchor)
    p = predict(model, box, context=0)
    assert p.fits and p.calibration == "calibrated"
    assert p.low_tps <= anchor.low_tps and anchor.high_tps <= p.high_tps
    assert p.high_tps < p.bound_tps  # never above the physics
    assert any(anchor.source in label for label in p.anchors)  # and it is cited


def test_a_calibrated_range_is_at_most_a_factor_one_and_a_half() -> None:
    classes = {(a.cpu_class, a.sockets, a.kind, a.family) for a in ANCHORS}
    for cpu, sockets, kind, family in classes:
        r = efficiency_range(cpu, kind, family, sockets=sockets)
        assert r.status == "calibrated" and r.width <= WIDTH_GOAL, (cpu, kind, family, r)
    # and so is every calibrated row of the plan, in tok/s (all fit in RAM or page alike)
    rows = [r for r in plan().rows if r.calibration == "calibrated"]
    assert len(rows) >= 10
    for r in rows:
        assert r.high_tps / r.low_tps <= WIDTH_GOAL + 1e-9, r


def test_the_planner_rows_the_issue_named_are_narrowed_where_calibrated() -> None:
    q4 = predict(shape_load("deepseek-r1", "Q4_K_M"), PRESETS["ddr5-12ch"])
    assert q4.calibration == "calibrated" and q4.high_tps / q4.low_tps < 1.25
    assert q4.low_tps <= 7.0 and q4.high_tps >= 8.0  # 7-8 measured on such boxes
    assert any("#10981" in a for a in q4.anchors)
    seed = predict(shape_load("deepseek-r1", "UD-IQ2_XXS"), PRESETS["seed-4ch"])
    assert seed.calibration == "calibrated" and seed.low_tps <= 1.5 <= 1.83 <= seed.high_tps
    # no published point of an 8-channel DDR4 EPYC: as wide as all MoE points, and says so
    wide = predict(shape_load("deepseek-r1", "Q4_K_M"), PRESETS["epyc-8ch"])
    assert wide.calibration == "uncalibrated" and "uncalibrated" in wide.calibration_reason
    assert wide.high_tps / wide.low_tps > WIDTH_GOAL
    assert len(wide.anchors) == sum(a.kind == "moe" for a in ANCHORS)


def test_another_quant_family_of_the_class_bounds_one_side() -> None:
    (seed,) = [a for a in ANCHORS if a.cpu_class == "xeon-e5-avx2"]
    k = efficiency_range("xeon-e5-avx2", "moe", "k")
    assert k.status == "partly calibrated"
    assert k.low == pytest.approx(seed.efficiency_low / SPREAD)  # IQ costs more: a floor
    moe = [a for a in ANCHORS if a.kind == "moe"]
    assert k.high == pytest.approx(max(a.efficiency_high for a in moe) * SPREAD)
    iq = efficiency_range("epyc-ddr5-avx512", "moe", "iq")
    (kq,) = [
        a
        for a in ANCHORS
        if a.cpu_class == "epyc-ddr5-avx512" and a.family == "k" and a.kind == "moe"
    ]
    assert iq.high == pytest.approx(kq.efficiency_high * SPREAD)  # K costs less: a ceiling
    assert iq.low < kq.efficiency_low


def test_the_plan_names_the_points_each_range_rests_on() -> None:
    md = plan_markdown(plan(boxes=["ddr5-12ch", "epyc-8ch"], quants=["Q4_K_M"]))
    # the table's cells are Markdown-escaped: a bracket is written \[
    assert r"0.33-0.40 calibrated \[1\]" in md and r"uncalibrated \[2\]" in md
    assert "llama.cpp #10981" in md and "hardware_anchors.md §6" in md
    assert "no published point for epyc-ddr4-avx2" in md


def test_your_own_bench_replaces_the_prior() -> None:
    own = MeasuredEfficiency("dense", 0.70, 0.74, 3, "gemma: run-1 tg128", 2.5e8)
    r = efficiency_range("client", "dense", "k", measured=[own], bytes_per_token=3e8)
    assert r.status == "measured" and r.anchors == ()
    assert (r.low, r.high) == pytest.approx((0.70 / SPREAD, 0.74 * SPREAD))
    assert r.width <= WIDTH_GOAL and "run-1 tg128" in r.source
    # another kind, or a model far bigger than the one benched: the published prior
    assert efficiency_range("client", "moe", "k", measured=[own]).status != "measured"
    big = efficiency_range("client", "dense", "k", measured=[own], bytes_per_token=40e9)
    assert big.status != "measured"


def test_the_seed_calibration_uses_only_its_four_channel_figures() -> None:
    (seed,) = [a for a in ANCHORS if a.cpu_class == "xeon-e5-avx2"]
    assert (seed.peak_gbs, seed.low_tps, seed.high_tps) == (76.8, 1.5, 1.83)
    assert seed.efficiency_low == pytest.approx(0.31, abs=0.005)
    assert seed.efficiency_high == pytest.approx(0.38, abs=0.005)
    # the 0.8 tok/s one-channel figure was a smaller, unnamed model: no anchor at all
    assert not [a for a in ANCHORS if a.peak_gbs == 19.2 or 0.8 in (a.low_tps, a.high_tps)]
    assert all(a.cpu_class in CPU_CLASSES and a.kind in KINDS for a in ANCHORS)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("UD-IQ2_XXS", "iq"), ("IQ1_S", "iq"), ("Q4_K_M", "k"), ("Q2_K_L", "k"), ("Q6_K", "k"),
        ("Q8_0", "plain"), ("Q4_0", "plain"), ("F16", "plain"), ("BF16", "plain"),
        ("TQ1_0", None), (None, None),
    ],
)  # fmt: skip
def test_quant_family(name: str | None, family: str | None) -> None:
    assert quant_family(name) == family


def test_efficiency_of_runs_and_bench_rows() -> None:
    eta, hint = efficiency(1.83, 76.8 / 15.9)
    assert eta == pytest.approx(0.379, abs=0.001) and hint and "threads" in hint
    assert efficiency(3.0, 5.0)[1] is None
    assert decode_efficiency("tg128", 2.0, 4.0) == 0.5
    assert decode_efficiency("tg128 @ d4096", 1.0, 4.0) == 0.25
    assert decode_efficiency("pp512", 200.0, 4.0) is None  # compute-bound
    assert decode_efficiency("tg128", None, 4.0) is None
    assert decode_efficiency("tg128", 2.0, None) is None


@pytest.mark.parametrize(
    ("model", "isa", "cls"),
    [
        ("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", {}, "xeon-e5-avx2"),
        ("Intel(R) Xeon(R) CPU E5-2699 v3 @ 2.30GHz", {}, "xeon-e5-avx2"),
        ("Intel(R) Xeon(R) Gold 6454S", {"avx512f": True}, "xeon-sp-avx512"),
        ("Intel(R) Xeon(R) W-2145 CPU @ 3.70GHz", {}, "xeon-sp-avx512"),
        ("AMD EPYC 9654 96-Core Processor", {}, "epyc-ddr5-avx512"),
        ("AMD EPYC 7502P 32-Core Processor", {}, "epyc-ddr4-avx2"),
        ("AMD EPYC", {"avx512f": True}, "epyc-ddr5-avx512"),  # a VM's name: the ISA decides
        ("AMD EPYC", {"avx512f": False}, "epyc-ddr4-avx2"),
        ("Ampere(R) AmpereOne(R) A192-32X", {}, "arm-server"),
        ("13th Gen Intel(R) Core(TM) i7-13700K", {"avx2": True}, "client"),
    ],
)
def test_host_cpu_class(model: str, isa: dict[str, bool], cls: str) -> None:
    assert cpu_class_of(model, isa) == cls
