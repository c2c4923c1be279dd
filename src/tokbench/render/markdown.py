"""results.md: a paste-ready table like the seed article's, then the answers."""

from __future__ import annotations

import re

from tokbench.core.records import RequestRecord, RunInfo, RunSettings
from tokbench.render.energy import (
    REQUEST_HEAD,
    no_power_line,
    request_cells,
    run_lines,
    shows_energy,
)
from tokbench.render.fmt import DASH, count, gib, mean_sd, num, pass_rate, target_label
from tokbench.results.summary import summarize_run

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#"} | {"\n": " ", "\r": " "})


def cell(text: str) -> str:
    """Foreign text (model, suite, host names) inert in Markdown: no emphasis, link, HTML
    or table cell break can come out of it."""
    return text.translate(_MD_SPECIAL)


def fence(text: str) -> str:
    """A code fence longer than any backtick run inside, so model output can't break out."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{text}\n{ticks}"


def run_markdown(run: RunInfo, recs: list[RequestRecord]) -> str:
    s = summarize_run(recs)
    host = run.host
    repeat = run.config.run.repeat if isinstance(run.config, RunSettings) else 1
    lines = [
        f"# tokbench run {run.id}",
        "",
        f"- **Target**: {cell(target_label(run.backend, run.model, run.url))}",
        f"- **Suite**: {cell(run.suite or '?')} ({repeat} × each item)",
        f"- **Host**: {cell(host.cpu_model or '?')}, {host.physical_cores or '?'} cores, "
        f"{gib(host.ram_bytes)} RAM, {cell(host.os or '?')}",
        f"- **Started**: {run.created_at}; **status**: {run.status}, {s.ok} ok, {s.failed} failed",
    ]
    tg = run.target
    if tg.gguf_path:
        threads = f", {run.threads} threads" if run.backend == "embedded" else ""
        lines.append(
            f"- **Model file**: {cell(tg.gguf_path)} ({gib(tg.gguf_bytes)}, "
            f"{tg.quantization or '?'}){threads}"
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
            "| "
            + " | ".join(
                [
                    cell(r.item_id),
                    str(r.rep + 1),
                    count(m.prompt_tokens, m.prompt_tokens_source) if m else DASH,
                    count(m.completion_tokens, m.completion_tokens_source) if m else DASH,
                    num(m.ttft_ms, 0) if m else DASH,
                    num(m.decode_tps, 2) if m else DASH,
                    num(m.total_ms / 1000, 2) if m else DASH,
                    cell(
                        f"{r.grade.verdict} ({r.grade.extracted})"
                        if r.grade and r.grade.extracted
                        else r.grade.verdict
                        if r.grade
                        else DASH
                    ),
                    "ok" if r.status == "ok" else cell(f"error: {r.error}"),
                ]
            )
            + " |"
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
        lines += ["", f"### {r.item_id} (rep {r.rep + 1})", "", "**Prompt**", "", fence(r.prompt)]
        if r.thinking:
            lines += ["", "**Thinking**", "", fence(r.thinking)]
        lines += ["", "**Answer**", "", fence(r.answer) if r.answer else "_(empty)_"]
        if r.grade:
            lines += ["", f"**Grade**: {r.grade.verdict} — {cell(r.grade.reason)}"]
        if r.error:
            lines += ["", f"**Error**: {r.error}"]
    return "\n".join(lines) + "\n"


def _energy_lines(run: RunInfo, recs: list[RequestRecord]) -> list[str]:
    """The energy table (each request, then the run's totals); none for older runs."""
    if run.energy is None and not any(r.energy or r.host for r in recs):
        return []
    if run.energy is not None and not shows_energy(run.energy):
        return ["", f"- {cell(no_power_line(run.energy))}"]
    source = run.energy.power_source if run.energy else "?"
    lines = [
        "",
        f"## Energy ({cell(source)})",
        "",
        "| Question | Rep | " + " | ".join(REQUEST_HEAD) + " |",
        "|---|---:|" + "---:|" * (len(REQUEST_HEAD) - 1) + "---|",
    ]
    for r in recs:
        cells = [cell(r.item_id), str(r.rep + 1), *request_cells(r.energy, r.host)]
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    if run.energy:
        lines += ["", *(f"- {cell(line)}" for line in run_lines(run.energy))]
    lines.append("- ~ marks approximate energy: a window shorter than the sampling interval.")
    return lines
