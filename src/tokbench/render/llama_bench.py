"""Bench results in llama-bench's shapes (`bench --format llama-bench-md|llama-bench-json`),
the tables llama.cpp's community pastes and its compare script reads."""

from __future__ import annotations

from dataclasses import replace

from tokbench.core.records import BenchSample, RunInfo
from tokbench.interop.export_llama_bench import BenchRow, render_json, render_markdown
from tokbench.render.safe import md
from tokbench.results.bench import BenchSummary


def bench_rows(run: RunInfo, summary: BenchSummary, samples: list[BenchSample]) -> list[BenchRow]:
    out = []
    for t in summary.tests:
        if t.mean is None or t.test.startswith("soak"):
            continue
        target = run.targets.get(t.model)
        reps = tuple(
            s.tps
            for s in samples
            if s.model == t.model
            and s.test == t.test
            and s.rep >= 0
            and s.concurrency == 1
            and s.status == "ok"
            and s.tps is not None
        )
        flash = target.details.get("flash_attn") if target else None
        out.append(
            BenchRow(
                model=t.model,
                test=t.test,
                mean_tps=t.mean,
                sd_tps=t.sd or 0.0,
                n=t.n,
                samples_tps=reps,
                model_filename=(target.gguf_path if target else None) or "",
                model_size_bytes=target.gguf_bytes if target else None,
                model_params=target.n_params if target else None,
                backend="CPU" if run.backend == "embedded" else (run.backend or "CPU"),
                threads=(target.threads if target else None) or run.threads,
                cpu_info=run.host.cpu_model or "",
                test_time=run.created_at,
                settings=(("flash_attn", bool(flash)),) if flash is not None else (),
            )
        )
    return out


def markdown(run: RunInfo, summary: BenchSummary, samples: list[BenchSample]) -> str:
    """The table; its text cells (a server's model name) escaped for Markdown."""
    rows = bench_rows(run, summary, samples)
    return render_markdown([replace(r, model=md(r.model), backend=md(r.backend)) for r in rows])


def json_records(run: RunInfo, summary: BenchSummary, samples: list[BenchSample]) -> str:
    return render_json(bench_rows(run, summary, samples))
