"""rich renderables for the terminal."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tokbench.render.fmt import DASH, count, gib, mean_sd, num, target_label
from tokbench.store import RequestRecord, RunInfo
from tokbench.summary import summarize_run


def run_header(run: RunInfo) -> Text:
    h = run.host
    text = Text()
    text.append(f"run {run.id}", style="bold")
    text.append(f"  {run.status}\n", style="green" if run.status == "done" else "yellow")
    text.append(f"{target_label(run.backend, run.model, run.url)}, suite {run.suite}\n")
    if run.target.get("gguf_path"):
        text.append(
            f"{run.target['gguf_path']} ({gib(run.target.get('gguf_bytes'))}), "
            f"{run.config.get('threads')} threads\n"
        )
    text.append(
        f"{h.get('cpu_model', '?')}, {h.get('physical_cores', '?')} cores, "
        f"{gib(h.get('ram_bytes'))} RAM, {h.get('os', '?')}",
        style="dim",
    )
    return text


def requests_table(recs: list[RequestRecord]) -> Table:
    t = Table(title="Requests", title_justify="left")
    t.add_column("question", no_wrap=True)
    for col in ("rep", "prompt tok", "output tok", "TTFT ms", "decode tok/s", "total s"):
        t.add_column(col, justify="right")
    t.add_column("status")
    for r in recs:
        m = r.metrics
        t.add_row(
            r.item_id,
            str(r.rep + 1),
            count(m.prompt_tokens, m.prompt_tokens_source) if m else DASH,
            count(m.completion_tokens, m.completion_tokens_source) if m else DASH,
            num(m.ttft_ms, 0) if m else DASH,
            num(m.decode_tps, 2) if m else DASH,
            num(m.total_ms / 1000, 2) if m else DASH,
            Text("ok", style="green")
            if r.status == "ok"
            else Text(r.error or "error", style="red"),
        )
    return t


def summary_table(recs: list[RequestRecord]) -> Table:
    s = summarize_run(recs)
    t = Table(title=f"Summary: {s.ok} ok, {s.failed} failed (mean ± sd)", title_justify="left")
    t.add_column("question", no_wrap=True)
    for col in ("n", "TTFT ms", "prefill tok/s", "decode tok/s", "output tok"):
        t.add_column(col, justify="right")
    rows = [*s.per_item.items(), ("overall", s.overall)]
    for name, ms in rows:
        t.add_row(
            Text(name, style="bold") if name == "overall" else name,
            str(ms["decode_tps"].n or ms["ttft_ms"].n),
            mean_sd(ms["ttft_ms"], 0),
            mean_sd(ms["prefill_tps"], 1),
            mean_sd(ms["decode_tps"], 2),
            mean_sd(ms["completion_tokens"], 0),
        )
    return t


def run_view(run: RunInfo, recs: list[RequestRecord]) -> Group:
    return Group(run_header(run), requests_table(recs), summary_table(recs))


def history_table(runs: list[RunInfo], counts: dict[str, tuple[int, int]]) -> Table:
    t = Table(title="Runs (newest first)", title_justify="left")
    for col in ("id", "started (UTC)", "status", "backend", "model", "suite"):
        t.add_column(col)
    t.add_column("ok/failed", justify="right")
    for r in runs:
        ok, bad = counts.get(r.id, (0, 0))
        t.add_row(
            r.id,
            r.created_at[:19].replace("T", " "),
            r.status,
            r.backend,
            r.model or DASH,
            r.suite or DASH,
            f"{ok}/{bad}",
        )
    return t


def answers_view(recs: list[RequestRecord]) -> Group:
    """Answers as plain text: model output is never interpreted as markup."""
    parts: list[Text] = []
    for r in recs:
        parts.append(Text(f"\n── {r.item_id} (rep {r.rep + 1}) ──", style="bold"))
        if r.thinking:
            parts.append(Text("[thinking]\n" + r.thinking, style="dim"))
        parts.append(Text(r.answer or "(empty)"))
    return Group(*parts)
