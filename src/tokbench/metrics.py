"""Per-request metrics, computed once, from a `Trace`. Definitions: docs/metrics.md."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from tokbench.events import ANSWER, Count, Trace
from tokbench.stats import percentile

NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class RequestMetrics:
    ttft_ms: float | None
    ttfa_ms: float | None
    total_ms: float
    prompt_tokens: int | None
    prompt_tokens_source: str | None
    completion_tokens: int | None
    completion_tokens_source: str | None
    thinking_tokens: int | None
    thinking_tokens_source: str | None
    prefill_tps: float | None
    decode_tps: float | None
    e2e_tps: float | None
    itl_p50_ms: float | None
    itl_p95_ms: float | None
    itl_max_ms: float | None
    engine_prefill_tps: float | None
    engine_decode_tps: float | None
    finish_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    gaps = sorted(_ms(b - a) for a, b in itertools.pairwise(times))
    engine = trace.engine
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
        prefill_tps=_rate(prompt.value if prompt else None, ttft_ms),
        decode_tps=decode_tps,
        e2e_tps=_rate(completion.value if completion else None, total_ms),
        itl_p50_ms=percentile(gaps, 50) if gaps else None,
        itl_p95_ms=percentile(gaps, 95) if gaps else None,
        itl_max_ms=gaps[-1] if gaps else None,
        engine_prefill_tps=_rate(engine.prompt_tokens, engine.prompt_ms) if engine else None,
        engine_decode_tps=_rate(engine.decode_tokens, engine.decode_ms) if engine else None,
        finish_reason=trace.finish_reason,
    )
