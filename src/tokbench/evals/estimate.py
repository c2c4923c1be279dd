"""The full-set accuracy estimated from a prefix of the prefix-fair order, with its interval.

A prefix is a proportional stratified sample (tokbench.evals.items): its plain mean is the
stratified estimate (each stratum weighted by its share of the full set), and its variance is
at most a simple random sample's. So a Wilson score interval on (correct, graded) is valid and,
where subjects differ in difficulty, conservative. The finite-population correction
(N - n) / (N - 1) shrinks it as the prefix nears the full set, to a point at n = N.
IRT (tinyBenchmarks, arXiv 2402.14992) would need item parameters fitted on many models'
answers to these items; tokbench has none to fit them on honestly, so it does not use it.

Does the interval cover the full-set accuracy? `coverage` below checks it on simulated
models (bench/eval_coverage.py prints the table). Each trial makes a new benchmark and a
new model: subjects differ in difficulty (sd 1 on the logit scale), items within a subject
differ again (sd 1), the model's ability is uniform over a range that spans near-chance to
near-perfect, and multiple choice can be guessed (1 in 4). The model's answers to every
item are drawn once; the full-set accuracy is their mean, and the estimate is read from the
first n items of the prefix-fair order (the real one), as a real run reads them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tokbench.evals.items import EvalItem, prefix_fair_order

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


# ---------------------------------------------------------- coverage on simulated models
# Two shapes: GSM8K's five step-count strata, and an MMLU-like 57 subjects of uneven size.
GSM8K_STRATA = (326, 371, 297, 175, 150)
MMLU_LIKE_STRATA = tuple(int(100 + 1434 * (k / 56) ** 9) for k in range(57))


@dataclass(frozen=True, slots=True)
class CoverageRow:
    shape: str
    n: int
    trials: int
    coverage: float  # share of trials whose interval held the full-set accuracy
    mean_half_width_pts: float
    mean_abs_error_pts: float


def _order(strata: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(stratum of each item, the items' indices in asking order)."""
    items = [
        EvalItem(f"s/{h:02d}/{i}", "sim", f"{h:02d}", "", (), "")
        for h, size in enumerate(strata)
        for i in range(size)
    ]
    index = {it.id: k for k, it in enumerate(items)}
    stratum = np.array([int(it.subject) for it in items])
    return stratum, np.array([index[it.id] for it in prefix_fair_order(items)])


def coverage(
    shape: str,
    strata: tuple[int, ...],
    sizes: tuple[int, ...] = (25, 50, 100),
    trials: int = 300,
    guess: float = 0.25,
    seed: int = 0,
    z: float = Z95,
) -> list[CoverageRow]:
    rng = np.random.default_rng(seed)
    stratum, order = _order(strata)
    population = len(stratum)
    hits = dict.fromkeys(sizes, 0)
    width = dict.fromkeys(sizes, 0.0)
    error = dict.fromkeys(sizes, 0.0)
    for _ in range(trials):
        subject_b = rng.normal(0, 1, len(strata))
        b = subject_b[stratum] + rng.normal(0, 1, population)
        ability = rng.uniform(-2.5, 3.5)
        p = guess + (1 - guess) / (1 + np.exp(-1.7 * (ability - b)))
        right = rng.random(population) < p
        truth = right.mean()
        asked = right[order]
        for n in sizes:
            e = estimate(int(asked[:n].sum()), n, population, z)
            assert e.low is not None and e.high is not None and e.accuracy is not None
            hits[n] += e.low <= truth <= e.high
            width[n] += 50 * (e.high - e.low)
            error[n] += 100 * abs(e.accuracy - truth)
    return [
        CoverageRow(shape, n, trials, hits[n] / trials, width[n] / trials, error[n] / trials)
        for n in sizes
    ]


def until_ci_coverage(
    strata: tuple[int, ...],
    target_pts: float,
    max_items: int = 100,
    min_items: int = 10,
    trials: int = 300,
    guess: float = 0.25,
    seed: int = 0,
) -> CoverageRow:
    """The same trials with `--until-ci`: each stops at the first n (from `min_items`) whose
    half-width is at most `target_pts`, or at `max_items`. Stopping on the data this way
    favours lucky streaks; the row says by how much coverage falls, and `n` is the mean
    number of items asked."""
    rng = np.random.default_rng(seed)
    stratum, order = _order(strata)
    population = len(stratum)
    hits, width, error, asked = 0, 0.0, 0.0, 0
    for _ in range(trials):
        b = rng.normal(0, 1, len(strata))[stratum] + rng.normal(0, 1, population)
        ability = rng.uniform(-2.5, 3.5)
        right = rng.random(population) < guess + (1 - guess) / (1 + np.exp(-1.7 * (ability - b)))
        truth = right.mean()
        running = np.cumsum(right[order][:max_items])
        for n in range(min_items, max_items + 1):
            e = estimate(int(running[n - 1]), n, population)
            assert e.low is not None and e.high is not None and e.accuracy is not None
            low, high, acc = e.low, e.high, e.accuracy
            if 50 * (high - low) <= target_pts:
                break
        hits += low <= truth <= high
        width += 50 * (high - low)
        error += 100 * abs(acc - truth)
        asked += n
    return CoverageRow(
        f"--until-ci {target_pts:g}",
        round(asked / trials),
        trials,
        hits / trials,
        width / trials,
        error / trials,
    )
