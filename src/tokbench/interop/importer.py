"""`tokbench import`: other tools' result files become runs in the store, their numbers kept
as the files gave them (per-repetition samples only where the file has them)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokbench.core.config import BENCH_TIMEOUT_S, BenchConfig, Connection, EngineSettings
from tokbench.core.records import (
    BenchSample,
    BenchSettings,
    HostInfo,
    RunInfo,
    Target,
    TestStats,
    new_run_id,
    utc_now,
)
from tokbench.interop.detect import parse_file
from tokbench.interop.records import ImportedRun, ImportedTest, Summary
from tokbench.store.database import Store
from tokbench.store.ledger import new_run


@dataclass(frozen=True, slots=True)
class Imported:
    path: Path
    run_id: str | None  # None: the same file was imported before
    tool: str
    tests: int
    notes: tuple[str, ...]


def import_files(
    paths: list[Path],
    store: Store,
    *,
    fmt: str | None = None,
    host_name: str = "imported",
    on_file: Callable[[Imported], None] | None = None,
) -> list[Imported]:
    """Parse and store each file; a file already imported (same bytes) is left alone.
    Raises on the first file that cannot be read or parsed, after storing those before."""
    done = []
    for path in paths:
        parsed = parse_file(path, fmt)
        run, tests, samples = to_records(parsed, new_run_id(host_name))
        stored = store.add_run(run, samples=samples, tests=tests)
        item = Imported(
            path, run.id if stored else None, run.source or "?", len(tests), parsed.notes
        )
        done.append(item)
        if on_file:
            on_file(item)
    return done


def to_records(
    parsed: ImportedRun, run_id: str
) -> tuple[RunInfo, list[TestStats], list[BenchSample]]:
    model = parsed.model or parsed.model_file or "unknown model"
    created = parsed.created_at or utc_now()
    source = (
        f"{parsed.source_tool} {parsed.source_version}".strip()
        if parsed.source_version
        else parsed.source_tool
    )
    target = Target(
        backend_kind=parsed.source_tool,
        server_kind=parsed.backend,
        server_version=_build(parsed),
        base_url=parsed.server_url,
        gguf_path=parsed.model_file,
        gguf_bytes=parsed.model_size_bytes,
        quantization=parsed.model_quant,
        n_params=parsed.model_params,
        threads=parsed.threads,
        details={
            k: v
            for k, v in {
                "gpu": parsed.gpu,
                "n_gpu_layers": parsed.n_gpu_layers,
                "import_format": parsed.format,
                "notes": list(parsed.notes),
                "extra": json.loads(parsed.extra),
            }.items()
            if v not in (None, [], {})
        },
    )
    run = new_run(
        "bench",
        BenchSettings(
            BenchConfig(
                Connection(url=parsed.server_url, timeout_s=BENCH_TIMEOUT_S),
                EngineSettings(threads=parsed.threads),
                models=(model,),
            )
        ),
        HostInfo(
            cpu_model=parsed.cpu,
            os=parsed.platform,
            details={"gpu": parsed.gpu} if parsed.gpu else {},
        ),
        backend=parsed.source_tool,
        url=parsed.server_url,
        model=model,
        targets={model: target},
        status="done",
        created_at=created,
        finished_at=created,  # the file's own time: when the other tool ran
        run_id=run_id,
        source=source,
        source_sha256=parsed.file_sha256,
        version="imported",
    )
    tests = [_stats(model, t) for t in parsed.tests]
    samples = [
        BenchSample(
            run_id=run_id,
            model=model,
            test=t.name,
            concurrency=1,
            rep=i,
            stream=0,
            started_at=created,
            t_s=0.0,
            status="ok",
            note="imported",
            tps=tps,
            server_tps=None,
            tokens=None,
            ttft_ms=None,
            span_s=None,
        )
        for t in parsed.tests
        for i, tps in enumerate(t.samples_tps)
    ]
    return run, tests, samples


def _build(parsed: ImportedRun) -> str | None:
    parts = [
        p
        for p in (parsed.build_commit, f"b{parsed.build_number}" if parsed.build_number else None)
        if p
    ]
    return " ".join(parts) or None


def _stats(model: str, t: ImportedTest) -> TestStats:
    # Built field by field: dataclasses.asdict deep-copies every params pair, which made a
    # big import spend most of its time here.
    stats = {
        "ttft_ms": _summary(t.ttft_ms),
        "tpot_ms": _summary(t.tpot_ms),
        "itl_ms": _summary(t.itl_ms),
        "e2el_ms": _summary(t.e2el_ms),
        "request_throughput_rps": t.request_throughput_rps,
        "output_throughput_tps": t.output_throughput_tps,
        "total_throughput_tps": t.total_throughput_tps,
        "request_rate_rps": _finite(t.request_rate_rps),
        "completed": t.completed,
        "failed": t.failed,
        "duration_s": t.duration_s,
        "summaries": [(name, _summary(s)) for name, s in t.summaries],
        "params": t.params,  # pairs, as lists once stored
        "extra": _finite(json.loads(t.extra)),
    }
    return TestStats(
        model=model,
        test=t.name,
        kind=t.kind,
        n_prompt=t.n_prompt,
        n_gen=t.n_gen,
        depth=t.depth,
        concurrency=t.concurrency,
        mean_tps=t.mean_tps,
        sd_tps=t.sd_tps,
        n=t.n,
        samples_tps=t.samples_tps,
        stats=stats,
    )


def _summary(s: Summary | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "mean": s.mean,
        "median": s.median,
        "sd": s.sd,
        "min": s.min,
        "max": s.max,
        "count": s.count,
        "percentiles": s.percentiles,
    }


def _finite(value: Any) -> Any:
    """JSON has no infinity (a request rate of 'all at once'): kept as the string "inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
