"""An eval run's results per benchmark, from its stored requests: the estimate of the
full-set accuracy, what counted wrong and why, and the speed and energy it took."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from tokbench.core.records import EvalPlan, RequestRecord, RunInfo, RunSettings
from tokbench.evals.answers import THINKING_ONLY, TRUNCATED
from tokbench.evals.estimate import Estimate, estimate

CUT = "cut by the time box"  # a request's error when --max-time ended it mid-answer


@dataclass(frozen=True, slots=True)
class BenchmarkResult:
    benchmark: str
    estimate: Estimate
    planned: int  # items the run meant to ask
    truncated: int  # counted wrong: the token limit hit
    thinking_only: int  # counted wrong: no answer after the thinking
    failed: int  # requests that failed: not graded, not in the estimate
    cut: int  # ended by the time box: not graded, asked again on --resume
    decode_tps: float | None  # median over the graded answers
    j_per_token: float | None  # energy over output tokens, where energy was measured


def benchmark_of(item_id: str) -> str:
    return item_id.split("/", 1)[0]


def latest(records: list[RequestRecord]) -> dict[str, RequestRecord]:
    """Each item's last try (a cut item asked again on resume has a later rep)."""
    out: dict[str, RequestRecord] = {}
    for r in sorted(records, key=lambda r: r.rep):
        out[r.item_id] = r
    return out


def is_cut(record: RequestRecord) -> bool:
    return record.status == "error" and (record.error or "").startswith(CUT)


def summarize(
    plan: EvalPlan, records: list[RequestRecord], planned: dict[str, int] | None = None
) -> list[BenchmarkResult]:
    by_bench: dict[str, list[RequestRecord]] = {b: [] for b in plan.benchmarks}
    for r in latest(records).values():
        by_bench.setdefault(benchmark_of(r.item_id), []).append(r)
    out = []
    for bench, recs in by_bench.items():
        graded = [r for r in recs if r.grade is not None and r.grade.verdict in ("pass", "fail")]
        correct = sum(1 for r in graded if r.grade is not None and r.grade.verdict == "pass")
        reasons = [r.grade.reason for r in graded if r.grade is not None]
        tps = [r.metrics.decode_tps for r in graded if r.metrics and r.metrics.decode_tps]
        metered = [r for r in recs if r.energy and r.energy.energy_j is not None and r.metrics]
        joules = sum(r.energy.energy_j or 0.0 for r in metered if r.energy)
        tokens = sum(r.metrics.completion_tokens or 0 for r in metered if r.metrics)
        out.append(
            BenchmarkResult(
                bench,
                estimate(correct, len(graded), plan.populations.get(bench, len(graded))),
                (planned or {}).get(bench, len(recs)),
                sum(1 for x in reasons if x.startswith(TRUNCATED)),
                sum(1 for x in reasons if x.startswith(THINKING_ONLY)),
                sum(1 for r in recs if r.status == "error" and not is_cut(r)),
                sum(1 for r in recs if is_cut(r)),
                statistics.median(tps) if tps else None,
                joules / tokens if metered and tokens else None,
            )
        )
    return out


def summarize_run(run: RunInfo, records: list[RequestRecord]) -> list[BenchmarkResult]:
    """A stored eval run's results ([] for any other run)."""
    cfg = run.config
    if run.kind != "eval" or not isinstance(cfg, RunSettings) or cfg.eval is None:
        return []
    planned: dict[str, int] = {}
    for i in cfg.items:
        planned[benchmark_of(i.id)] = planned.get(benchmark_of(i.id), 0) + 1
    return summarize(cfg.eval, records, planned)
