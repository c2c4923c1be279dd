"""This box's own decode efficiency, from its benches: η = a generation test's tok/s ÷ the
bound stored with the run (measured bandwidth ÷ the model's bytes per token), per model
kind, so `tokbench estimate` on this host can put it in place of the published prior."""

from __future__ import annotations

from pathlib import Path

from tokbench.core.records import Target, stop_rules
from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import analyze
from tokbench.gguf.reader import read_model
from tokbench.hardware.calibration import MeasuredEfficiency, decode_efficiency, kind_of
from tokbench.results.bench import summarize_bench
from tokbench.store.database import Store

RECENT_RUNS = 50  # the newest runs looked at: old benches may predate a hardware change


def _kind(target: Target) -> str | None:
    """dense or moe, from the model file when it is still here (nothing else says it)."""
    path = Path(target.gguf_path) if target.gguf_path else None
    if path is None or not path.is_file():
        return None
    try:
        return kind_of(moe=bool(analyze(read_model(path)).experts), gpu=False)
    except TokbenchError:
        return None


def own_efficiency(store: Store, host: str) -> tuple[MeasuredEfficiency, ...]:
    """One figure per model benched on `host` with a known bound: the lowest and highest
    95 % interval end of its generation tests over the recent runs, as η."""
    found: dict[str, tuple[str, list[float], list[str], float]] = {}
    for run in store.runs(limit=RECENT_RUNS):
        if run.kind != "bench" or run.source or run.host_name != host:
            continue
        for row in summarize_bench(store.bench_samples(run.id), stop_rules(run)).tests:
            target = run.targets.get(row.model)
            bound = target.bound_tps if target else None
            if target is None or not bound or not target.bytes_per_token:
                continue
            etas = [
                e
                for tps in (row.ci_low, row.ci_high, row.mean)
                if (e := decode_efficiency(row.test, tps, bound)) is not None
            ]
            kind = _kind(target) if etas else None
            if kind is None:
                continue
            entry = found.setdefault(row.model, (kind, [], [], float(target.bytes_per_token)))
            entry[1].extend(etas)
            entry[2].append(f"{run.id} {row.test}")
    return tuple(
        MeasuredEfficiency(
            kind,
            min(etas),
            max(etas),
            len(tests),
            f"{model}: {', '.join(tests[:3])}{' ...' if len(tests) > 3 else ''}",
            bytes_per_token,
        )
        for model, (kind, etas, tests, bytes_per_token) in found.items()
    )
