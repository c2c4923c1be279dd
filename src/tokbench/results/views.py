"""What reports, comparisons and exports show about runs: gathered once from the store."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tokbench.core.records import BENCH_KINDS, RequestRecord, RunInfo, Target, stop_rules
from tokbench.core.stats import Summary, summarize
from tokbench.errors import TokbenchError
from tokbench.results.bench import BenchSummary, summarize_bench, summarize_imported
from tokbench.results.summary import PassRate, summarize_run
from tokbench.store.database import Store


@dataclass(frozen=True, slots=True)
class RunView:
    run: RunInfo
    label: str
    quant: str | None
    params: float | None  # model parameters, when known
    decode: Summary  # decode tok/s: answers' decode speed, or a bench run's first tg test
    ttft: Summary
    prefill: Summary
    ok: int
    failed: int
    records: list[RequestRecord]
    bench: BenchSummary | None
    quality: PassRate | None = None
    quality_per_item: dict[str, PassRate | None] | None = None
    health: dict[str, int] | None = None


_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMBT])", re.IGNORECASE)


def model_params(target: Target) -> float | None:
    """Parameters from the count the backend gave, else from its size label ("7.6B")."""
    n = target.n_params
    if isinstance(n, int | float) and n > 0:
        return float(n)
    m = _SIZE.match(str(target.details.get("parameter_size") or ""))
    if m:
        return float(m.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}[m.group(2).upper()]
    return None


# Show, compare and report give an imported run's first tests only: a file can hold up to
# 100,000 (interop's MAX_TESTS), which no one reads in a table, and whose JSON alone took
# a minute and a gigabyte to print. The file imported has them all.
MAX_VIEW_TESTS = 500


def bench_summary(store: Store, run: RunInfo, limit: int | None = MAX_VIEW_TESTS) -> BenchSummary:
    """A bench run's rows: measured here, or imported from another tool's file (its first
    `limit` tests, with the count of the others; all of them when `limit` is None)."""
    if not run.source:
        return summarize_bench(store.bench_samples(run.id), stop_rules(run))
    tests = store.imported_tests(run.id, None if limit is None else limit + 1)
    if limit is None or len(tests) <= limit:
        return summarize_imported(tests, store.bench_samples(run.id))
    tests = tests[:limit]
    samples = store.bench_samples(run.id, [t.test for t in tests])
    more = store.imported_test_count(run.id) - limit
    return replace(summarize_imported(tests, samples), more_tests=more)


def view(store: Store, run: RunInfo) -> RunView:
    t = run.target  # a bench's first model
    quant = t.quantization or t.details.get("quant")
    label = f"{run.display_model or '?'} · {run.backend} · {run.id[-6:]}"
    if run.kind in BENCH_KINDS:
        bench = bench_summary(store, run)
        tg = next((r for r in bench.tests if r.test.startswith("tg") and r.mean), None)
        pp = next((r for r in bench.tests if r.test.startswith("pp") and r.mean), None)
        decode = Summary(tg.mean, tg.sd, tg.n) if tg else Summary(None, None, 0)
        prefill = Summary(pp.mean, pp.sd, pp.n) if pp else Summary(None, None, 0)
        n_ok = sum(r.n for r in bench.tests)
        n_bad = sum(r.errors for r in bench.tests)
        return RunView(
            run,
            label,
            quant,
            model_params(t),
            decode,
            summarize([]),
            prefill,
            n_ok,
            n_bad,
            [],
            bench,
        )
    recs = store.requests(run.id)
    s = summarize_run(recs)
    return RunView(
        run,
        label,
        quant,
        model_params(t),
        s.overall["decode_tps"],
        s.overall["ttft_ms"],
        s.overall["prefill_tps"],
        s.ok,
        s.failed,
        recs,
        None,
        s.quality,
        s.quality_per_item,
        s.health,
    )


def select_runs(store: Store, run_ids: tuple[str, ...], last: int | None) -> list[RunInfo]:
    if run_ids:
        return [store.run(r) for r in run_ids]
    runs = store.runs(last or 10)
    if not runs:
        raise TokbenchError(f"no runs in {store.location} yet: start one with `tokbench run`")
    return list(reversed(runs))  # oldest first reads like a story


def views(store: Store, run_ids: tuple[str, ...], last: int | None) -> list[RunView]:
    return [view(store, r) for r in select_runs(store, run_ids, last)]


@dataclass(frozen=True, slots=True)
class CompareRow:
    view: RunView
    group: str  # model | host | backend
    model_name: str  # the one name of the run's model identity in this comparison
    decode_delta: float | None  # vs the baseline (first run), tok/s
    decode_ratio: float | None
    ttft_ratio: float | None
    prefill_ratio: float | None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def compare(vs: list[RunView]) -> list[CompareRow]:
    """Runs grouped by model, host and backend; differences and ratios against the first run."""
    if not vs:
        return []
    base = vs[0]

    # one model, one group: runs of the same identity (embedded, served, quant, imported)
    # sort together under the name its first run gives it
    names: dict[str, str] = {}
    for v in vs:
        names.setdefault(v.run.model_key, v.run.display_model or "?")

    def key(v: RunView) -> tuple[str, str, str, str]:
        model = v.run.model_key
        return (names[model], model, v.run.host_name or "?", v.run.backend)

    rows = []
    for v in sorted(vs, key=key):
        d, b = v.decode.mean, base.decode.mean
        name, _model, host, backend = key(v)
        rows.append(
            CompareRow(
                v,
                " | ".join((name, host, backend)),
                name,
                d - b if d is not None and b is not None else None,
                _ratio(d, b),
                _ratio(v.ttft.mean, base.ttft.mean),
                _ratio(v.prefill.mean, base.prefill.mean),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class TestCompareRow:
    """One bench test (pp512, tg128 @ d4096...) of one run, against the first run's."""

    test: str
    view: RunView
    mean: float | None
    sd: float | None
    n: int
    delta: float | None  # tok/s against the baseline's same test
    ratio: float | None


def compare_tests(vs: list[RunView]) -> list[TestCompareRow]:
    """Bench runs test by test, by llama-bench's test names: tokbench's own and imported
    runs (llama-bench's) side by side; Δ and × against the first run that has the test."""
    rows: dict[str, list[TestCompareRow]] = {}
    for v in vs:
        for t in v.bench.tests if v.bench else []:
            same = rows.setdefault(t.test, [])
            base = same[0].mean if same else t.mean
            delta = t.mean - base if t.mean is not None and base is not None else None
            same.append(TestCompareRow(t.test, v, t.mean, t.sd, t.n, delta, _ratio(t.mean, base)))
    return [r for group in rows.values() for r in group]
