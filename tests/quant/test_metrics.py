"""The pure metrics against direct computations on random distributions."""

from __future__ import annotations

import math

import numpy as np

from tokbench.quant import kld as m
from tokbench.quant.score import candidate_rows, covering_rows, full_kld_rows


def _logits(rng: np.random.Generator, n: int, v: int, scale: float) -> np.ndarray:
    return (rng.standard_normal((n, v)) * scale).astype(np.float32)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    mx = x.max(axis=1, keepdims=True)
    out: np.ndarray = x - mx - np.log(np.exp(x - mx).sum(axis=1, keepdims=True))
    return out


def test_records_match_a_direct_log_softmax() -> None:
    rng = np.random.default_rng(1)
    x = _logits(rng, 7, 5000, 3.0)
    nxt = rng.integers(0, 5000, 7).astype(np.int32)
    lp = _log_softmax(x)
    ref = covering_rows(x, nxt, 1.0, 16)  # mass 1: always the cap, 16 tokens
    np.testing.assert_allclose(ref.actual_lp, lp[np.arange(7), nxt], rtol=1e-9, atol=1e-9)
    want_ids = np.argsort(-lp, axis=1, kind="stable")[:, :16]
    assert list(ref.counts) == [16] * 7
    np.testing.assert_array_equal(ref.ids, want_ids.ravel())
    np.testing.assert_allclose(ref.lps, np.take_along_axis(lp, want_ids, 1).ravel(), atol=1e-5)
    rest = 1.0 - np.exp(np.take_along_axis(lp, want_ids, 1)).sum(axis=1)
    np.testing.assert_allclose(np.exp(ref.rest_lp.astype(np.float64)), rest, rtol=1e-5)
    tail = np.ones_like(lp, dtype=bool)
    np.put_along_axis(tail, want_ids, False, 1)
    np.testing.assert_allclose(ref.tail_plogp, (np.exp(lp) * lp * tail).sum(axis=1), rtol=1e-5)
    cand = candidate_rows(x, nxt, ref)
    np.testing.assert_array_equal(cand.argmax, want_ids[:, 0])
    assert cand.lp_at_top is not None and cand.kld_lower is not None
    np.testing.assert_allclose(cand.lp_at_top, ref.top_lp, atol=1e-5)
    np.testing.assert_allclose(cand.kld_lower, 0.0, atol=1e-6)  # P against itself


def test_covering_rows_keep_tokens_up_to_the_mass() -> None:
    rng = np.random.default_rng(4)
    x = _logits(rng, 9, 4000, 2.0)
    lp = _log_softmax(x)
    ref = covering_rows(x, np.zeros(9, dtype=np.int32), 0.9, 4000)
    p_sorted = -np.sort(-np.exp(lp), axis=1)
    need = (np.cumsum(p_sorted, axis=1) < 0.9).sum(axis=1) + 1  # the fewest covering 0.9
    np.testing.assert_array_equal(ref.counts, need)
    assert np.all(np.exp(ref.rest_lp.astype(np.float64)) <= 0.1 + 1e-6)
    capped = covering_rows(x, np.zeros(9, dtype=np.int32), 0.9, 5)
    assert list(capped.counts) == [5] * 9


def test_compact_kld_brackets_the_full_kld_and_tightens_with_mass() -> None:
    rng = np.random.default_rng(2)
    p_x = _logits(rng, 20, 3000, 1.5)  # flat: a fixed top-k misses much of the KLD
    q_x = p_x + _logits(rng, 20, 3000, 0.7)
    nxt = np.zeros(20, dtype=np.int32)
    lp, lq = _log_softmax(p_x), _log_softmax(q_x)
    full_direct = (np.exp(lp) * (lp - lq)).sum(axis=1)
    np.testing.assert_allclose(full_kld_rows(p_x, q_x), full_direct, rtol=1e-6)
    prev = np.zeros(20)
    for mass in (0.2, 0.6, 0.9, 0.99, 1.0):
        ref = covering_rows(p_x, nxt, mass, 3000)
        cand = candidate_rows(q_x, nxt, ref)
        assert cand.kld_lower is not None and cand.kld_upper is not None
        assert np.all(cand.kld_lower <= full_direct + 1e-5)
        assert np.all(cand.kld_upper >= full_direct - 1e-5)
        assert np.all(cand.kld_lower >= prev - 1e-5)
        prev = cand.kld_lower
    np.testing.assert_allclose(prev, full_direct, rtol=1e-3, atol=1e-6)
    # the bound is tight where little mass is left, and the upper one too
    ref = covering_rows(p_x, nxt, 0.999, 3000)
    cand = candidate_rows(q_x, nxt, ref)
    assert cand.kld_upper is not None and cand.kld_lower is not None
    assert abs(cand.kld_lower.mean() / full_direct.mean() - 1) < 0.01
    assert abs(cand.kld_upper.mean() / full_direct.mean() - 1) < 0.05


def test_tail_upper_is_the_worst_placement_of_the_tail() -> None:
    """Brute force on a tiny vocabulary: the tail put at p_min on the least likely tokens of
    Q is the worst case, and the bound from exact bins (one token each) equals it."""
    lq = np.log(np.array([0.01, 0.04, 0.15, 0.3, 0.5]))  # ascending
    p_tail, p_min = 0.25, 0.1  # two tokens at p_min, 0.05 on the next
    placed = np.array([0.1, 0.1, 0.05, 0.0, 0.0])
    plogp = float((placed[:3] * np.log(placed[:3])).sum())
    want = plogp - float((placed * lq).sum())
    up = m.tail_upper(np.array([plogp]), np.log(np.array([p_tail])),
                      np.log(np.array([p_min])), lq[None, :], np.ones((1, 5), dtype=np.int64))
    np.testing.assert_allclose(up, [want], rtol=1e-12)
    # coarser bins (lower edges below the values) only raise the bound
    coarse = m.tail_upper(np.array([plogp]), np.log(np.array([p_tail])),
                          np.log(np.array([p_min])), np.array([[lq[0], lq[2]]]),
                          np.array([[2, 3]]))
    assert coarse[0] > want


def test_statistics_follow_llama_perplexity() -> None:
    rng = np.random.default_rng(3)
    nll = rng.gamma(2.0, 1.0, 1000)
    ppl = m.perplexity(nll)
    sd = math.sqrt(np.mean(nll**2) - np.mean(nll) ** 2)
    assert math.isclose(ppl.mean, math.exp(nll.mean()), rel_tol=1e-12)
    assert math.isclose(ppl.se, ppl.mean * sd / math.sqrt(999), rel_tol=1e-9)
    vals = np.arange(101, dtype=np.float64)
    s = m.kld_stats(vals)
    assert (s.median, s.p90, s.p99, s.max, s.n) == (50.0, 90.0, 99.0, 100.0, 101)
    same = m.same_top(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4]))
    assert same.mean == 0.75 and math.isclose(same.se, math.sqrt(0.75 * 0.25 / 3))
    # paired ratio: identical inputs give exactly zero with zero uncertainty
    r = m.ln_ppl_ratio(nll, nll)
    assert r.mean == 0.0 and r.se == 0.0
