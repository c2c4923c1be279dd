"""Pure quant-quality metrics over per-position records, with llama-perplexity's definitions
(tools/perplexity/perplexity.cpp, KL-divergence mode).

Per scored position t, with P the reference's and Q the candidate's next-token distribution
and x_t the actual next token:
- perplexity: exp(mean(-ln Q(x_t))); its standard error is ppl * sd(-ln Q)/sqrt(n-1).
- KLD_t = sum_v P(v) (ln P(v) - ln Q(v)); reported as mean (with SE), median, p90, p99, max.
- top-k KLD_t: the same sum over the k+1 buckets {reference's top-k ids, rest}; the
  candidate's rest is 1 - sum of its probabilities on the reference's top-k ids. By the
  data-processing inequality it never exceeds the full KLD_t.
- same top: share of positions where argmax Q == argmax P, SE sqrt(p(1-p)/(n-1)).
- delta-p (llama-perplexity's "Δp"): Q(x_t) - P(x_t), the change of the actual token's
  probability; delta-p top: Q(y_t) - P(y_t) for the reference's top token y_t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MeanSe:
    mean: float
    se: float  # standard error of the mean, 0 for fewer than 11 values (as llama-perplexity)


@dataclass(frozen=True, slots=True)
class KldStats:
    mean: float
    se: float
    median: float
    p90: float
    p99: float
    max: float
    n: int


@dataclass(frozen=True, slots=True)
class TopkKldError:
    """How far top-k KLD falls below full KLD over the same positions."""

    full_mean: float
    topk_mean: float
    mean_rel: float  # (full_mean - topk_mean) / full_mean; 0 when full_mean is 0
    max_abs: float  # largest per-position full - top-k gap


def mean_se(values: F64) -> MeanSe:
    n = int(values.size)
    if n == 0:
        return MeanSe(0.0, 0.0)
    mean = float(values.mean())
    var = float(np.mean(values * values)) - mean * mean
    se = math.sqrt(var / (n - 1)) if var > 0 and n > 10 else 0.0
    return MeanSe(mean, se)


def perplexity(nll: F64) -> MeanSe:
    """exp(mean NLL) with the standard error propagated through exp."""
    m = mean_se(nll)
    ppl = math.exp(m.mean)
    return MeanSe(ppl, ppl * m.se)


def ln_ppl_ratio(nll_q: F64, nll_base: F64) -> MeanSe:
    """ln(PPL(Q)/PPL(base)) with the paired standard error (covariance subtracted)."""
    q, b = mean_se(nll_q), mean_se(nll_base)
    n = int(nll_q.size)
    cov = 0.0
    if n >= 10:
        cov = (float(np.mean(nll_q * nll_base)) - q.mean * b.mean) / (n - 1)
    var = q.se * q.se + b.se * b.se - 2.0 * cov
    return MeanSe(q.mean - b.mean, math.sqrt(var) if var > 0 else 0.0)


def kld_stats(values: F64) -> KldStats:
    if values.size == 0:
        return KldStats(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    m = mean_se(values)
    # linear interpolation at fraction*(n-1), the rule llama-perplexity uses
    med, p90, p99 = np.percentile(values, [50.0, 90.0, 99.0])
    return KldStats(m.mean, m.se, float(med), float(p90), float(p99), float(values.max()),
                    int(values.size))


def topk_kld(
    ref_top_lp: NDArray[np.floating], ref_rest_lp: NDArray[np.floating],
    cand_lp_at_ref: NDArray[np.floating], cand_rest_lp: NDArray[np.floating],
) -> F64:
    """Per-position KLD over the reference's top-k ids plus one rest bucket (n x k inputs)."""
    rt = ref_top_lp.astype(np.float64)
    rr = ref_rest_lp.astype(np.float64)
    terms = np.exp(rt) * (rt - cand_lp_at_ref.astype(np.float64))
    pr = np.exp(rr)
    # a rest bucket the reference gives no mass contributes nothing, whatever Q says
    rest = np.where(pr > 0.0, pr * (rr - cand_rest_lp.astype(np.float64)), 0.0)
    out: F64 = terms.sum(axis=1) + rest
    return out


def same_top(ref_top: NDArray[np.integer], cand_top: NDArray[np.integer]) -> MeanSe:
    n = int(ref_top.size)
    if n == 0:
        return MeanSe(0.0, 0.0)
    p = float(np.mean(ref_top == cand_top))
    return MeanSe(p, math.sqrt(p * (1.0 - p) / (n - 1)) if n > 1 else 0.0)


def delta_p(lp_cand: F64, lp_ref: F64) -> MeanSe:
    """Mean of Q - P for one token per position, from log-probabilities."""
    return mean_se(np.exp(lp_cand) - np.exp(lp_ref))


def topk_error(topk_values: F64, full_values: F64) -> TopkKldError:
    full_mean = float(full_values.mean()) if full_values.size else 0.0
    topk_mean = float(topk_values.mean()) if topk_values.size else 0.0
    rel = (full_mean - topk_mean) / full_mean if full_mean > 0 else 0.0
    gap = float(np.max(full_values - topk_values)) if full_values.size else 0.0
    return TopkKldError(full_mean, topk_mean, rel, gap)
