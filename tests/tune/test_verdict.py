"""The log-ratio test that decides each duel (core.stats.ratio_ci plus the search's rule)."""

from __future__ import annotations

import math
import random

import pytest

from tokbench.core.stats import ratio_ci, t_quantile
from tokbench.tune.verdict import compare


@pytest.mark.parametrize(
    ("df", "level", "expected"),
    [(1, 0.95, 12.706), (4, 0.95, 2.776), (30, 0.99, 2.750), (31, 0.95, 2.0395),
     (60, 0.95, 2.0003), (120, 0.99, 2.6174), (math.inf, 0.95, 1.96)],
)  # fmt: skip
def test_t_quantiles_match_published_values(df: float, level: float, expected: float) -> None:
    assert t_quantile(0.5 + level / 2, df) == pytest.approx(expected, abs=2e-3)


def test_ratio_interval_matches_welch_on_the_logs() -> None:
    a, b = [11.0, 11.5, 10.8, 11.2], [10.0, 10.3, 9.9]
    r = ratio_ci(a, b)
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    assert r.ratio == pytest.approx(math.exp(sum(la) / 4 - sum(lb) / 3))
    assert r.low < r.ratio < r.high and r.separates
    assert not ratio_ci(a, a).separates
    one = ratio_ci([10.0], b)
    assert one.low == 0.0 and one.high == math.inf


def test_compare_decides_clear_cases_and_waits_on_unclear_ones() -> None:
    rng = random.Random(7)
    base = [10 * math.exp(rng.gauss(0, 0.01)) for _ in range(5)]
    faster = [11 * math.exp(rng.gauss(0, 0.01)) for _ in range(5)]
    assert compare(faster, base).verdict == "better"
    assert compare(base, faster).verdict == "worse"
    t = compare(faster, base)
    assert t.low < t.ratio < t.high and t.ratio == pytest.approx(1.1, rel=0.02)
    same = [10 * math.exp(rng.gauss(0, 0.002)) for _ in range(6)]
    same2 = [10 * math.exp(rng.gauss(0, 0.002)) for _ in range(6)]
    assert compare(same, same2).verdict == "same"
    noisy = [10 * math.exp(rng.gauss(0, 0.05)) for _ in range(3)]
    assert compare(noisy, base).verdict == "undecided"
    assert compare([10.0], base).verdict == "undecided"
    with pytest.raises(ValueError):
        compare([0.0, 1.0], base)


def test_a_null_effect_rarely_wins_a_duel() -> None:
    rng = random.Random(11)
    wins = 0
    for _ in range(400):
        a = [math.exp(rng.gauss(0, 0.02)) for _ in range(4)]
        b = [math.exp(rng.gauss(0, 0.02)) for _ in range(4)]
        wins += compare(a, b).verdict == "better"
    assert wins / 400 < 0.015  # one-sided 0.5 % per look, nominally
