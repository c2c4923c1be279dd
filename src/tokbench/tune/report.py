"""What a tune found, computed (not rendered): the ranking, the commands, the sensitivity.

- ranking: the pick first, then every other candidate tried, fastest first, each with its
  mean, 95 % CI, its speed ratio over the start (with the ratio's 95 % interval) and how it
  stands against the pick: measurably slower, the same within ±2 %, or within noise (the
  intervals overlap: more repetitions would be needed to tell). Failed candidates last;
- thread scaling: decode speed against threads, where it flattens (the fewest threads
  within `flat_within` of the fastest) and the bandwidth reached there
  (tok/s x bytes per token), against the box's measured bandwidth;
- knob effects: for each knob, the change switching it made while the other knobs were
  held, reported as an effect only where the fastest and slowest values' intervals
  separate (99 % over all the knob's comparisons); otherwise "no effect measurable at
  n=..." with the interval the change lies in;
- drift: the start measured again at the end against its first measurement.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict
from collections.abc import Sequence

from tokbench.core.stats import mean_ci, ratio_ci
from tokbench.core.tune_report import (
    DriftCheck,
    KnobEffect,
    RankedRow,
    ThreadPoint,
    ThreadScaling,
    TuneReport,
    VsPick,
)
from tokbench.tune.commands import llama_server_line, ollama_advice, tokbench_run_advice
from tokbench.tune.flags import CURRENT, ServerDialect
from tokbench.tune.search import SearchConfig, SearchResult, Trial
from tokbench.tune.space import Candidate, Target
from tokbench.tune.verdict import compare

SAME_WITHIN = SearchConfig().same_within


def _samples(trial: Trial, objective: str) -> tuple[float, ...]:
    return trial.decode_tps if objective == "decode" else trial.prefill_tps


# "faster" only where the time box cut the pick's duel short
VS_PICK: dict[str, VsPick] = {
    "worse": "slower",
    "same": "same",
    "better": "faster",
    "undecided": "within noise",
}


def _interval(
    xs: Sequence[float], ref: Sequence[float]
) -> tuple[float, float | None, float | None]:
    """The ratio xs/ref with its 95 % interval (no interval below two values a side)."""
    r = ratio_ci(xs, ref)
    return (r.ratio, r.low, r.high) if min(len(xs), len(ref)) > 1 else (r.ratio, None, None)


def ranking(result: SearchResult) -> list[RankedRow]:
    """The pick first (the search settled it against every faster-looking row), then the
    rest fastest first; failed candidates last."""
    start = result.trial(result.start)
    pick = result.trial(result.best) if result.best is not None else None
    start_xs = _samples(start, result.objective) if start and start.failure is None else ()
    pick_xs = _samples(pick, result.objective) if pick and pick.failure is None else ()
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
        ci = mean_ci(xs)
        up = _interval(xs, start_xs) if start_xs else (None, None, None)
        vs: VsPick | None = "pick" if is_best else None
        vs_ci: tuple[float | None, float | None] = (None, None)
        if pick_xs and not is_best:
            test = compare(xs, pick_xs, SAME_WITHIN)
            vs, vs_ci = VS_PICK[test.verdict], _interval(xs, pick_xs)[1:]
        ok.append(
            RankedRow(
                rank=0,
                key=t.key,
                n=ci.n,
                mean_tps=ci.mean,
                ci_low_tps=ci.ci_low,
                ci_high_tps=ci.ci_high,
                speedup=up[0],
                predicted_tps=t.predicted_decode_tps,
                is_start=is_start,
                is_best=is_best,
                failure=None,
                speedup_low=up[1],
                speedup_high=up[2],
                vs_pick=vs,
                vs_pick_low=vs_ci[0],
                vs_pick_high=vs_ci[1],
            )
        )
    ok.sort(key=lambda r: (not r.is_best, -(r.mean_tps or 0.0)))
    ranked = [dataclasses.replace(r, rank=i + 1) for i, r in enumerate(ok)]
    return ranked + bad


def thread_scaling(
    result: SearchResult,
    bytes_per_token: float,
    measured_bandwidth_gb_s: float | None = None,
    flat_within: float = 0.05,
) -> ThreadScaling | None:
    """The thread sweep with the most thread counts (ties: the one nearest the pick)."""
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
        ci = mean_ci(sweep[threads])
        points.append(
            ThreadPoint(threads, ci.mean, ci.ci_low, ci.ci_high, ci.mean * bytes_per_token / 1e9)
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


def _effect(
    knob: str, held: Candidate, by_value: dict[str, tuple[float, ...]], comparisons: int
) -> KnobEffect:
    """Fastest against slowest value. Picking the extremes among several values (and the
    best of several sweeps) would let noise through at the duels' 1 %, so the interval that
    must exclude 1 is widened to keep 1 % over all `comparisons` (Bonferroni)."""
    means = {v: statistics.fmean(xs) for v, xs in by_value.items()}
    hi, lo = max(means, key=lambda v: means[v]), min(means, key=lambda v: means[v])
    ratio, low, high = _interval(by_value[hi], by_value[lo])
    strict = ratio_ci(by_value[hi], by_value[lo], 1 - 0.01 / comparisons)
    measurable = low is not None and strict.low > 1 and ratio > 1 + SAME_WITHIN / 2
    return KnobEffect(
        knob,
        ratio - 1,
        hi,
        lo,
        len(by_value),
        held.key,
        measurable=measurable,
        change_low=None if low is None else low - 1,
        change_high=None if high is None else high - 1,
        n_fastest=len(by_value[hi]),
        n_slowest=len(by_value[lo]),
    )


def knob_effects(result: SearchResult) -> list[KnobEffect]:
    """Per knob, over the sweeps where it varied with the other knobs held: the measurable
    effect with the largest lower bound, else (no sweep separates) the sweep with the most
    repetitions. Measurable effects first, largest first."""
    samples = {
        t.candidate: _samples(t, result.objective)
        for t in result.trials
        if t.failure is None and _samples(t, result.objective)
    }
    out = []
    for knob in result.knobs:
        if not knob.searched:
            continue
        groups: dict[Candidate, dict[str, tuple[float, ...]]] = defaultdict(dict)
        for cand, xs in samples.items():
            if knob.name in cand:
                groups[cand.without(knob.name)][cand[knob.name]] = xs
        sweeps = [(held, vs) for held, vs in groups.items() if len(vs) > 1]
        pairs = sum(len(vs) * (len(vs) - 1) // 2 for _, vs in sweeps)
        effects = [_effect(knob.name, held, vs, pairs) for held, vs in sweeps]
        if not effects:
            continue
        out.append(
            max(
                effects,
                key=lambda e: (
                    e.measurable,
                    e.change_low if e.measurable else min(e.n_fastest, e.n_slowest),
                ),
            )
        )
    return sorted(out, key=lambda e: (not e.measurable, -e.change))


def drift_check(result: SearchResult) -> DriftCheck | None:
    start = result.trial(result.start)
    first = _samples(start, result.objective) if start and start.failure is None else ()
    if not first:
        return None
    last = result.recheck_tps
    if not last:
        note = result.recheck_note or "the start was not measured again"
        return DriftCheck(statistics.fmean(first), None, len(first), 0, None, None, None,
                          False, note)  # fmt: skip
    test = compare(last, first, SAME_WITHIN)
    return DriftCheck(
        statistics.fmean(first),
        statistics.fmean(last),
        len(first),
        len(last),
        test.ratio,
        test.low,
        test.high,
        drifted=test.verdict in ("better", "worse"),
    )


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
        drift=drift_check(result),
        candidates_tried=result.candidates_tried,
        grid_size=result.grid_size,
        measure_calls=result.measure_calls,
        stopped=result.stopped,
    )
