"""How much of a turn's prompt the server took from its prompt cache, read from the
server's own counters in the response, never guessed (docs/metrics.md, "Prompt cache").

- llama-server: `timings.cache_n` (reused) and `timings.prompt_n` (computed).
- vLLM, SGLang, LM Studio, OpenAI: `usage.prompt_tokens_details.cached_tokens` against
  `usage.prompt_tokens` (the whole prompt); computed = prompt - cached.
- Ollama: only `prompt_eval_count` (tokens evaluated). Cached tokens are inferred as the
  prompt's size minus it, and only when the caller knows the size; else not reported.
- The embedded engine: with its prompt cache, the prompt tokens it did not evaluate
  (prompt length minus llama.cpp's own `n_p_eval`); without it (or in an older record),
  every request starts from an empty context, so 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from tokbench.core.records import RequestMetrics

CacheSource = Literal["server", "engine", "inferred", "none", "not reported"]


@dataclass(frozen=True, slots=True)
class CacheReading:
    """One turn's prompt: tokens reused from the cache and tokens computed."""

    cached_tokens: int | None
    computed_tokens: int | None
    source: CacheSource

    @property
    def hit_rate(self) -> float | None:
        return hit_rate([self])


NOT_REPORTED = CacheReading(None, None, "not reported")


def cache_reading(
    server_kind: str, m: RequestMetrics | None, prompt_size: int | None = None
) -> CacheReading:
    """The cache counters of one response, by its server's rule. `prompt_size`: the
    prompt's length when known from elsewhere (Ollama's inference only)."""
    if m is None:
        return NOT_REPORTED
    if server_kind == "embedded":
        computed = m.engine_prompt_tokens or m.prompt_tokens
        if m.cached_prompt_tokens is None:
            return CacheReading(0, computed, "none")
        return CacheReading(m.cached_prompt_tokens, computed, "engine")
    if server_kind == "ollama":
        computed = m.engine_prompt_tokens or 0  # a wholly cached prompt may omit the count
        if prompt_size is None or computed > prompt_size:
            return CacheReading(None, m.engine_prompt_tokens, "not reported")
        return CacheReading(prompt_size - computed, computed, "inferred")
    if m.cached_prompt_tokens is None:
        return CacheReading(None, m.engine_prompt_tokens, "not reported")
    cached = m.cached_prompt_tokens
    if server_kind == "llama-server" and m.engine_prompt_tokens is not None:
        return CacheReading(cached, m.engine_prompt_tokens, "server")
    if m.prompt_tokens is None or m.prompt_tokens < cached:
        return CacheReading(cached, None, "server")
    return CacheReading(cached, m.prompt_tokens - cached, "server")


def hit_rate(readings: Iterable[CacheReading]) -> float | None:
    """Cached tokens over all prompt tokens, summed over the readings that report both
    (a token-weighted rate, as the server's own totals give it); None when none does."""
    cached = computed = 0
    seen = False
    for r in readings:
        if r.cached_tokens is None or r.computed_tokens is None:
            continue
        seen = True
        cached += r.cached_tokens
        computed += r.computed_tokens
    if not seen or cached + computed == 0:
        return None
    return cached / (cached + computed)


def acceptance_rate(metrics: Iterable[RequestMetrics | None]) -> float | None:
    """Speculative decoding: draft tokens the target model kept over those proposed,
    summed over the requests that report both (llama-server `draft_n_accepted`/`draft_n`)."""
    drafted = accepted = 0
    for m in metrics:
        if m is None or m.draft_tokens is None or m.draft_accepted_tokens is None:
            continue
        drafted += m.draft_tokens
        accepted += m.draft_accepted_tokens
    return accepted / drafted if drafted else None
