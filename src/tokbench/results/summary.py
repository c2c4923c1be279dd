"""Per-run aggregates: mean, sample sd and count of each metric, per item and overall."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokbench.core.records import RequestRecord
from tokbench.core.stats import Summary, summarize, wilson
from tokbench.results.quality import health_counts

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
class PassRate:
    """Graded answers: passes of n, with a Wilson 95% interval (no_answer counts as not
    passed; grader errors are left out and counted)."""

    passed: int
    n: int
    low: float
    high: float
    no_answer: int
    errors: int

    @property
    def rate(self) -> float:
        return self.passed / self.n

    def as_dict(self) -> dict[str, float | int]:
        return {
            "passed": self.passed,
            "n": self.n,
            "rate": self.rate,
            "ci_low": self.low,
            "ci_high": self.high,
            "no_answer": self.no_answer,
            "errors": self.errors,
        }


def pass_rate(recs: Sequence[RequestRecord]) -> PassRate | None:
    graded = [r.grade for r in recs if r.grade is not None]
    counted = [g for g in graded if g.verdict != "error"]
    if not counted:
        return None
    passed = sum(1 for g in counted if g.verdict == "pass")
    lo, hi = wilson(passed, len(counted))
    return PassRate(
        passed,
        len(counted),
        lo,
        hi,
        sum(1 for g in counted if g.verdict == "no_answer"),
        len(graded) - len(counted),
    )


@dataclass(frozen=True, slots=True)
class RunSummary:
    ok: int
    failed: int
    overall: dict[str, Summary]
    per_item: dict[str, dict[str, Summary]]
    quality: PassRate | None = None
    quality_per_item: dict[str, PassRate | None] | None = None
    health: dict[str, int] | None = None  # answers showing each failure sign


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
        quality=pass_rate(recs),
        quality_per_item={k: pass_rate(v) for k, v in items.items()},
        health=health_counts(list(recs)),
    )
