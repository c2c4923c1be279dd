"""An eval run's estimate per benchmark: terminal table and JSON document."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tokbench.core.records import RequestRecord, RunInfo
from tokbench.evals.summary import BenchmarkResult, Published, TimeEstimate, published_for
from tokbench.render.numbers import num
from tokbench.render.safe import plain
from tokbench.render.terminal import run_header

NOTE = (
    "95 % Wilson interval with finite-population correction over a prefix of the "
    "prefix-fair order (a proportional stratified sample of the full set). Truncated and "
    "thinking-only answers count wrong; failed and cut requests are not graded."
)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def interval(r: BenchmarkResult) -> str:
    e = r.estimate
    if e.low is None or e.high is None:
        return "—"
    return f"{100 * e.low:.1f}–{100 * e.high:.1f} (±{e.half_width_pts:.1f})"


def published_cell(p: Published | None, r: BenchmarkResult) -> str:
    if p is None:
        return ""
    e = r.estimate
    where = ""
    if e.low is not None and e.high is not None:
        inside = 100 * e.low <= p.accuracy_pct <= 100 * e.high
        where = " (inside the interval)" if inside else " (outside the interval)"
    return f"{p.accuracy_pct:.1f} % {p.model}, {p.setting}{where}"


def eval_table(run: RunInfo, results: list[BenchmarkResult]) -> Table:
    t = Table(title="Accuracy, estimated for the full set", title_justify="left", caption=NOTE)
    for col in ("benchmark", "graded", "accuracy", "95 % interval", "full set"):
        t.add_column(col, justify="left" if col == "benchmark" else "right")
    for col in ("truncated", "thinking only", "failed", "cut", "decode t/s", "J/token"):
        t.add_column(col, justify="right")
    pubs = [published_for(run.model, r.benchmark) for r in results]
    if any(pubs):
        t.add_column("published")
    for r, p in zip(results, pubs, strict=True):
        e = r.estimate
        row = [
            r.benchmark,
            f"{e.graded}/{r.planned}",
            _pct(e.accuracy),
            interval(r),
            f"{e.population:,}",
            str(r.truncated),
            str(r.thinking_only),
            str(r.failed),
            str(r.cut),
            num(r.decode_tps),
            num(r.j_per_token, 2),
        ]
        t.add_row(*row, *([plain(published_cell(p, r))] if any(pubs) else []))
    return t


def eval_view(run: RunInfo, results: list[BenchmarkResult], stopped_by: str | None) -> Group:
    parts: list[Any] = [run_header(run), eval_table(run, results)]
    if stopped_by:
        parts.append(Text(f"stopped: {stopped_by}", style="dim"))
    return Group(*parts)


def eval_json(run: RunInfo, results: list[BenchmarkResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        e = r.estimate
        p = published_for(run.model, r.benchmark)
        out.append(
            {
                "benchmark": r.benchmark,
                "correct": e.correct,
                "graded": e.graded,
                "planned": r.planned,
                "population": e.population,
                "accuracy": e.accuracy,
                "ci95_low": e.low,
                "ci95_high": e.high,
                "half_width_pts": e.half_width_pts,
                "truncated": r.truncated,
                "thinking_only": r.thinking_only,
                "failed": r.failed,
                "cut": r.cut,
                "decode_tps_median": r.decode_tps,
                "j_per_token": r.j_per_token,
                "published": None
                if p is None
                else {
                    "model": p.model,
                    "accuracy_pct": p.accuracy_pct,
                    "setting": p.setting,
                    "source": p.source,
                },
            }
        )
    return out


def eval_document(
    run: RunInfo, records: list[RequestRecord], results: list[BenchmarkResult], stopped_by: str
) -> dict[str, Any]:
    return {
        "run": run.to_json(),
        "stopped_by": stopped_by,
        "benchmarks": eval_json(run, results),
        "method": NOTE,
        "requests": len(records),
    }


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h" if s < 3 * 86400 else f"{s / 86400:.1f} days"


def time_table(rows: list[TimeEstimate]) -> Table:
    first = rows[0]
    bound = "" if first.prefill_tps else " (prefill not counted: a lower bound)"
    t = Table(
        title=f"Time for {first.items} items at {first.decode_tps:g} tok/s decode{bound}",
        title_justify="left",
    )
    for col in ("reply tokens / item", "per item", "total"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(f"{r.reply_tokens:,}", _duration(r.seconds / r.items), _duration(r.seconds))
    return t


def time_document(rows: list[TimeEstimate]) -> list[dict[str, Any]]:
    return [
        {
            "items": r.items,
            "reply_tokens": r.reply_tokens,
            "prompt_tokens": r.prompt_tokens,
            "decode_tps": r.decode_tps,
            "prefill_tps": r.prefill_tps,
            "seconds": r.seconds,
        }
        for r in rows
    ]


def eval_markdown(run: RunInfo, results: list[BenchmarkResult]) -> str:
    from tokbench.render.safe import md, md_row

    head = (
        "| benchmark | graded | accuracy | 95 % interval | full set | counted wrong: truncated"
        " or thinking only | failed | cut | decode t/s | published |"
    )
    lines = [
        "### Accuracy, estimated for the full set",
        "",
        head,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        e = r.estimate
        p = published_for(run.model, r.benchmark)
        cells = [
            r.benchmark,
            f"{e.graded}/{r.planned}",
            _pct(e.accuracy),
            interval(r),
            f"{e.population:,}",
            str(r.truncated + r.thinking_only),
            str(r.failed),
            str(r.cut),
            num(r.decode_tps),
            published_cell(p, r),
        ]
        lines.append(md_row(cells))
    return "\n".join([*lines, "", md(NOTE), ""]) + "\n"
