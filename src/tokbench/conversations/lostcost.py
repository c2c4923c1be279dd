"""The cost of a lost prompt cache, by history length (docs/metrics.md, "Lost-cache cost").

For each history length L, each repetition sends a fresh history of about L tokens (text
no earlier request shares, so nothing of it can be cached) followed by a question:
the *cold* turn, which computes the whole history; then the same history with another
question: the *warm* turn, whose history the server can take from its cache. The cost of
losing the cache at L is the paired difference cold - warm of TTFT (what the user waits),
and of the prefill time the server reports (`timings.prompt_ms`, the engine's own), each
with its 95 % Student-t interval over the repetitions. The cached-token counters of both
turns are shown beside it, so a "warm" turn the server did not actually serve from its
cache is seen as such.

Stored as a conversation run: item ids `L016384.r02.cold` / `.warm`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from tokbench.conversations.cache import cache_reading
from tokbench.core.records import RequestMetrics, RequestRecord
from tokbench.core.stats import Estimate, mean_ci
from tokbench.errors import TokbenchError

_ITEM = re.compile(r"L(\d+)\.r(\d+)\.(cold|warm)")
MAX_HISTORY_TOKENS = 1 << 20


def cost_item_id(length: int, rep: int, which: str) -> str:
    return f"L{length:06d}.r{rep:02d}.{which}"


def parse_lengths(spec: str) -> tuple[int, ...]:
    """ "4k,8k,16k" (k = 1024) or plain token counts, in the order given, each once."""
    out: list[int] = []
    for part in spec.split(","):
        text = part.strip().lower()
        m = re.fullmatch(r"(\d+)(k?)", text)
        n = int(m.group(1)) * (1024 if m.group(2) else 1) if m else 0
        if not 0 < n <= MAX_HISTORY_TOKENS:
            raise TokbenchError(
                f"--lost-cache-cost: {part.strip()!r} is not a history length "
                "(tokens, e.g. 512 or 4k, up to 1024k)"
            )
        if n not in out:
            out.append(n)
    return tuple(out)


def prefill_ms(m: RequestMetrics | None) -> float | None:
    """The prefill time the server or engine reported (prompt tokens it computed over its
    prefill speed); None when it reports no timings."""
    if m is None or not m.engine_prompt_tokens or not m.engine_prefill_tps:
        return None
    return m.engine_prompt_tokens / m.engine_prefill_tps * 1000


@dataclass(frozen=True, slots=True)
class CostPoint:
    history_tokens: int  # asked for
    context_tokens: float | None  # the cold turns' prompt, median, as the server counted it
    reps: int  # pairs with both turns answered
    cold_ttft_ms: float | None  # medians
    warm_ttft_ms: float | None
    cold_cached_tokens: float | None
    warm_cached_tokens: float | None
    ttft_cost_ms: Estimate | None  # paired cold - warm
    prefill_cost_ms: Estimate | None

    @property
    def sentence(self) -> str:
        size = f"{self.history_tokens // 1024}k" if self.history_tokens % 1024 == 0 else ""
        size = size or str(self.history_tokens)
        cost = self.prefill_cost_ms or self.ttft_cost_ms
        if cost is None:
            return f"at {size} of history: no cold and warm pair answered"
        what = "prefill" if self.prefill_cost_ms is not None else "time to first token"
        ci = (
            f"95 % CI {cost.ci_low / 1000:.2f}-{cost.ci_high / 1000:.2f} s"
            if cost.ci_low is not None and cost.ci_high is not None
            else "one pair: no interval"
        )
        return (
            f"losing the cache at {size} of history costs {cost.mean / 1000:.2f} s "
            f"({ci}, {cost.n} pairs) of {what} per turn"
        )


def _pairs(records: Sequence[RequestRecord]) -> dict[int, dict[int, dict[str, RequestRecord]]]:
    out: dict[int, dict[int, dict[str, RequestRecord]]] = {}
    for r in records:
        m = _ITEM.fullmatch(r.item_id)
        if m and r.status == "ok" and r.metrics is not None:
            out.setdefault(int(m.group(1)), {}).setdefault(int(m.group(2)), {})[m.group(3)] = r
    return out


def _med(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def _diff(pairs: Sequence[tuple[float | None, float | None]]) -> Estimate | None:
    diffs = [c - w for c, w in pairs if c is not None and w is not None]
    return mean_ci(diffs) if diffs else None


def lost_cache_cost(server_kind: str, records: Sequence[RequestRecord]) -> tuple[CostPoint, ...]:
    """One point per history length measured, from the run's stored cold/warm turns."""
    points = []
    for length, reps in sorted(_pairs(records).items()):
        both = [p for p in reps.values() if "cold" in p and "warm" in p]
        cold = [p["cold"].metrics for p in both]
        warm = [p["warm"].metrics for p in both]
        pairs = list(zip(cold, warm, strict=True))

        def cached(ms: list[RequestMetrics | None]) -> float | None:
            return _med([cache_reading(server_kind, m).cached_tokens for m in ms])

        points.append(
            CostPoint(
                history_tokens=length,
                context_tokens=_med([m.prompt_tokens if m else None for m in cold]),
                reps=len(both),
                cold_ttft_ms=_med([m.ttft_ms if m else None for m in cold]),
                warm_ttft_ms=_med([m.ttft_ms if m else None for m in warm]),
                cold_cached_tokens=cached(cold),
                warm_cached_tokens=cached(warm),
                ttft_cost_ms=_diff(
                    [(c.ttft_ms if c else None, w.ttft_ms if w else None) for c, w in pairs]
                ),
                prefill_cost_ms=_diff([(prefill_ms(c), prefill_ms(w)) for c, w in pairs]),
            )
        )
    return tuple(points)
