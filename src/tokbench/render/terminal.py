"""rich renderables for the terminal."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tokbench.core.records import RequestRecord, RunInfo, Target
from tokbench.hardware.calibration import efficiency
from tokbench.render.energy import (
    BUSY,
    REQUEST_HEAD,
    no_power_line,
    request_cells,
    run_cells,
    run_lines,
    shows_energy,
)
from tokbench.render.numbers import DASH, count, gib, mean_sd, num, pass_rate, target_label
from tokbench.results.summary import summarize_run


def run_header(run: RunInfo) -> Text:
    h = run.host
    text = Text()
    text.append(f"run {run.id}", style="bold")
    text.append(f"  {run.status}\n", style="green" if run.status == "done" else "yellow")
    text.append(f"{target_label(run.backend, run.display_model, run.url)}, suite {run.suite}\n")
    tg = run.target
    ctx = tg.details.get("context_length") or tg.n_ctx
    details = [
        f"{tg.server_kind} {tg.server_version or ''}".strip() if tg.server_kind else None,
        tg.quantization,
        tg.details.get("parameter_size"),
        f"ctx {ctx}" if ctx else None,
    ]
    if any(details):
        text.append(", ".join(str(d) for d in details if d) + "\n")
    if tg.gguf_path:
        threads = f", {run.threads} threads" if run.backend == "embedded" else ""
        if run.backend == "embedded" and run.engine_note:
            threads += f", {run.engine_note}"
        text.append(f"{tg.gguf_path} ({gib(tg.gguf_bytes)}){threads}\n")
    text.append(
        f"{h.cpu_model or '?'}, {h.physical_cores or '?'} cores, "
        f"{gib(h.ram_bytes)} RAM, {h.os or '?'}",
        style="dim",
    )
    return text


def requests_table(recs: list[RequestRecord]) -> Table:
    t = Table(title="Requests", title_justify="left")
    t.add_column("question", no_wrap=True)
    for col in (
        "rep",
        "prompt tok",
        "output tok",
        "think tok",
        "TTFT ms",
        "decode tok/s",
        "server tok/s",
        "total s",
    ):
        t.add_column(col, justify="right")
    graded = any(r.grade for r in recs)
    if graded:
        t.add_column("grade")
    t.add_column("status")
    flagged = False
    for r in recs:
        m = r.metrics
        if m is None:
            t.add_row(
                r.item_id,
                str(r.rep + 1),
                *[DASH] * (9 if graded else 8),
                Text(r.error or "error", "red"),
            )
            continue
        server = num(m.engine_decode_tps, 2)
        if m.crosscheck:
            server += " ⚠"
            flagged = True
        if r.status != "ok":
            status = Text(r.error or "error", style="red")
        else:
            status = Text(
                m.answer_state, style="green" if m.answer_state == "answered" else "yellow"
            )
        t.add_row(
            r.item_id,
            str(r.rep + 1),
            count(m.prompt_tokens, m.prompt_tokens_source),
            count(m.completion_tokens, m.completion_tokens_source),
            count(m.thinking_tokens, m.thinking_tokens_source),
            num(m.ttft_ms, 0),
            num(m.decode_tps, 2),
            server,
            num(m.total_ms / 1000, 2),
            *([_grade_text(r)] if graded else []),
            status,
        )
    if flagged:
        t.caption = (
            "⚠ client and server figures differ by more than 10% "
            "(see docs/metrics.md, 'Cross-check')"
        )
    return t


def _grade_text(r: RequestRecord) -> Text:
    if r.grade is None:
        return Text(DASH)
    style = {"pass": "green", "fail": "red", "no_answer": "yellow"}.get(r.grade.verdict, "red")
    value = f" ({r.grade.extracted})" if r.grade.extracted else ""
    return Text(r.grade.verdict + value, style=style)


def _bound_note(target: Target, decode: float | None) -> str | None:
    """How close the run came to its memory-bandwidth bound (when one is known)."""
    bound = target.bound_tps
    if not bound or decode is None or not target.bandwidth_gbs or not target.bytes_per_token:
        return None

    eta, hint = efficiency(decode, bound)
    text = (
        f"efficiency: {decode:.1f} of a {bound:.1f} tok/s bound "
        f"({target.bandwidth_gbs:.1f} GB/s measured / "
        f"{target.bytes_per_token / 1e9:.2f} GB per token) = {eta:.0%}"
    )
    return text + (f"; {hint}" if hint else "")


def summary_table(recs: list[RequestRecord], target: Target | None = None) -> Table:
    s = summarize_run(recs)
    t = Table(title=f"Summary: {s.ok} ok, {s.failed} failed (mean ± sd)", title_justify="left")
    t.add_column("question", no_wrap=True)
    for col in ("n", "TTFT ms", "prefill tok/s", "decode tok/s", "server tok/s", "output tok"):
        t.add_column(col, justify="right")
    if s.quality:
        t.add_column("pass rate [95% CI]", justify="right")
    rows = [*s.per_item.items(), ("overall", s.overall)]
    for name, ms in rows:
        quality = s.quality if name == "overall" else (s.quality_per_item or {}).get(name)
        t.add_row(
            Text(name, style="bold") if name == "overall" else name,
            str(ms["decode_tps"].n or ms["ttft_ms"].n),
            mean_sd(ms["ttft_ms"], 0),
            mean_sd(ms["prefill_tps"], 1),
            mean_sd(ms["decode_tps"], 2),
            mean_sd(ms["engine_decode_tps"], 2),
            mean_sd(ms["completion_tokens"], 0),
            *([pass_rate(quality)] if s.quality else []),
        )
    signs = {k: v for k, v in (s.health or {}).items() if v}
    notes = []
    bound = _bound_note(target or Target(), s.overall["decode_tps"].mean)
    if bound:
        notes.append(bound)
    if signs:
        notes.append(
            "answer health: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in signs.items())
        )
    loads = [r.metrics.load_ms for r in recs if r.metrics and r.metrics.load_ms]
    if loads and max(loads) > 100:
        notes.append(
            f"model load reported by the server: up to {max(loads) / 1000:.2f} s, inside that "
            "request's TTFT (a cold first request is not a slow request)"
        )
    if notes:
        t.caption = "\n".join(notes)
    return t


def energy_table(run: RunInfo, recs: list[RequestRecord]) -> RenderableType | None:
    """Each request's energy and the host's load while it ran, the run's totals below;
    without a power source one line saying how to add one."""
    e = run.energy
    if e is None and not any(r.energy or r.host for r in recs):
        return None  # measured before tokbench kept energy
    if e is not None and not shows_energy(e):
        return Text(no_power_line(e))
    source = e.power_source if e else "?"
    t = Table(title=f"Energy: {source}", title_justify="left")
    t.add_column("question", no_wrap=True)
    t.add_column("rep", justify="right")
    for col in REQUEST_HEAD:
        t.add_column(col, justify="left" if col == "host" else "right")
    for r in recs:
        t.add_row(r.item_id, str(r.rep + 1), *request_cells(r.energy, r.host))
    notes = run_lines(e) if e else []
    if any(r.energy and (r.energy.approximate or r.energy.prefill_approximate) for r in recs):
        notes.append("~ approximate: a window shorter than the sampling interval, interpolated")
    t.caption = "\n".join(notes)
    return t


def run_view(run: RunInfo, recs: list[RequestRecord]) -> Group:
    parts: list[RenderableType] = [
        run_header(run),
        requests_table(recs),
        summary_table(recs, run.target),
    ]
    energy = energy_table(run, recs)
    if energy is not None:
        parts.append(energy)
    return Group(*parts)


def history_table(
    runs: list[RunInfo], counts: dict[str, tuple[int, int]], orphaned: set[str] | None = None
) -> Table:
    """`orphaned`: runs still marked running whose process is gone (`Store.orphaned`)."""
    t = Table(title="Runs (newest first)", title_justify="left")
    for col in ("id", "started (UTC)", "kind", "status", "backend", "model", "suite"):
        t.add_column(col)
    t.add_column("ok/failed", justify="right")
    energy = any(r.energy is not None for r in runs)
    if energy:
        t.add_column("J/token", justify="right")
        t.add_column("host")
    for r in runs:
        ok, bad = counts.get(r.id, (0, 0))
        extra = []
        if energy:
            cells = run_cells(r.energy)
            extra = [cells[0], BUSY if r.energy and r.energy.busy_requests else ""]
        t.add_row(
            r.id,
            r.created_at[:19].replace("T", " "),
            r.kind,
            "interrupted?" if r.id in (orphaned or ()) else r.status,
            r.backend,
            r.display_model or DASH,
            r.suite or DASH,
            f"{ok}/{bad}",
            *extra,
        )
    if orphaned:
        t.caption = (
            "interrupted?: still marked running, but the process that ran it on this host is "
            "gone (killed, or the machine went down); --resume RUN_ID continues it"
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
