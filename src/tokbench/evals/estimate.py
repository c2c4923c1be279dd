"""The full-set accuracy estimated from a prefix of the prefix-fair order, with its interval.

A prefix is a proportional stratified sample (tokbench.evals.order): its plain mean is the
stratified estimate (each stratum weighted by its share of the full set), and its variance is
at most a simple random sample's. So a Wilson score interval on (correct, graded) is valid and,
where subjects differ in difficulty, conservative. The finite-population correction
(N - n) / (N - 1) shrinks it as the prefix nears the full set, to a point at n = N.
IRT (tinyBenchmarks, arXiv 2402.14992) would need item parameters fitted on many models'
answers to these items; tokbench has none to fit them on honestly, so it does not use it.
Coverage on simulated models: tokbench.evals.coverage and bench/eval_coverage.py."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Estimate:
    correct: int
    graded: int  # answers graded (right or wrong); failed requests are not in it
    population: int  # items in the full set the estimate stands for
    accuracy: float | None  # 0-1; None before any answer
    low: float | None
    high: float | None

    @property
    def half_width_pts(self) -> float | None:
        """Half the interval's width in percentage points."""
        if self.low is None or self.high is None:
            return None
        return 50 * (self.high - self.low)


def estimate(correct: int, graded: int, population: int, z: float = Z95) -> Estimate:
    if graded <= 0:
        return Estimate(0, 0, population, None, None, None)
    n = graded
    p = correct / n
    fpc = (population - n) / (population - 1) if population > n else 0.0
    z2 = z * z * fpc
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = math.sqrt(z2 * p * (1 - p) / n + z2 * z2 / (4 * n * n)) / denom
    return Estimate(correct, n, population, p, max(0.0, center - half), min(1.0, center + half))
