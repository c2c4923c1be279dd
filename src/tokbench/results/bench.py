"""Benchmark samples -> the numbers people read (pure functions)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tokbench.core.records import BenchSample, TestStats
from tokbench.core.stats import linear_fit, measured, percentile, rate_ci


@dataclass(frozen=True, slots=True)
class TestRow:
    model: str
    test: str
    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    server_mean: float | None
    warmups: int
    short: int
    errors: int
    stop_rule: str | None
    notes: tuple[str, ...]
    # energy of the test's named part (prompt tokens for ppN, generated for tgN)
    j_per_token: float | None = None  # Σ energy / Σ tokens over the measured samples
    avg_power_w: float | None = None
    energy_n: int = 0  # samples with an energy figure
    energy_approximate: int = 0
    busy: int = 0  # samples during which the host was busy
    host_monitored: int = 0


@dataclass(frozen=True, slots=True)
class _EnergyFigures:
    """A test's energy and host-load counts, as TestRow carries them."""

    j_per_token: float | None
    avg_power_w: float | None
    energy_n: int
    energy_approximate: int
    busy: int
    host_monitored: int


def _energy_figures(real: list[BenchSample]) -> _EnergyFigures:
    ok = [s for s in real if s.status == "ok"]
    measured = [s.energy for s in ok if s.energy is not None and s.energy.energy_j is not None]
    joules = sum(e.energy_j or 0.0 for e in measured)
    tokens = sum(e.output_tokens or 0 for e in measured)
    seconds = sum(e.duration_s for e in measured)
    return _EnergyFigures(
        j_per_token=joules / tokens if measured and tokens else None,
        avg_power_w=joules / seconds if measured and seconds else None,
        energy_n=len(measured),
        energy_approximate=sum(1 for e in measured if e.approximate),
        busy=sum(1 for s in real if s.host is not None and s.host.busy),
        host_monitored=sum(1 for s in real if s.host is not None),
    )


@dataclass(frozen=True, slots=True)
class ConcurrencyRow:
    model: str
    test: str
    concurrency: int
    ok: int
    failed: int
    per_stream_tps: float | None  # mean decode tok/s of one stream
    aggregate_tps: float | None  # all tokens / (first send to last token)
    ttft_p50_ms: float | None
    ttft_p90_ms: float | None
    ttft_p99_ms: float | None


@dataclass(frozen=True, slots=True)
class Drift:
    model: str
    test: str
    n: int
    slope_tps_per_min: float | None
    ci_low: float | None
    ci_high: float | None
    slowdown: bool  # the whole 95% CI of the slope is below zero
    first_tps: float | None
    last_tps: float | None


@dataclass(frozen=True, slots=True)
class BenchSummary:
    tests: list[TestRow]
    concurrency: list[ConcurrencyRow]
    drift: list[Drift]
    more_tests: int = 0  # tests of a big imported run left out of this view


def summarize_bench(samples: list[BenchSample], stop_rules: dict[str, str]) -> BenchSummary:
    singles: dict[tuple[str, str], list[BenchSample]] = defaultdict(list)
    levels: dict[tuple[str, str, int], list[BenchSample]] = defaultdict(list)
    for s in samples:
        if s.concurrency > 1:
            levels[(s.model, s.test, s.concurrency)].append(s)
        else:
            singles[(s.model, s.test)].append(s)
    tests, drift = [], []
    for (model, test), group in singles.items():
        real = [s for s in group if s.rep >= 0]
        ok = [s.tps for s in real if s.status == "ok" and s.tps is not None]
        est = rate_ci(ok) if ok else None
        servers = [s.server_tps for s in real if s.status == "ok" and s.server_tps]
        notes = tuple(dict.fromkeys(s.note for s in real if s.note))
        if est is not None and est.unstable:
            notes += ("unstable: the 95% CI is wider than the mean (a busy box?)",)
        energy = _energy_figures(real)
        tests.append(
            TestRow(
                model,
                test,
                len(ok),
                est.mean if est else None,
                est.sd if est else None,
                est.ci_low if est else None,
                est.ci_high if est else None,
                sum(servers) / len(servers) if servers else None,
                sum(1 for s in group if s.rep < 0),
                sum(1 for s in real if s.status == "short"),
                sum(1 for s in real if s.status == "error"),
                stop_rules.get(f"{model} | {test}"),
                notes,
                j_per_token=energy.j_per_token,
                avg_power_w=energy.avg_power_w,
                energy_n=energy.energy_n,
                energy_approximate=energy.energy_approximate,
                busy=energy.busy,
                host_monitored=energy.host_monitored,
            )
        )
        if test.startswith("soak "):
            drift.append(_drift(model, test, [s for s in real if s.status == "ok" and s.tps]))
    conc = [_level(model, test, c, group) for (model, test, c), group in levels.items()]
    return BenchSummary(tests, conc, drift)


def _level(model: str, test: str, c: int, group: list[BenchSample]) -> ConcurrencyRow:
    ok = [s for s in group if s.status in ("ok", "short") and s.tps is not None]
    ttfts = sorted(s.ttft_ms for s in ok if s.ttft_ms is not None)
    agg = None
    timed = [s for s in ok if s.span_s is not None and s.tokens]
    if timed:
        start = min(s.t_s for s in timed)
        end = max(s.t_s + (s.span_s or 0) for s in timed)
        agg = sum(s.tokens or 0 for s in timed) / (end - start) if end > start else None
    return ConcurrencyRow(
        model,
        test,
        c,
        len(ok),
        len(group) - len(ok),
        sum(s.tps or 0 for s in ok) / len(ok) if ok else None,
        agg,
        percentile(ttfts, 50) if ttfts else None,
        percentile(ttfts, 90) if ttfts else None,
        percentile(ttfts, 99) if ttfts else None,
    )


def _drift(model: str, test: str, ok: list[BenchSample]) -> Drift:
    if len(ok) < 3:
        return Drift(
            model,
            test,
            len(ok),
            None,
            None,
            None,
            False,
            ok[0].tps if ok else None,
            ok[-1].tps if ok else None,
        )
    fit = linear_fit([s.t_s / 60 for s in ok], [s.tps or 0.0 for s in ok])
    return Drift(
        model,
        test,
        len(ok),
        fit.slope,
        fit.ci_low,
        fit.ci_high,
        fit.ci_high is not None and fit.ci_high < 0,
        ok[0].tps,
        ok[-1].tps,
    )


def summarize_imported(stats: list[TestStats], samples: list[BenchSample]) -> BenchSummary:
    """Another tool's results as the same rows: its mean and sd as given; a CI only where
    the file kept the repetitions; serving levels as concurrency rows."""
    tests, conc = [], []
    by_test: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in samples:
        if (tps := measured(s.tps)) is not None and tps > 0:
            by_test[(s.model, s.test)].append(tps)
    for t in stats:
        if t.kind == "serve":
            conc.append(_serve_level(t))
            continue
        reps = by_test.get((t.model, t.test), [])
        est = rate_ci(reps) if len(reps) > 1 else None
        tests.append(
            TestRow(
                t.model,
                t.test,
                t.n if t.n is not None else len(reps),
                # measured(): stores written before imports were checked may hold inf or NaN
                measured(t.mean_tps),
                measured(t.sd_tps),
                est.ci_low if est else None,
                est.ci_high if est else None,
                None,
                0,
                0,
                0,
                None,
                ("imported",),
            )
        )
    return BenchSummary(tests, conc, [])


def _serve_level(t: TestStats) -> ConcurrencyRow:
    # Every value through measured() or _count(): stores written before imports were
    # checked may hold "inf", NaN or text where a number belongs.
    def pct(name: str, p: float) -> float | None:
        summary = t.stats.get(name)
        summary = summary if isinstance(summary, dict) else {}
        for pair in summary.get("percentiles") or []:
            if isinstance(pair, list | tuple) and len(pair) == 2 and pair[0] == p:
                return measured(pair[1])
        return measured(summary.get("median")) if p == 50 else None

    tpot = measured((t.stats.get("tpot_ms") or {}).get("mean"))
    concurrency = measured(t.concurrency)
    return ConcurrencyRow(
        t.model,
        t.test,
        round(concurrency) if concurrency else 0,
        _count(t.stats.get("completed")),
        _count(t.stats.get("failed")),
        1000 / tpot if tpot else None,
        measured(t.stats.get("output_throughput_tps")),
        pct("ttft_ms", 50),
        pct("ttft_ms", 90),
        pct("ttft_ms", 99),
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
