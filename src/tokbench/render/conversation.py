"""A conversation run on the terminal and as JSON: per turn TTFT, context, prefill
computed, cached, hit rate and decode speed; then the run's hit rate and goodput."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, astuple, fields
from typing import Any

from rich.table import Table

from tokbench.conversations.capacity import Capacity
from tokbench.conversations.lostcost import CostPoint
from tokbench.conversations.slo import Goodput
from tokbench.conversations.turns import ConversationReport, ConversationSummary, TurnRow
from tokbench.core.records import RunInfo
from tokbench.core.stats import wilson
from tokbench.render.numbers import num
from tokbench.render.safe import md, md_row


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _count(value: int | None, source: str) -> str:
    return "not reported" if value is None and source == "not reported" else num(value, 0)


TURN_HEAD = (
    "turn",
    "requests",
    "failed",
    "TTFT ms (median)",
    "context tok",
    "prefill computed",
    "cached",
    "hit rate",
    "cache lost",
    "decode tok/s",
)


def _turn_cells(row: Any) -> list[str]:
    return [
        str(row.turn + 1),
        str(row.requests),
        str(row.failed),
        num(row.ttft_ms, 0),
        num(row.context_tokens, 0),
        _count(row.computed_tokens, row.cache_source),
        _count(row.cached_tokens, row.cache_source),
        _pct(row.hit_rate),
        str(row.lost) if row.lost else "-",
        num(row.decode_tps, 1),
    ]


def turns_table(summary: ConversationSummary, title: str) -> Table:
    t = Table(title=title)
    for name in TURN_HEAD:
        t.add_column(name, justify="left" if name == "turn" else "right")
    for row in summary.turns:
        t.add_row(*_turn_cells(row))
    return t


SOURCE_WORDS = {
    "server": "the server's counters",
    "engine": "the engine's counters",
    "inferred": "inferred from the prompt's size",
    "none": "no prompt cache: nothing reused",
}


def summary_lines(summary: ConversationSummary, good: Goodput | None) -> list[str]:
    lines = []
    if summary.hit_rate is None:
        lines.append(f"prompt cache: {summary.cache_source} by this server")
    else:
        lines.append(
            f"prompt cache hit rate: {_pct(summary.hit_rate)} "
            f"({summary.cached_tokens} cached of "
            f"{(summary.cached_tokens or 0) + (summary.computed_tokens or 0)} prompt tokens, "
            f"{SOURCE_WORDS.get(summary.cache_source, summary.cache_source + ' counters')})"
        )
    lines += _lost_lines(summary)
    if summary.draft_acceptance is not None:
        lines.append(f"speculative decoding: {_pct(summary.draft_acceptance)} of drafts accepted")
    if good is not None:
        for a in good.attainments:
            lines.append(
                f"SLO {a.slo.label}: {a.met}/{a.judged} met "
                f"({_pct(a.share)}, 95 % CI {_pct(a.low)}-{_pct(a.high)}): {a.verdict}"
            )
        lines.append(
            f"goodput: {good.rps:.3f} requests/s meeting every SLO "
            f"(95 % CI {good.low_rps:.3f}-{good.high_rps:.3f}; {good.good}/{good.total} "
            f"requests over {good.span_s:.1f} s)"
        )
    return lines


MAX_LOST_LINES = 8


def _lost_lines(summary: ConversationSummary) -> list[str]:
    """The turns that lost their cache, with why (at most `MAX_LOST_LINES`, then a count)."""
    lost = summary.lost
    if not lost:
        return []
    reasons: dict[str, int] = {}
    for x in lost:
        reasons[x.reason] = reasons.get(x.reason, 0) + 1
    lines = [
        f"cache lost in {len(lost)} turn(s): "
        + "; ".join(f"{n} because {why}" for why, n in reasons.items())
    ]
    lines += [f"  {x.sentence}" for x in lost[:MAX_LOST_LINES]]
    if len(lost) > MAX_LOST_LINES:
        lines.append(f"  ... and {len(lost) - MAX_LOST_LINES} more (see --json)")
    return lines


def summary_json(summary: ConversationSummary, good: Goodput | None) -> dict[str, Any]:
    out: dict[str, Any] = asdict(summary)
    out["lost"] = [{**asdict(x), "sentence": x.sentence} for x in summary.lost]
    if good is not None:
        out["goodput"] = {
            **{k: v for k, v in asdict(good).items() if k != "attainments"},
            "verdict": good.verdict,
            "slos": [
                {
                    "slo": a.slo.label,
                    "met": a.met,
                    "judged": a.judged,
                    "share": a.share,
                    "ci95": [a.low, a.high],
                    "verdict": a.verdict,
                }
                for a in good.attainments
            ],
        }
    return out


COST_HEAD = (
    "history tok",
    "pairs",
    "TTFT cold ms",
    "TTFT warm ms",
    "cached cold",
    "cached warm",
    "TTFT cost s (95 % CI)",
    "prefill cost s (95 % CI)",
)


def _cost_ci(e: Any) -> str:
    if e is None:
        return "-"
    if e.ci_low is None:
        return f"{e.mean / 1000:.2f} (1 pair)"
    return f"{e.mean / 1000:.2f} ({e.ci_low / 1000:.2f}-{e.ci_high / 1000:.2f})"


def _cost_cells(p: CostPoint) -> list[str]:
    return [
        num(p.context_tokens, 0),
        str(p.reps),
        num(p.cold_ttft_ms, 0),
        num(p.warm_ttft_ms, 0),
        num(p.cold_cached_tokens, 0),
        num(p.warm_cached_tokens, 0),
        _cost_ci(p.ttft_cost_ms),
        _cost_ci(p.prefill_cost_ms),
    ]


def cost_table(points: Sequence[CostPoint], title: str) -> Table:
    t = Table(title=title)
    for name in COST_HEAD:
        t.add_column(name, justify="right")
    for p in points:
        t.add_row(*_cost_cells(p))
    return t


def cost_json(points: Sequence[CostPoint]) -> list[dict[str, Any]]:
    return [{**asdict(p), "sentence": p.sentence} for p in points]


def conversation_view(run: RunInfo, report: ConversationReport) -> list[Table | str]:
    """What `converse` and `show` print for a conversation run."""
    if report.lost_cache_cost:
        title = f"{run.id}: {run.backend} {run.display_model}: the cost of a lost prompt cache"
        points = report.lost_cache_cost
        return [cost_table(points, title), *(p.sentence for p in points)]
    cache = "cache on" if report.config.prompt_cache else "cache off"
    title = f"{run.id}: {run.backend} {run.display_model} ({cache})"
    return [turns_table(report.summary, title), *summary_lines(report.summary, report.goodput)]


def conversation_markdown(run: RunInfo, report: ConversationReport) -> str:
    """The per-turn table and the run's cache and goodput lines, as Markdown."""
    if report.lost_cache_cost:
        points = report.lost_cache_cost
        return (
            "\n".join(
                [
                    f"### {md(run.id)}: {md(run.backend)} {md(run.display_model or '')}: "
                    "the cost of a lost prompt cache",
                    "",
                    md_row(COST_HEAD),
                    "|" + "---:|" * len(COST_HEAD),
                    *(md_row(_cost_cells(p)) for p in points),
                    "",
                    *(f"- {md(p.sentence)}" for p in points),
                ]
            )
            + "\n"
        )
    cache = "cache on" if report.config.prompt_cache else "cache off"
    lines = [
        f"### {md(run.id)}: {md(run.backend)} {md(run.display_model or '')} ({cache})",
        "",
        md_row(TURN_HEAD),
        "|---|" + "---:|" * (len(TURN_HEAD) - 1),
    ]
    lines += [md_row(_turn_cells(row)) for row in report.summary.turns]
    lines += ["", *(f"- {md(x)}" for x in summary_lines(report.summary, report.goodput))]
    return "\n".join(lines) + "\n"


def conversation_json(run: RunInfo, report: ConversationReport) -> dict[str, Any]:
    out = {"run_id": run.id, "status": run.status, **summary_json(report.summary, report.goodput)}
    if report.lost_cache_cost:
        out["lost_cache_cost"] = cost_json(report.lost_cache_cost)
    return out


CAPACITY_TAIL = ("verdict", "met all", "95 % CI", "goodput req/s", "run")
LOAD_HEAD = {"concurrency": "conversations at once", "rate": "new conversations/s"}


def _capacity_head(cap: Capacity) -> tuple[str, ...]:
    return (LOAD_HEAD[cap.over], *CAPACITY_TAIL)


def _level_cells(lv: Any) -> list[str]:
    g = lv.goodput
    low, high = wilson(g.good, g.total) if g.total else (0.0, 1.0)
    return [
        f"{lv.load:g}",
        lv.verdict + (" (over-saturated: TTFT kept growing)" if lv.saturated else ""),
        f"{g.good}/{g.total}",
        f"{_pct(low)}-{_pct(high)}",
        f"{g.rps:.3f}",
        lv.run_id or "-",
    ]


def capacity_view(cap: Capacity) -> list[Table | str]:
    t = Table(title="capacity search: each level decided by its 95 % interval")
    for name in _capacity_head(cap):
        t.add_column(name, justify="right" if name != "verdict" else "left")
    for lv in cap.levels:
        t.add_row(*_level_cells(lv))
    return [t, cap.sentence]


def capacity_markdown(cap: Capacity) -> str:
    lines = [md_row(_capacity_head(cap)), "|---:|---|---:|---:|---:|---|"]
    lines += [md_row(_level_cells(lv)) for lv in cap.levels]
    return "\n".join([*lines, "", md(cap.sentence)]) + "\n"


def capacity_json(cap: Capacity) -> dict[str, Any]:
    return {
        "capacity": cap.load,
        "over": cap.over,
        "outcome": cap.outcome,
        "undecided_at": cap.undecided_at,
        "sentence": cap.sentence,
        "slos": [s.label for s in cap.slos],
        "levels": [
            {
                "load": lv.load,
                "verdict": lv.verdict,
                "saturated": lv.saturated,
                "run_id": lv.run_id,
                "good": lv.goodput.good,
                "total": lv.goodput.total,
                "goodput_rps": lv.goodput.rps,
            }
            for lv in cap.levels
        ],
    }


def _compare_head(shown: Sequence[tuple[RunInfo, ConversationReport]]) -> list[str]:
    head = ["turn"]
    for i, (_run, report) in enumerate(shown, 1):
        cache = "on" if report.config.prompt_cache else "off"
        head += [f"#{i} TTFT ms (cache {cache})", f"#{i} hit rate"]
    return head


def _compare_rows(shown: Sequence[tuple[RunInfo, ConversationReport]]) -> list[list[str]]:
    turns = sorted({row.turn for _run, rep in shown for row in rep.summary.turns})
    rows = []
    for turn in turns:
        cells = [str(turn + 1)]
        for _run, report in shown:
            row = next((r for r in report.summary.turns if r.turn == turn), None)
            cells += [num(row.ttft_ms, 0), _pct(row.hit_rate)] if row else ["-", "-"]
        rows.append(cells)
    return rows


def _compare_lines(shown: Sequence[tuple[RunInfo, ConversationReport]]) -> list[str]:
    lines = []
    for i, (run, report) in enumerate(shown, 1):
        lines.append(f"#{i} {run.id}: {run.backend} {run.display_model or ''}")
        body = summary_lines(report.summary, report.goodput)
        body += [p.sentence for p in report.lost_cache_cost]
        lines += [f"  {x}" for x in body]
    return lines


def compare_view(shown: Sequence[tuple[RunInfo, ConversationReport]]) -> list[Table | str]:
    """Conversation runs side by side: TTFT and hit rate per turn, then each run's
    hit rate, goodput, lost caches and lost-cache cost."""
    t = Table(title="conversation runs side by side (TTFT: median per turn)")
    for name in _compare_head(shown):
        t.add_column(name, justify="left" if name == "turn" else "right")
    for cells in _compare_rows(shown):
        t.add_row(*cells)
    return [t, *_compare_lines(shown)]


def compare_markdown(shown: Sequence[tuple[RunInfo, ConversationReport]]) -> str:
    head = _compare_head(shown)
    lines = [md_row(head), "|---|" + "---:|" * (len(head) - 1)]
    lines += [md_row(cells) for cells in _compare_rows(shown)]
    lines += ["", *(f"- {md(x.strip())}" for x in _compare_lines(shown))]
    return "\n".join(lines) + "\n"


def compare_csv(shown: Sequence[tuple[RunInfo, ConversationReport]]) -> str:
    """One line per run and turn: the per-turn figures, for a spreadsheet."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["run_id", "prompt_cache", *(f.name for f in fields(TurnRow))])
    for run, report in shown:
        for row in report.summary.turns:
            w.writerow([run.id, report.config.prompt_cache, *astuple(row)])
    return out.getvalue()


def compare_json(shown: Sequence[tuple[RunInfo, ConversationReport]]) -> list[dict[str, Any]]:
    return [conversation_json(run, report) for run, report in shown]
