"""Per-run aggregates: mean, sample sd and count of each metric, per item and overall."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokbench.stats import Summary, summarize
from tokbench.store import RequestRecord

SUMMARY_METRICS = (
    "ttft_ms",
    "ttfa_ms",
    "prefill_tps",
    "decode_tps",
    "e2e_tps",
    "total_ms",
    "prompt_tokens",
    "completion_tokens",
    "thinking_tokens",
    "itl_p50_ms",
    "itl_p95_ms",
    "itl_max_ms",
    "engine_prefill_tps",
    "engine_decode_tps",
)


@dataclass(frozen=True, slots=True)
class RunSummary:
    ok: int
    failed: int
    overall: dict[str, Summary]
    per_item: dict[str, dict[str, Summary]]


def _metric_summaries(recs: Sequence[RequestRecord]) -> dict[str, Summary]:
    ms = [r.metrics for r in recs if r.status == "ok" and r.metrics is not None]
    return {name: summarize(getattr(m, name) for m in ms) for name in SUMMARY_METRICS}


def summarize_run(recs: Sequence[RequestRecord]) -> RunSummary:
    items: dict[str, list[RequestRecord]] = {}
    for r in recs:
        items.setdefault(r.item_id, []).append(r)
    ok = sum(1 for r in recs if r.status == "ok")
    return RunSummary(
        ok=ok,
        failed=len(recs) - ok,
        overall=_metric_summaries(recs),
        per_item={k: _metric_summaries(v) for k, v in items.items()},
    )
