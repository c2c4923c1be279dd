"""The pure metrics against direct computations on random distributions."""

from __future__ import annotations

import math

import numpy as np

from tokbench.quant import kld as m
from tokbench.quant.score import candidate_rows, full_kld_rows, topk_rows


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
    ref = topk_rows(x, nxt, 16)
    np.testing.assert_allclose(ref.actual_lp, lp[np.arange(7), nxt], rtol=1e-9, atol=1e-9)
    want_ids = np.argsort(-lp, axis=1, kind="stable")[:, :16]
    np.testing.assert_array_equal(ref.top_ids, want_ids)
    np.testing.assert_allclose(ref.top_lp, np.take_along_axis(lp, want_ids, 1), atol=1e-5)
    rest = 1.0 - np.exp(np.take_along_axis(lp, want_ids, 1)).sum(axis=1)
    np.testing.assert_allclose(np.exp(ref.rest_lp.astype(np.float64)), rest, rtol=1e-5)
    cand = candidate_rows(x, nxt, ref.top_ids)
    np.testing.assert_array_equal(cand.argmax, want_ids[:, 0])
    np.testing.assert_array_equal(cand.lp_at_ref, ref.top_lp)


def test_topk_kld_is_a_lower_bound_that_tightens_with_k() -> None:
    rng = np.random.default_rng(2)
    p_x = _logits(rng, 20, 3000, 4.0)
    q_x = p_x + _logits(rng, 20, 3000, 0.5)
    nxt = np.zeros(20, dtype=np.int32)
    lp, lq = _log_softmax(p_x), _log_softmax(q_x)
    full_direct = (np.exp(lp) * (lp - lq)).sum(axis=1)
    np.testing.assert_allclose(full_kld_rows(p_x, q_x), full_direct, rtol=1e-6)
    prev = np.zeros(20)
    for k in (1, 8, 64, 2999):
        ref = topk_rows(p_x, nxt, k)
        cand = candidate_rows(q_x, nxt, ref.top_ids)
        tk = m.topk_kld(ref.top_lp, ref.rest_lp, cand.lp_at_ref, cand.rest_lp)
        assert np.all(tk <= full_direct + 1e-5)
        assert np.all(tk >= prev - 1e-5)
        prev = tk
    np.testing.assert_allclose(prev, full_direct, rtol=1e-3, atol=1e-6)


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
