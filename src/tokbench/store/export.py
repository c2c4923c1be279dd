"""Every request (or bench sample) with its metrics and its run's metadata, flat rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, fields
from typing import Any

from tokbench.core.energy import HostWindow, RequestEnergy
from tokbench.core.records import BENCH_KINDS, BenchSample, RequestMetrics, RunInfo, Target
from tokbench.store.database import Store
from tokbench.store.quant import RESULT_COLUMNS, quant_reference, quant_results

RUN_COLUMNS = (
    "run_id",
    "run_created_at",
    "run_kind",
    "run_status",
    "backend",
    "url",
    "model",
    "model_id",  # the model's identity (a GGUF's sha256, else served id/quant/size)
    "model_name",  # its one display name, the same across run kinds
    "suite",
    "host_name",
    "cpu_model",
    "quantization",
    "tokbench_version",
)
METRIC_COLUMNS = tuple(f.name for f in fields(RequestMetrics))


def _run_cols(run: RunInfo) -> dict[str, Any]:
    target = run.target if run.kind not in BENCH_KINDS else Target()
    return {
        "run_id": run.id,
        "run_created_at": run.created_at,
        "run_kind": run.kind,
        "run_status": run.status,
        "backend": run.backend,
        "url": run.url,
        "model": run.model,
        "model_id": run.model_id,
        "model_name": run.display_model,
        "suite": run.suite,
        "host_name": run.host_name,
        "cpu_model": run.host.cpu_model,
        "quantization": target.quantization,
        "tokbench_version": run.tokbench_version,
    }


def _identity(target: Target | None) -> dict[str, Any]:
    """A bench sample's own model's identity (a bench may measure several models)."""
    if target is None or not target.model_id:
        return {}
    return {"model_id": target.model_id, "model_name": target.model_name}


# Energy and host-load columns (docs/metrics.md): only when an exported run has them, so
# exports of older runs keep their columns.
ENERGY_COLUMNS = (
    "power_source",
    "energy_j",
    "prefill_j",
    "decode_j",
    "model_energy_j",
    "j_per_token",
    "j_per_output_token",
    "j_per_prompt_token",
    "tokens_per_kwh",
    "avg_power_w",
    "peak_power_w",
    "energy_approximate",
    "busy",
    "busy_reason",
    "other_cpu_cores",
    "own_cpu_cores",
    "cpu_freq_mhz",
    "swap_in_pages",
    "swap_out_pages",
    "major_faults",
)


def has_energy(runs: list[RunInfo]) -> bool:
    return any(r.energy is not None for r in runs)


def energy_cols(run: RunInfo, e: RequestEnergy | None, h: HostWindow | None) -> dict[str, Any]:
    ed = e.to_json() if e else {}
    hd = h.to_json() if h else {}
    return {
        "power_source": run.energy.power_source if run.energy else None,
        **{k: ed.get(k) for k in ENERGY_COLUMNS[1:11]},
        "energy_approximate": e.approximate if e else None,
        **{k: hd.get(k) for k in ENERGY_COLUMNS[12:]},
    }


def columns(runs: list[RunInfo], bench: bool) -> tuple[str, ...]:
    base = BENCH_COLUMNS if bench else REQUEST_COLUMNS
    return (*base, *ENERGY_COLUMNS) if has_energy(runs) else base


def request_rows(store: Store, runs: list[RunInfo]) -> Iterator[dict[str, Any]]:
    energy = has_energy(runs)
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
                **(energy_cols(run, r.energy, r.host) if energy else {}),
            }


def bench_rows(store: Store, runs: list[RunInfo]) -> Iterator[dict[str, Any]]:
    energy = has_energy(runs)
    for run in runs:
        base = _run_cols(run)
        for s in store.bench_samples(run.id):
            target = run.targets.get(s.model)
            yield {
                **base,
                **_identity(target),
                **{k: v for k, v in asdict(s).items() if k not in ("run_id", "energy", "host")},
                **(energy_cols(run, s.energy, s.host) if energy else {}),
            }


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
BENCH_COLUMNS = (
    *RUN_COLUMNS,
    *(f.name for f in fields(BenchSample) if f.name not in ("run_id", "energy", "host")),
)


# Quant comparisons (`export --quant`): one row per candidate model, the reference's
# identity beside it (docs/metrics.md, "Quant quality").
QUANT_COLUMNS = (
    *RUN_COLUMNS,
    "reference_model",
    "reference_sha256",
    "reference_source",
    "text_name",
    *RESULT_COLUMNS,
)


def quant_rows(store: Store, runs: list[RunInfo]) -> Iterator[dict[str, Any]]:
    for run in runs:
        if run.kind != "quant":
            continue
        ref = quant_reference(store, run.id)
        base = {
            **_run_cols(run),
            "reference_model": ref.model_name if ref else None,
            "reference_sha256": ref.model_sha256 if ref else None,
            "reference_source": ref.source if ref else None,
            "text_name": ref.text_name if ref else None,
        }
        for r in quant_results(store, run.id):
            yield {**base, **asdict(r)}
