"""What a tune found, computed (not rendered): the ranking, the commands, the sensitivity.

- ranking: every candidate tried, fastest first, with mean, 95 % CI and speed-up over the
  start (llama.cpp's defaults, placement fitted); failed candidates last, with the reason;
- thread scaling: decode speed against threads, where it flattens (the fewest threads
  within `flat_within` of the fastest) and the bandwidth reached there
  (tok/s x bytes per token), against the box's measured bandwidth;
- knob effects: for each knob, the largest relative change switching it made while the
  other knobs were held, so the user sees which knob matters on this box.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict
from dataclasses import dataclass

from tokbench.tune.commands import (
    Advice,
    llama_server_line,
    ollama_advice,
    tokbench_run_advice,
)
from tokbench.tune.flags import CURRENT, ServerDialect
from tokbench.tune.search import SearchResult, Trial
from tokbench.tune.space import Candidate, Target
from tokbench.tune.tstats import mean_ci95


@dataclass(frozen=True, slots=True)
class RankedRow:
    rank: int | None  # None for failed candidates
    key: str
    n: int
    mean_tps: float | None
    ci_low_tps: float | None
    ci_high_tps: float | None
    speedup: float | None  # mean / the start's mean
    predicted_tps: float
    is_start: bool
    is_best: bool
    failure: str | None


def _samples(trial: Trial, objective: str) -> tuple[float, ...]:
    return trial.decode_tps if objective == "decode" else trial.prefill_tps


def ranking(result: SearchResult) -> list[RankedRow]:
    start = result.trial(result.start)
    start_samples = _samples(start, result.objective) if start else ()
    start_mean = statistics.fmean(start_samples) if start_samples else None
    ok: list[RankedRow] = []
    bad: list[RankedRow] = []
    for t in result.trials:
        xs = _samples(t, result.objective)
        is_start, is_best = t.candidate == result.start, t.candidate == result.best
        if t.failure is not None or not xs:
            bad.append(
                RankedRow(
                    rank=None,
                    key=t.key,
                    n=len(xs),
                    mean_tps=None,
                    ci_low_tps=None,
                    ci_high_tps=None,
                    speedup=None,
                    predicted_tps=t.predicted_decode_tps,
                    is_start=is_start,
                    is_best=is_best,
                    failure=t.failure or "not measured",
                )
            )
            continue
        ci = mean_ci95(xs)
        ok.append(
            RankedRow(
                rank=0,
                key=t.key,
                n=ci.n,
                mean_tps=ci.mean,
                ci_low_tps=ci.low,
                ci_high_tps=ci.high,
                speedup=ci.mean / start_mean if start_mean else None,
                predicted_tps=t.predicted_decode_tps,
                is_start=is_start,
                is_best=is_best,
                failure=None,
            )
        )
    ok.sort(key=lambda r: -(r.mean_tps or 0.0))
    ranked = [_with_rank(r, i + 1) for i, r in enumerate(ok)]
    return ranked + bad


def _with_rank(row: RankedRow, rank: int) -> RankedRow:
    return dataclasses.replace(row, rank=rank)


@dataclass(frozen=True, slots=True)
class ThreadPoint:
    threads: int
    mean_tps: float
    ci_low_tps: float | None
    ci_high_tps: float | None
    bandwidth_gb_s: float  # tok/s x bytes per token


@dataclass(frozen=True, slots=True)
class ThreadScaling:
    """Decode speed against threads, with the other knobs held at `held`."""

    held: str  # key of the other knobs' values
    points: tuple[ThreadPoint, ...]
    flat_threads: int  # fewest threads within flat_within of the fastest
    flat_tps: float
    flat_bandwidth_gb_s: float
    measured_bandwidth_gb_s: float | None
    bandwidth_share: float | None  # flat bandwidth / measured bandwidth


def thread_scaling(
    result: SearchResult,
    bytes_per_token: float,
    measured_bandwidth_gb_s: float | None = None,
    flat_within: float = 0.05,
) -> ThreadScaling | None:
    """The thread sweep with the most thread counts (ties: the one nearest the best)."""
    groups: dict[Candidate, dict[int, tuple[float, ...]]] = defaultdict(dict)
    for t in result.trials:
        xs = _samples(t, result.objective)
        if "threads" in t.candidate and xs and t.failure is None:
            groups[t.candidate.without("threads")][int(t.candidate["threads"])] = xs
    if not groups:
        return None
    best_rest = result.best.without("threads") if result.best else None
    held, sweep = max(groups.items(), key=lambda kv: (len(kv[1]), kv[0] == best_rest))
    if len(sweep) < 2:
        return None
    points = []
    for threads in sorted(sweep):
        ci = mean_ci95(sweep[threads])
        points.append(
            ThreadPoint(threads, ci.mean, ci.low, ci.high, ci.mean * bytes_per_token / 1e9)
        )
    top = max(p.mean_tps for p in points)
    flat = next(p for p in points if p.mean_tps >= (1 - flat_within) * top)
    share = flat.bandwidth_gb_s / measured_bandwidth_gb_s if measured_bandwidth_gb_s else None
    return ThreadScaling(
        held.key,
        tuple(points),
        flat.threads,
        flat.mean_tps,
        flat.bandwidth_gb_s,
        measured_bandwidth_gb_s,
        share,
    )


@dataclass(frozen=True, slots=True)
class KnobEffect:
    """The largest change one knob made, other knobs held (`held`)."""

    knob: str
    change: float  # fastest/slowest - 1 among the knob's values in one sweep
    fastest_value: str
    slowest_value: str
    values_measured: int
    held: str


def knob_effects(result: SearchResult) -> list[KnobEffect]:
    """Per knob, the sweep (other knobs held) with the largest fastest/slowest ratio."""
    means = {
        t.candidate: statistics.fmean(_samples(t, result.objective))
        for t in result.trials
        if t.failure is None and _samples(t, result.objective)
    }
    out = []
    for knob in result.knobs:
        if not knob.searched:
            continue
        groups: dict[Candidate, dict[str, float]] = defaultdict(dict)
        for cand, mean in means.items():
            if knob.name in cand:
                groups[cand.without(knob.name)][cand[knob.name]] = mean
        best: KnobEffect | None = None
        for held, by_value in groups.items():
            if len(by_value) < 2:
                continue
            hi = max(by_value, key=lambda v: by_value[v])
            lo = min(by_value, key=lambda v: by_value[v])
            change = by_value[hi] / by_value[lo] - 1
            if best is None or change > best.change:
                best = KnobEffect(knob.name, change, hi, lo, len(by_value), held.key)
        if best is not None:
            out.append(best)
    return sorted(out, key=lambda e: -e.change)


@dataclass(frozen=True, slots=True)
class TuneReport:
    rows: tuple[RankedRow, ...]
    best: str | None
    start: str
    best_speedup: float | None
    llama_server: str | None
    tokbench_run: Advice | None
    ollama: Advice | None
    threads: ThreadScaling | None
    effects: tuple[KnobEffect, ...]
    candidates_tried: int
    grid_size: int
    measure_calls: int
    stopped: str


def build_report(
    result: SearchResult,
    model_path: str,
    *,
    bytes_per_token: float,
    target: Target,
    measured_bandwidth_gb_s: float | None = None,
    server_bin: str = "llama-server",
    dialect: ServerDialect = CURRENT,
) -> TuneReport:
    rows = ranking(result)
    best_row = next((r for r in rows if r.is_best), None)
    best = result.best
    return TuneReport(
        rows=tuple(rows),
        best=best.key if best else None,
        start=result.start.key,
        best_speedup=best_row.speedup if best_row else None,
        llama_server=(
            llama_server_line(best, model_path, server_bin=server_bin, dialect=dialect)
            if best is not None
            else None
        ),
        tokbench_run=tokbench_run_advice(best, model_path, target) if best else None,
        ollama=ollama_advice(best) if best else None,
        threads=thread_scaling(result, bytes_per_token, measured_bandwidth_gb_s),
        effects=tuple(knob_effects(result)),
        candidates_tried=result.candidates_tried,
        grid_size=result.grid_size,
        measure_calls=result.measure_calls,
        stopped=result.stopped,
    )
