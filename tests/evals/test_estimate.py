"""The estimator: Wilson arithmetic, the finite-population limit, and coverage on simulated
models (seeded: the same trials every run, a few hundred, about a second)."""

from __future__ import annotations

import pytest

from tokbench.evals.estimate import (
    GSM8K_STRATA,
    MMLU_LIKE_STRATA,
    coverage,
    estimate,
    until_ci_coverage,
)


def test_wilson_known_values() -> None:
    # Wilson 95 % for 7/10 with no finite-population correction (N huge): 0.3968-0.8922
    e = estimate(7, 10, 10**9)
    assert e.accuracy == 0.7
    assert e.low == pytest.approx(0.3968, abs=1e-4)
    assert e.high == pytest.approx(0.8922, abs=1e-4)


def test_full_set_is_exact_and_empty_is_unknown() -> None:
    e = estimate(40, 60, 60)
    assert (e.low, e.high, e.half_width_pts) == (40 / 60, 40 / 60, 0.0)
    assert estimate(0, 0, 100).accuracy is None


def test_interval_never_leaves_0_1() -> None:
    for c in (0, 25):
        e = estimate(c, 25, 1319)
        assert e.low is not None and e.high is not None
        assert 0.0 <= e.low <= e.high <= 1.0


@pytest.mark.parametrize(
    ("strata", "guess"), [(GSM8K_STRATA, 0.0), (MMLU_LIKE_STRATA, 0.25)], ids=["gsm8k", "mmlu"]
)
def test_coverage_at_least_93_percent(strata: tuple[int, ...], guess: float) -> None:
    rows = coverage("sim", strata, trials=300, guess=guess, seed=7)
    assert [r.n for r in rows] == [25, 50, 100]
    for r in rows:
        assert r.coverage >= 0.93, r
    # wider with fewer items, as 1/sqrt(n)
    widths = [r.mean_half_width_pts for r in rows]
    assert widths[0] > widths[1] > widths[2] > 5


def test_a_too_narrow_interval_fails_the_check() -> None:
    # the same trials with a 1-sigma (68 %) interval fall well short: the check can fail
    rows = coverage("sim", GSM8K_STRATA, sizes=(50,), trials=300, guess=0.0, seed=7, z=1.0)
    assert rows[0].coverage < 0.8


def test_stopping_on_the_interval_keeps_coverage() -> None:
    r = until_ci_coverage(MMLU_LIKE_STRATA, 8.0, trials=200, seed=3)
    assert r.coverage >= 0.93, r
    assert 25 < r.n < 100  # it did stop early
