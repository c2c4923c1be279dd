"""Small, dependency-free statistics used across reports."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Summary:
    """Mean, sample standard deviation and count of the values that exist."""

    mean: float | None
    sd: float | None
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "sd": self.sd, "n": self.n}


def summarize(values: Iterable[float | None]) -> Summary:
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return Summary(None, None, 0)
    sd = statistics.stdev(xs) if len(xs) > 1 else None
    return Summary(statistics.fmean(xs), sd, len(xs))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    ln = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln)
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t cumulative distribution function."""
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2, 0.5, x)
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=1024)
def t_quantile(p: float, df: float) -> float:
    """Inverse of `t_cdf` by bisection (cached: repeated tests ask for the same few);
    infinite df is the normal quantile."""
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    if math.isinf(df):
        return _normal_quantile(p)
    lo, hi = -1e4, 1e4
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True, slots=True)
class Estimate:
    """Mean with sample sd and a two-sided confidence interval (Student's t)."""

    mean: float
    sd: float | None
    n: int
    ci_low: float | None
    ci_high: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.ci_high is None else (self.ci_high - self.ci_low) / 2  # type: ignore[operator]

    @property
    def rel_half_width_pct(self) -> float | None:
        hw = self.half_width
        return None if hw is None or self.mean == 0 else abs(hw / self.mean) * 100

    @property
    def unstable(self) -> bool:
        """The interval is wider than the mean itself: too noisy to read as a figure."""
        hw = self.half_width
        return hw is not None and 2 * hw > abs(self.mean)


def mean_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    if not values:
        raise ValueError("no values")
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return Estimate(mean, None, n, None, None)
    sd = statistics.stdev(values)
    hw = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return Estimate(mean, sd, n, mean - hw, mean + hw)


def rate_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """`mean_ci` for a quantity that cannot be negative (tok/s, ms): the interval is taken on
    the log scale (Student's t on log values, then exponentiated), so it stays above zero
    and is wider above the mean than below, as speeds scatter. Falls back to `mean_ci`
    when a value is not positive."""
    est = mean_ci(values, level)
    if est.sd is None or min(values) <= 0:
        return est
    logs = [math.log(v) for v in values]
    centre, spread = statistics.fmean(logs), statistics.stdev(logs)
    hw = t_quantile(0.5 + level / 2, len(values) - 1) * spread / math.sqrt(len(values))
    return Estimate(est.mean, est.sd, est.n, math.exp(centre - hw), math.exp(centre + hw))


@dataclass(frozen=True, slots=True)
class Ratio:
    """The ratio a/b of two speeds' geometric means, with its two-sided interval."""

    ratio: float
    low: float
    high: float

    @property
    def separates(self) -> bool:
        """The interval excludes 1: a and b differ at this level."""
        return self.low > 1 or self.high < 1


def ratio_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Ratio:
    """Welch's interval on the difference of log means, exponentiated: the interval of the
    speed ratio a/b (a 5 % gain means the same at 2 and at 200 tok/s). Welch's df round
    down (a slightly wider interval). With fewer than two values a side, the interval is
    (0, inf)."""
    if min(a, default=0) <= 0 or min(b, default=0) <= 0:
        raise ValueError("speeds must be positive")
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    diff = statistics.fmean(la) - statistics.fmean(lb)
    if len(la) < 2 or len(lb) < 2:
        return Ratio(math.exp(diff), 0.0, math.inf)
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    if va + vb == 0:
        return Ratio(math.exp(diff), math.exp(diff), math.exp(diff))
    df = (va + vb) ** 2 / (va**2 / (len(la) - 1) + vb**2 / (len(lb) - 1))
    half = t_quantile(0.5 + level / 2, max(1, math.floor(df))) * math.sqrt(va + vb)
    return Ratio(math.exp(diff), math.exp(diff - half), math.exp(diff + half))


@dataclass(frozen=True, slots=True)
class Slope:
    """Least-squares slope of y on x, with its confidence interval (n - 2 df)."""

    slope: float
    intercept: float
    n: int
    ci_low: float | None
    ci_high: float | None

    @property
    def significant(self) -> bool:
        return self.ci_low is not None and (self.ci_low > 0 or self.ci_high < 0)  # type: ignore[operator]


def linear_fit(xs: Sequence[float], ys: Sequence[float], level: float = 0.95) -> Slope:
    n = len(xs)
    if n != len(ys) or n < 2:
        raise ValueError("need at least two (x, y) pairs")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all x values are equal")
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    b = sxy / sxx
    a = my - b * mx
    if n < 3:
        return Slope(b, a, n, None, None)
    rss = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    se = math.sqrt(rss / (n - 2) / sxx)
    hw = t_quantile(0.5 + level / 2, n - 2) * se
    return Slope(b, a, n, b - hw, b + hw)


def wilson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good at small n and near 0 or 1)."""
    if n <= 0:
        raise ValueError("n must be positive")
    z = -_normal_quantile((1 - level) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _normal_quantile(p: float) -> float:
    """Inverse standard normal CDF (bisection on erf; precise to ~1e-12)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs b (right->wrong) and
    c (wrong->right): a binomial test of b against Binomial(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail: float = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2.0 * tail)


# No machine measures a trillion tokens a second, or waits 30 years for one: beyond this a
# figure is a broken file, and charts and tables could not scale to it anyway.
MAX_MEASURE = 1e12


def measured(value: object) -> float | None:
    """A rate, duration or latency as shown and stored: None unless a finite number from 0
    to MAX_MEASURE (an imported file's "inf", NaN or text is a missing value, not a figure)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) and 0 <= v <= MAX_MEASURE else None
