"""Every request (or bench sample) with its metrics and its run's metadata, flat rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, fields
from typing import Any

from tokbench.core.records import BenchSample, RequestMetrics, RunInfo, Target
from tokbench.store.database import Store

RUN_COLUMNS = (
    "run_id",
    "run_created_at",
    "run_kind",
    "run_status",
    "backend",
    "url",
    "model",
    "suite",
    "host_name",
    "cpu_model",
    "quantization",
    "tokbench_version",
)
METRIC_COLUMNS = tuple(f.name for f in fields(RequestMetrics))


def _run_cols(run: RunInfo) -> dict[str, Any]:
    target = run.target if run.kind != "bench" else Target()
    return {
        "run_id": run.id,
        "run_created_at": run.created_at,
        "run_kind": run.kind,
        "run_status": run.status,
        "backend": run.backend,
        "url": run.url,
        "model": run.model,
        "suite": run.suite,
        "host_name": run.host_name,
        "cpu_model": run.host.cpu_model,
        "quantization": target.quantization,
        "tokbench_version": run.tokbench_version,
    }


def request_rows(store: Store, runs: list[RunInfo]) -> Iterator[dict[str, Any]]:
    for run in runs:
        base = _run_cols(run)
        for r in store.requests(run.id):
            m = r.metrics.as_dict() if r.metrics else dict.fromkeys(METRIC_COLUMNS)
            yield {
                **base,
                "item_id": r.item_id,
                "rep": r.rep,
                "started_at": r.started_at,
                "status": r.status,
                "error": r.error,
                **m,
                "prompt": r.prompt,
                "answer": r.answer,
                "thinking": r.thinking,
            }


def bench_rows(store: Store, runs: list[RunInfo]) -> Iterator[dict[str, Any]]:
    for run in runs:
        base = _run_cols(run)
        for s in store.bench_samples(run.id):
            yield {**base, **{k: v for k, v in asdict(s).items() if k != "run_id"}}


REQUEST_COLUMNS = (
    *RUN_COLUMNS,
    "item_id",
    "rep",
    "started_at",
    "status",
    "error",
    *METRIC_COLUMNS,
    "prompt",
    "answer",
    "thinking",
)
BENCH_COLUMNS = (*RUN_COLUMNS, *(f.name for f in fields(BenchSample) if f.name != "run_id"))
