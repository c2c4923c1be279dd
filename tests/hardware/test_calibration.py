"""Efficiency ranges come from the published anchors, and nothing else."""

from __future__ import annotations

import pytest

from tokbench.hardware.calibration import (
    ANCHORS,
    EFFICIENCY,
    MARGIN,
    decode_efficiency,
    efficiency,
    profile_for,
)


def test_every_anchor_is_inside_its_profile_and_ranges_hug_them() -> None:
    for profile, (lo, hi, source) in EFFICIENCY.items():
        rows = [a for a in ANCHORS if a.profile == profile]
        assert rows, profile
        lows = [a.low_tps * a.gb_per_token / a.peak_gbs for a in rows]
        highs = [a.high_tps * a.gb_per_token / a.peak_gbs for a in rows]
        assert lo <= min(lows) and max(highs) <= hi
        assert min(lows) - lo <= MARGIN + 0.01 and hi - max(highs) <= MARGIN + 0.01
        assert all(a.source in source for a in rows)


def test_the_seed_calibration_uses_only_its_four_channel_figures() -> None:
    (seed,) = [a for a in ANCHORS if a.profile == "moe-old-avx2-iq"]
    assert (seed.peak_gbs, seed.low_tps, seed.high_tps) == (76.8, 1.5, 1.83)
    assert seed.efficiency_low == pytest.approx(0.31, abs=0.005)
    assert seed.efficiency_high == pytest.approx(0.38, abs=0.005)
    # the 0.8 tok/s one-channel figure was a smaller, unnamed model: no anchor at all
    assert not [a for a in ANCHORS if a.peak_gbs == 19.2 or 0.8 in (a.low_tps, a.high_tps)]


def test_profiles() -> None:
    assert profile_for("old-avx2", moe=True, gpu=False) == "moe-old-avx2-iq"
    assert profile_for("modern", moe=True, gpu=False) == "moe"
    assert profile_for("modern", moe=True, gpu=True) == "moe-hybrid"
    assert profile_for("old-avx2", moe=False, gpu=True) == "dense"


def test_efficiency_of_runs_and_bench_rows() -> None:
    eta, hint = efficiency(1.83, 76.8 / 15.9)
    assert eta == pytest.approx(0.379, abs=0.001) and hint and "threads" in hint
    assert efficiency(3.0, 5.0)[1] is None
    assert decode_efficiency("tg128", 2.0, 4.0) == 0.5
    assert decode_efficiency("tg128 @ d4096", 1.0, 4.0) == 0.25
    assert decode_efficiency("pp512", 200.0, 4.0) is None  # compute-bound
    assert decode_efficiency("tg128", None, 4.0) is None
    assert decode_efficiency("tg128", 2.0, None) is None


def test_host_cpu_class() -> None:
    from tokbench.hardware.estimate import cpu_class_of

    assert cpu_class_of("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz") == "old-avx2"
    assert cpu_class_of("Intel(R) Xeon(R) CPU E5-2699 v3 @ 2.30GHz") == "old-avx2"
    assert cpu_class_of("Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz") == "modern"
    assert cpu_class_of("AMD EPYC 9654 96-Core Processor") == "modern"
