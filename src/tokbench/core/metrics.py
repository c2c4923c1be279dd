"""Per-request metrics, computed once, from a `Trace`. Definitions: docs/metrics.md."""

from __future__ import annotations

from itertools import pairwise

from tokbench.core.records import RequestMetrics
from tokbench.core.stats import percentile
from tokbench.core.trace import ANSWER, Count, Trace, answer_state

NS_PER_MS = 1_000_000
# Client and server figures further apart than this are flagged (docs/metrics.md).
CROSSCHECK_TOLERANCE = 0.10


def _ms(ns: int) -> float:
    return ns / NS_PER_MS


def _rate(tokens: int | None, ms: float | None) -> float | None:
    if tokens is None or ms is None or ms <= 0 or tokens <= 0:
        return None
    return tokens / (ms / 1000.0)


def completion_count(trace: Trace) -> Count | None:
    """The reported completion count, else one token per streamed chunk (an estimate)."""
    if trace.completion_tokens is not None:
        return trace.completion_tokens
    if trace.times_ns:
        return Count(len(trace.times_ns), "estimate")
    return None


def thinking_count(trace: Trace) -> Count | None:
    if trace.thinking_tokens is not None:
        return trace.thinking_tokens
    n = sum(1 for c in trace.channels if c != ANSWER)
    return Count(n, "estimate") if n else None


def request_metrics(trace: Trace) -> RequestMetrics:
    times = trace.times_ns
    total_ms = _ms(trace.end_ns - trace.start_ns)
    ttft_ms = _ms(times[0] - trace.start_ns) if times else None
    ttfa_ms = next(
        (
            _ms(t - trace.start_ns)
            for t, c in zip(times, trace.channels, strict=True)
            if c == ANSWER
        ),
        None,
    )
    completion = completion_count(trace)
    thinking = thinking_count(trace)
    prompt = trace.prompt_tokens

    decode_tps = None
    if completion is not None and completion.value > 1 and len(times) > 1:
        span_ms = _ms(times[-1] - times[0])
        decode_tps = _rate(completion.value - 1, span_ms)

    gaps = sorted(_ms(b - a) for a, b in pairwise(times))
    engine = trace.engine
    engine_prefill = _rate(engine.prompt_tokens, engine.prompt_ms) if engine else None
    engine_decode = _rate(engine.decode_tokens, engine.decode_ms) if engine else None
    prefill_tps = _rate(prompt.value if prompt else None, ttft_ms)
    chunks = len(times)
    count_gap = None
    if completion is not None and completion.source == "server" and chunks and completion.value:
        count_gap = _gap(chunks, completion.value)
    decode_gap = _gap(decode_tps, engine_decode)
    flags = [
        name
        for name, gap in (("decode", decode_gap), ("count", count_gap))
        if gap is not None and abs(gap) > CROSSCHECK_TOLERANCE * 100
    ]
    answer_n = _answer_count(trace, completion, thinking)
    return RequestMetrics(
        ttft_ms=ttft_ms,
        ttfa_ms=ttfa_ms,
        total_ms=total_ms,
        prompt_tokens=prompt.value if prompt else None,
        prompt_tokens_source=prompt.source if prompt else None,
        completion_tokens=completion.value if completion else None,
        completion_tokens_source=completion.source if completion else None,
        thinking_tokens=thinking.value if thinking else None,
        thinking_tokens_source=thinking.source if thinking else None,
        prefill_tps=prefill_tps,
        decode_tps=decode_tps,
        e2e_tps=_rate(completion.value if completion else None, total_ms),
        itl_p50_ms=percentile(gaps, 50) if gaps else None,
        itl_p95_ms=percentile(gaps, 95) if gaps else None,
        itl_max_ms=gaps[-1] if gaps else None,
        engine_prefill_tps=engine_prefill,
        engine_decode_tps=engine_decode,
        finish_reason=trace.finish_reason,
        answer_state=answer_state(
            trace.text(ANSWER),
            trace.text("thinking"),
            trace.finish_reason,
            trace.think_open,
            trace.error,
        ),
        answer_tokens=answer_n.value if answer_n else None,
        answer_tokens_source=answer_n.source if answer_n else None,
        load_ms=engine.load_ms if engine else None,
        cached_prompt_tokens=engine.cached_prompt_tokens if engine else None,
        engine_prompt_tokens=engine.prompt_tokens if engine else None,
        engine_decode_tokens=engine.decode_tokens if engine else None,
        decode_gap_pct=decode_gap,
        prefill_gap_pct=_gap(prefill_tps, engine_prefill),
        count_gap_pct=count_gap,
        crosscheck=",".join(flags) or None,
        draft_tokens=engine.draft_tokens if engine else None,
        draft_accepted_tokens=engine.draft_accepted_tokens if engine else None,
    )


def _gap(client: float | None, server: float | None) -> float | None:
    """Client figure relative to the server's, in percent (+ = client higher)."""
    if client is None or server is None or server <= 0:
        return None
    return (client / server - 1.0) * 100.0


def _answer_count(trace: Trace, completion: Count | None, thinking: Count | None) -> Count | None:
    if completion is None:
        return None
    if thinking is None:
        return completion  # no thinking: every generated token is answer
    if thinking.source != "estimate" and completion.source != "estimate":
        return Count(max(completion.value - thinking.value, 0), completion.source)
    n = sum(1 for c, x in zip(trace.channels, trace.texts, strict=True) if c == ANSWER and x)
    return Count(n, "estimate")


def per_second(n: int | None, ms: float | None) -> float | None:
    """A count over a duration in milliseconds; None when either is missing or zero."""
    return n / (ms / 1000) if n and ms and ms > 0 else None
