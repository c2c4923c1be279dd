"""The few statistics the tuner needs: t intervals and a ratio test on the log scale.

Speeds are compared as ratios (a 5 % gain means the same at 2 and at 200 tok/s), so
samples are compared through their logarithms; Welch's interval on the difference of
log means, exponentiated, is the interval of the speed ratio.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from tokbench.core import stats

LEVELS = (0.95, 0.99)


@lru_cache(maxsize=512)
def _t(df: int, level: float) -> float:
    return stats.t_quantile(0.5 + level / 2, df)


def t_quantile(df: float, level: float = 0.95) -> float:
    """Two-sided `level` quantile of Student's t (`core.stats`); fractional df round down
    (wider), so Welch's df and the cache of quantiles stay few."""
    if level not in LEVELS:
        raise ValueError("level must be 0.95 or 0.99")
    if df < 1:
        return math.inf
    if math.isinf(df):
        return statistics.NormalDist().inv_cdf(0.5 + level / 2)
    return _t(math.floor(df), level)


@dataclass(frozen=True, slots=True)
class Interval:
    """Mean of samples with its 95 % t interval (None bounds with fewer than two)."""

    mean: float
    low: float | None
    high: float | None
    n: int


def mean_ci95(values: Sequence[float]) -> Interval:
    est = stats.mean_ci(values)
    return Interval(est.mean, est.ci_low, est.ci_high, est.n)


Verdict = Literal["better", "worse", "same", "undecided"]


@dataclass(frozen=True, slots=True)
class RatioTest:
    """Speed ratio a/b (geometric means) with its 95 % interval and what it decides."""

    ratio: float
    low: float
    high: float
    verdict: Verdict


def compare(a: Sequence[float], b: Sequence[float], same_within: float = 0.02) -> RatioTest:
    """Is a faster than b? Speeds are compared as the ratio of geometric means.

    better/worse need the 99 % interval to exclude 1 and the ratio to pass half of
    `same_within`: the search looks again after every added repetition, and 95 % per look
    would let a knob with no effect win about one duel in ten. `same` needs the 95 %
    interval inside ±same_within. The 95 % interval is the one reported.
    """
    if min(a, default=0) <= 0 or min(b, default=0) <= 0:
        raise ValueError("speeds must be positive")
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    diff = statistics.fmean(la) - statistics.fmean(lb)
    if len(la) < 2 or len(lb) < 2:
        return RatioTest(math.exp(diff), 0.0, math.inf, "undecided")
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    se = math.sqrt(va + vb)
    df = math.inf
    if se > 0:  # Welch-Satterthwaite
        df = (va + vb) ** 2 / (va**2 / (len(la) - 1) + vb**2 / (len(lb) - 1))
    half95, half99 = t_quantile(df, 0.95) * se, t_quantile(df, 0.99) * se
    band = math.log1p(same_within)
    verdict: Verdict = "undecided"
    if diff - half99 > 0 and diff > band / 2:
        verdict = "better"
    elif diff + half99 < 0 and diff < -band / 2:
        verdict = "worse"
    elif -band < diff - half95 and diff + half95 < band:
        verdict = "same"
    return RatioTest(math.exp(diff), math.exp(diff - half95), math.exp(diff + half95), verdict)
