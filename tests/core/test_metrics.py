import pytest

from tokbench.core.metrics import request_metrics
from tokbench.core.stats import percentile, summarize
from tokbench.core.trace import ANSWER, THINKING, Count, EngineTiming, Recorder

MS = 1_000_000


def make_trace(times_ms: list[float], channels: list[str] | None = None, **kw: object):
    rec = Recorder(0)
    channels = channels or [ANSWER] * len(times_ms)
    for t, c in zip(times_ms, channels, strict=True):
        rec.add(int(t * MS), c, "x")  # type: ignore[arg-type]
    end = kw.pop("end_ms", times_ms[-1] if times_ms else 0)
    return rec.finish(int(end * MS), **kw)  # type: ignore[arg-type]


def test_ttft_decode_and_itl_from_times() -> None:
    # first token at 300 ms, then one every 20 ms: 11 tokens
    times = [300 + 20 * i for i in range(11)]
    m = request_metrics(make_trace(times, end_ms=510))
    assert m.ttft_ms == pytest.approx(300)
    assert m.ttfa_ms == pytest.approx(300)
    assert m.completion_tokens == 11 and m.completion_tokens_source == "estimate"
    assert m.decode_tps == pytest.approx(10 / 0.2)  # 10 tokens after the first in 200 ms
    assert m.itl_p50_ms == pytest.approx(20)
    assert m.itl_max_ms == pytest.approx(20)
    assert m.e2e_tps == pytest.approx(11 / 0.51)
    assert m.total_ms == pytest.approx(510)


def test_server_counts_win_over_chunk_estimate() -> None:
    t = make_trace(
        [100, 200, 300],
        prompt_tokens=Count(50, "server"),
        completion_tokens=Count(7, "server"),
    )
    m = request_metrics(t)
    assert (m.completion_tokens, m.completion_tokens_source) == (7, "server")
    assert m.decode_tps == pytest.approx(6 / 0.2)
    assert m.prefill_tps == pytest.approx(50 / 0.1)
    assert m.prompt_tokens_source == "server"


def test_thinking_then_answer() -> None:
    t = make_trace([50, 60, 70, 400, 410], [THINKING, THINKING, THINKING, ANSWER, ANSWER])
    m = request_metrics(t)
    assert m.ttft_ms == pytest.approx(50)
    assert m.ttfa_ms == pytest.approx(400)
    assert (m.thinking_tokens, m.thinking_tokens_source) == (3, "estimate")
    assert t.text("thinking") == "xxx" and t.text("answer") == "xx"


def test_degenerate_requests_give_none_not_infinity() -> None:
    empty = make_trace([], end_ms=30)
    m = request_metrics(empty)
    assert m.ttft_ms is None and m.decode_tps is None and m.completion_tokens is None
    one = request_metrics(make_trace([10]))
    assert one.decode_tps is None and one.itl_p50_ms is None
    zero_prompt = request_metrics(make_trace([10, 20], prompt_tokens=Count(0, "server")))
    assert zero_prompt.prefill_tps is None


def test_engine_rates() -> None:
    t = make_trace(
        [5, 6],
        engine=EngineTiming(prompt_tokens=100, prompt_ms=50, decode_tokens=10, decode_ms=200),
    )
    m = request_metrics(t)
    assert m.engine_prefill_tps == pytest.approx(2000)
    assert m.engine_decode_tps == pytest.approx(50)


def test_summary_uses_sample_sd() -> None:
    s = summarize([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0, None])
    assert s.n == 8 and s.mean == pytest.approx(5.0)
    assert s.sd == pytest.approx(2.138089935)  # sample (n-1) sd
    assert summarize([3.0]).sd is None
    assert summarize([]).mean is None


def test_percentile_interpolates_like_numpy() -> None:
    xs = [1.0, 2.0, 3.0, 4.0]
    assert percentile(xs, 50) == pytest.approx(2.5)
    assert percentile(xs, 95) == pytest.approx(3.85)
    assert percentile(xs, 100) == 4.0


def test_t_quantiles_match_tables() -> None:
    from tokbench.core.stats import t_quantile

    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-3)
    assert t_quantile(0.975, 4) == pytest.approx(2.776445, abs=1e-5)
    assert t_quantile(0.975, 30) == pytest.approx(2.042272, abs=1e-5)
    assert t_quantile(0.025, 9) == pytest.approx(-2.262157, abs=1e-5)
    assert t_quantile(0.95, 1000) == pytest.approx(1.646379, abs=1e-4)


def test_mean_ci_known_values() -> None:
    from tokbench.core.stats import mean_ci

    e = mean_ci([10.0, 12.0, 11.0, 13.0, 9.0])  # mean 11, sd 1.5811, t(0.975,4)=2.7764
    assert e.mean == pytest.approx(11.0) and e.sd == pytest.approx(1.581139, abs=1e-6)
    assert e.ci_low == pytest.approx(11 - 1.963243, abs=1e-5)
    assert e.ci_high == pytest.approx(11 + 1.963243, abs=1e-5)
    assert e.rel_half_width_pct == pytest.approx(1.963243 / 11 * 100, abs=1e-4)
    one = mean_ci([5.0])
    assert one.ci_low is None and one.half_width is None


def test_linear_fit_slope_and_ci() -> None:
    from tokbench.core.stats import linear_fit

    xs = [0.0, 1.0, 2.0, 3.0, 4.0]
    ys = [10.0, 9.1, 7.9, 7.2, 5.8]  # slope -10.3/10, intercept 8 + 2.06
    f = linear_fit(xs, ys)
    assert f.slope == pytest.approx(-1.03) and f.intercept == pytest.approx(10.06)
    # residuals -0.06, 0.07, -0.1, 0.23, -0.14: RSS 0.091; se = sqrt(RSS/3 / Sxx=10)
    se = (0.091 / 3 / 10) ** 0.5
    assert f.ci_high == pytest.approx(-1.03 + 3.182446 * se, abs=1e-6)
    assert f.significant
    flat = linear_fit(xs, [5.0, 5.2, 4.9, 5.1, 5.0])
    assert not flat.significant


def test_wilson_interval_known_values() -> None:
    from tokbench.core.stats import wilson

    lo, hi = wilson(8, 10)  # textbook: 0.4902 - 0.9433
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson(0, 5)
    assert lo == 0.0 and hi == pytest.approx(0.4345, abs=1e-4)
    lo, hi = wilson(5, 5)
    assert hi == 1.0 and lo == pytest.approx(0.5655, abs=1e-4)


def test_mcnemar_exact_known_values() -> None:
    from tokbench.core.stats import mcnemar_exact

    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(1, 9) == pytest.approx(0.021484375)  # 2 * 11/1024
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125)


def test_rate_ci_stays_positive_on_a_noisy_bench() -> None:
    """A busy box: tg32 10.04 ± 6.74 over 3 runs gave a linear CI of -6.71 - 26.79 t/s."""
    from tokbench.core.stats import mean_ci, rate_ci

    values = [4.0, 9.0, 17.1]
    linear, log = mean_ci(values), rate_ci(values)
    assert linear.ci_low is not None and linear.ci_low < 0
    assert log.ci_low is not None and log.ci_high is not None
    assert 0 < log.ci_low < min(values) and log.ci_high > max(values)
    assert log.mean == linear.mean and log.unstable
    steady = rate_ci([40.0, 40.5, 39.8, 40.2])
    assert not steady.unstable and steady.ci_low < 40.1 < steady.ci_high  # type: ignore[operator]
