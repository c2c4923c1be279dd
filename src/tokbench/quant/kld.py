"""Pure quant-quality metrics over per-position records, with llama-perplexity's definitions
(tools/perplexity/perplexity.cpp, KL-divergence mode).

Per scored position t, with P the reference's and Q the candidate's next-token distribution
and x_t the actual next token:
- perplexity: exp(mean(-ln Q(x_t))); its standard error is ppl * sd(-ln Q)/sqrt(n-1).
- KLD_t = sum_v P(v) (ln P(v) - ln Q(v)); reported as mean (with SE), median, p90, p99, max.
- compact KLD_t (against a reference file, which keeps per position the reference's most
  likely tokens K_t until they cover a probability mass, and the uncovered mass
  P_tail = 1 - P(K_t)): the sum over K_t plus the tail as one bucket,
  P_tail ln(P_tail / Q_tail). By the log-sum inequality it never exceeds KLD_t; it falls
  short by P_tail times the KLD between the tail's conditional distributions.
- its upper bound: the tail's true term is sum_tail P ln P - sum_tail P ln Q. The first
  sum is stored (S_t); every tail token has P <= p_min, the smallest kept probability, so
  -sum_tail P ln Q is at most what p_min on each of the m = P_tail/p_min least likely
  tokens of Q (the remainder on the next) gives. So KLD_t lies between the two; the
  reference file's KLD is printed as approximate with the mean gap as its bound.
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
class CompactKldError:
    """How far the compact KLD (a reference file's) falls below full KLD, same positions."""

    full_mean: float
    compact_mean: float
    mean_rel: float  # (full_mean - compact_mean) / full_mean; 0 when full_mean is 0
    max_abs: float  # largest per-position full - compact gap


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


def compact_kld(
    counts: NDArray[np.integer], ref_lps: NDArray[np.floating],
    ref_rest_lp: NDArray[np.floating], cand_lq: NDArray[np.floating],
    cand_rest_lq: NDArray[np.floating],
) -> tuple[F64, F64]:
    """(lower bound, covered part) of each position's KLD: the covered tokens' terms, and
    those plus the tail as one bucket. Kept tokens are flat, `counts` per position."""
    n = int(counts.size)
    pos = np.repeat(np.arange(n), counts)
    lp = ref_lps.astype(np.float64)
    terms = np.exp(lp) * (lp - cand_lq.astype(np.float64))
    covered = np.bincount(pos, terms, minlength=n).astype(np.float64)
    rr = ref_rest_lp.astype(np.float64)
    pr = np.exp(rr)
    # a tail the reference gives no mass contributes nothing, whatever Q says
    tail = np.where(pr > 0.0, pr * (rr - cand_rest_lq.astype(np.float64)), 0.0)
    return covered + tail, covered


def tail_upper(
    tail_plogp: NDArray[np.floating], ref_rest_lp: NDArray[np.floating],
    min_kept_lp: NDArray[np.floating], low_edges: F64, counts: NDArray[np.integer],
) -> F64:
    """Per position the most the tail's KLD term can be (module docstring). The candidate's
    log-probs come as a histogram per position: `counts[t, b]` tokens at or above
    `low_edges[t, b]` (ascending), so each sum of its least likely log-probs is bounded
    from below by the bins' lower edges, which keeps the bound an upper bound."""
    p_tail = np.exp(ref_rest_lp.astype(np.float64))
    p_min = np.exp(min_kept_lp.astype(np.float64))
    whole = np.floor(p_tail / p_min)
    left = np.maximum(p_tail - whole * p_min, 0.0)
    c = np.cumsum(counts, axis=1, dtype=np.float64)
    sums = np.cumsum(counts * low_edges, axis=1)
    rows = np.arange(c.shape[0])
    last = c.shape[1] - 1

    def least(j: F64) -> tuple[F64, F64]:
        """(a lower bound of the sum of the j least likely log-probs, the j-th's bin edge)"""
        b = np.minimum((c < j[:, None]).sum(axis=1), last)
        c_before = np.where(b > 0, c[rows, b - 1], 0.0)
        s_before = np.where(b > 0, sums[rows, b - 1], 0.0)
        total: F64 = s_before + (j - c_before) * low_edges[rows, b]
        return total, low_edges[rows, b]

    whole_sum, _ = least(whole)
    _, next_edge = least(whole + 1.0)
    neg_q = p_min * -whole_sum + left * -next_edge
    out: F64 = tail_plogp.astype(np.float64) + neg_q
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


def compact_error(compact_values: F64, full_values: F64) -> CompactKldError:
    full_mean = float(full_values.mean()) if full_values.size else 0.0
    compact_mean = float(compact_values.mean()) if compact_values.size else 0.0
    rel = (full_mean - compact_mean) / full_mean if full_mean > 0 else 0.0
    gap = float(np.max(full_values - compact_values)) if full_values.size else 0.0
    return CompactKldError(full_mean, compact_mean, rel, gap)
