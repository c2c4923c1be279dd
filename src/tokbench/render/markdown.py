"""results.md: a paste-ready table like the seed article's, then the answers."""

from __future__ import annotations

from tokbench.core.records import RequestRecord, RunInfo, RunSettings
from tokbench.render.energy import (
    REQUEST_HEAD,
    no_power_line,
    request_cells,
    run_lines,
    shows_energy,
)
from tokbench.render.numbers import DASH, count, gib, mean_sd, num, pass_rate, target_label
from tokbench.render.safe import fence, md, md_row
from tokbench.results.summary import summarize_run


def run_markdown(run: RunInfo, recs: list[RequestRecord]) -> str:
    s = summarize_run(recs)
    host = run.host
    repeat = run.config.run.repeat if isinstance(run.config, RunSettings) else 1
    lines = [
        f"# tokbench run {run.id}",
        "",
        f"- **Target**: {md(target_label(run.backend, run.display_model, run.url))}",
        f"- **Suite**: {md(run.suite or '?')} ({repeat} × each item)",
        f"- **Host**: {md(host.cpu_model or '?')}, {host.physical_cores or '?'} cores, "
        f"{gib(host.ram_bytes)} RAM, {md(host.os or '?')}",
        f"- **Started**: {md(run.created_at)}; **status**: {run.status}, {s.ok} ok, "
        f"{s.failed} failed",
    ]
    tg = run.target
    if tg.gguf_path:
        threads = f", {run.threads} threads" if run.backend == "embedded" else ""
        if run.backend == "embedded" and run.engine_note:
            threads += f", {md(run.engine_note)}"
        lines.append(
            f"- **Model file**: {md(tg.gguf_path)} ({gib(tg.gguf_bytes)}, "
            f"{md(tg.quantization or '?')}){threads}"
        )
    lines += [
        "",
        "| Question | Rep | Prompt tok | Output tok | TTFT ms | Decode tok/s | Total s | Grade "
        "| Status |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in recs:
        m = r.metrics
        lines.append(
            md_row(
                [
                    r.item_id,
                    r.rep + 1,
                    count(m.prompt_tokens, m.prompt_tokens_source) if m else DASH,
                    count(m.completion_tokens, m.completion_tokens_source) if m else DASH,
                    num(m.ttft_ms, 0) if m else DASH,
                    num(m.decode_tps, 2) if m else DASH,
                    num(m.total_ms / 1000, 2) if m else DASH,
                    f"{r.grade.verdict} ({r.grade.extracted})"
                    if r.grade and r.grade.extracted
                    else r.grade.verdict
                    if r.grade
                    else DASH,
                    "ok" if r.status == "ok" else f"error: {r.error}",
                ]
            )
        )
    o = s.overall
    lines += [
        "",
        f"**Overall** ({s.ok} ok): decode {mean_sd(o['decode_tps'], 2)} tok/s, "
        f"TTFT {mean_sd(o['ttft_ms'], 0)} ms, prefill {mean_sd(o['prefill_tps'], 1)} tok/s. "
        "Counts marked ~ are estimates (one token per streamed chunk)."
        + (f" **Pass rate**: {pass_rate(s.quality)} (Wilson 95% interval)." if s.quality else ""),
        *_energy_lines(run, recs),
        "",
        "## Answers",
    ]
    for r in recs:
        lines += ["", f"### {md(r.item_id)} (rep {r.rep + 1})", "", "**Prompt**", ""]
        lines.append(fence(r.prompt))
        if r.thinking:
            lines += ["", "**Thinking**", "", fence(r.thinking)]
        lines += ["", "**Answer**", "", fence(r.answer) if r.answer else "_(empty)_"]
        if r.grade:
            lines += ["", f"**Grade**: {md(r.grade.verdict)} — {md(r.grade.reason)}"]
        if r.error:
            lines += ["", f"**Error**: {md(r.error)}"]
    return "\n".join(lines) + "\n"


def _energy_lines(run: RunInfo, recs: list[RequestRecord]) -> list[str]:
    """The energy table (each request, then the run's totals); none for older runs."""
    if run.energy is None and not any(r.energy or r.host for r in recs):
        return []
    if run.energy is not None and not shows_energy(run.energy):
        return ["", f"- {md(no_power_line(run.energy))}"]
    source = run.energy.power_source if run.energy else "?"
    lines = [
        "",
        f"## Energy ({md(source)})",
        "",
        "| Question | Rep | " + " | ".join(REQUEST_HEAD) + " |",
        "|---|---:|" + "---:|" * (len(REQUEST_HEAD) - 1) + "---|",
    ]
    for r in recs:
        lines.append(md_row([r.item_id, r.rep + 1, *request_cells(r.energy, r.host)]))
    if run.energy:
        lines += ["", *(f"- {md(line)}" for line in run_lines(run.energy))]
    lines.append("- ~ marks approximate energy: a window shorter than the sampling interval.")
    return lines
