"""A tune's report (as stored in the run's settings): the ranked candidates, the best
settings as commands to paste, and the sensitivity (thread scaling, each knob's effect).

Everything here renders the stored document; the numbers were computed by
`tokbench.tune.report` when the tune ran.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tokbench.core.tune_report import KnobEffect, RankedRow, ThreadPoint, TuneDocument
from tokbench.render.numbers import DASH, num
from tokbench.render.safe import md, md_row


def _pairs(key: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in key.split(",") if "=" in p)


def difference(key: str, start: str) -> str:
    """A candidate as its difference from the start: `threads=1, fa=off` or `(start)`."""
    base = _pairs(start)
    changed = [f"{k}={v}" for k, v in _pairs(key).items() if base.get(k) != v]
    return ", ".join(changed) or "(start)"


def _ci(row: RankedRow) -> str:
    lo, hi = row.ci_low_tps, row.ci_high_tps
    return DASH if lo is None or hi is None else f"{lo:.2f} – {hi:.2f}"


def _pct(ratio: float | None) -> str:
    if ratio is None:
        return DASH
    return f"{(ratio - 1) * 100:+.1f}".replace("-", "−")


def _speedup(row: RankedRow) -> str:
    """`+8.5 % (−3.1 … +21.0)`: the ratio over the start with its 95 % interval."""
    s = row.speedup
    if s is None:
        return DASH
    lo, hi = row.speedup_low, row.speedup_high
    if lo is None or hi is None or row.is_start:
        return f"{_pct(s)} %"
    return f"{_pct(s)} % ({_pct(lo)} … {_pct(hi)})"


VS_PICK = {
    "pick": "← pick",
    "same": "same (±2 %)",
    "within noise": "within noise of the pick",
    "slower": "slower",
    "faster": "faster (undecided when time ran out)",
}


def ranked_rows(doc: TuneDocument) -> list[list[str]]:
    """The ranking as table cells: rank, candidate, tok/s, CI, n, vs start, vs pick, pp,
    predicted. Older stored reports have no vs-pick verdict: their pick is marked."""
    rep = doc.report
    if rep is None:
        return []
    out = []
    for r in rep.rows:
        label = difference(r.key, rep.start)
        if r.failure is not None:
            out.append(
                ["failed", label, DASH, f"{r.failure[:90]}", str(r.n), DASH, DASH, DASH, DASH]
            )  # fmt: skip
            continue
        verdict = r.vs_pick or ("pick" if r.is_best else None)
        pp = doc.prefill_tps.get(r.key)
        out.append(
            [
                str(r.rank),
                label,
                num(r.mean_tps, 2),
                _ci(r),
                str(r.n),
                _speedup(r),
                VS_PICK.get(verdict, DASH) if verdict else DASH,
                num(pp, 1) if pp is not None else DASH,
                num(r.predicted_tps, 1),
            ]
        )
    return out


HEADERS = ("#", "candidate (change from start)", "tok/s", "95% CI", "n",
           "vs start (95% CI)", "vs pick", "pp t/s", "bound t/s")  # fmt: skip
LEFT = (1, 3, 6)  # left-aligned columns


def pick_lines(doc: TuneDocument) -> list[str]:
    """How the pick was chosen, and why rows that look faster are not it."""
    rows = doc.report.rows if doc.report else ()
    pick = next((r for r in rows if r.is_best and r.failure is None), None)
    if pick is None:
        return ["no pick: no candidate was measured"]
    if pick.vs_pick is None:
        return []  # stored before the pick was settled against the ranking
    out = [
        "pick: the start unless a change measured faster (99 % interval of the ratio above 1, "
        "by 1 % or more); every row that looks faster was measured against it"
    ]
    noisy = [r for r in rows if r.vs_pick == "within noise" and
             (r.mean_tps or 0) > (pick.mean_tps or 0)]  # fmt: skip
    if noisy:
        n = max(r.n for r in noisy)
        out.append(
            f"{len(noisy)} row(s) above the pick differ from it by less than the noise at "
            f"n≤{n}: more repetitions (--max-reps) would tell them apart"
        )
    return out


def drift_line(doc: TuneDocument) -> str | None:
    d = doc.report.drift if doc.report else None
    if d is None:
        return None
    if d.last_tps is None:
        return f"drift: {d.note or 'the start was not measured again'}"
    change = (
        f"{d.first_tps:.2f} tok/s at the start of the tune, {d.last_tps:.2f} at the end "
        f"({_pct(d.ratio)} %, 95 % CI {_pct(d.ratio_low)} … {_pct(d.ratio_high)} %)"
    )
    if d.drifted:
        return (
            f"drift: the start ran {change}: the box's speed changed during the tune "
            "(other load, heat), so differences of that size between candidates are not "
            "the knobs' doing"
        )
    return f"drift: none beyond the noise; the start ran {change}"


def summary_line(doc: TuneDocument) -> str:
    rep = doc.report
    if rep is None:
        return "no report: the tune ended before it made one"
    stopped = {
        "done": "the search finished",
        "converged": "the search converged",
        "max-time": "stopped by --max-time; --resume continues it",
        "interrupted": "interrupted; --resume continues it",
    }.get(rep.stopped, rep.stopped)
    return (
        f"{rep.candidates_tried} candidates measured of a grid of {rep.grid_size} "
        f"({doc.engine}, {doc.objective} speed; {stopped})"
    )


def start_line(doc: TuneDocument) -> str:
    return f"start (llama.cpp's defaults): {(doc.report.start if doc.report else '') or DASH}"


def command_blocks(doc: TuneDocument) -> list[tuple[str, list[str], list[str]]]:
    """(title, lines, left-out notes) for llama-server, `tokbench run` and Ollama."""
    rep = doc.report
    blocks: list[tuple[str, list[str], list[str]]] = []
    if rep is None:
        return blocks
    if rep.llama_server:
        blocks.append(("llama-server", [rep.llama_server], []))
    for title, advice in (("tokbench run", rep.tokbench_run), ("Ollama", rep.ollama)):
        if advice:
            blocks.append((title, list(advice.lines), list(advice.left_out)))
    return blocks


def sensitivity_lines(doc: TuneDocument) -> list[str]:
    rep = doc.report
    out = []
    th = rep.threads if rep else None
    if th:
        pts = ", ".join(f"{p.threads}: {p.mean_tps:.2f}{_pm(p)}" for p in th.points)
        out.append(f"decode tok/s by threads ({th.held or 'other knobs at the start'}): {pts}")
        line = (
            f"flattens at {th.flat_threads} threads ({th.flat_tps:.2f} tok/s, within 5 % "
            f"of the fastest), reading {th.flat_bandwidth_gb_s:.1f} GB/s of weights"
        )
        if th.measured_bandwidth_gb_s:
            line += (
                f" = {(th.bandwidth_share or 0) * 100:.0f} % of the "
                f"{th.measured_bandwidth_gb_s:.1f} GB/s `tokbench hw --bandwidth` measured"
            )
        else:
            line += "; run `tokbench hw --bandwidth` to compare with the box's bandwidth"
        out.append(line)
    else:
        out.append("thread scaling: fewer than two thread counts measured")
    for e in rep.effects if rep else ():
        out.append(effect_line(e))
    return out


def _pm(point: ThreadPoint) -> str:
    lo, hi = point.ci_low_tps, point.ci_high_tps
    return "" if lo is None or hi is None else f" ± {(hi - lo) / 2:.2f}"


def effect_line(e: KnobEffect) -> str:
    """A knob's effect where its values' intervals separate; otherwise the interval the
    change lies in, as noise (older stored reports carry no interval: shown as they were)."""
    held = f"with {e.held}" if e.held else "other knobs at the start"
    if e.measurable is None:
        return (
            f"{e.knob}: up to {e.change * 100:.1f} % ({e.fastest_value} fastest, "
            f"{e.slowest_value} slowest, {e.values_measured} values, {held}; "
            "stored without an interval)"
        )
    ns = f"n={e.n_fastest}/{e.n_slowest}"
    ci = "no interval below two repetitions"
    if e.change_low is not None and e.change_high is not None:
        ci = f"95 % CI {_pct(1 + e.change_low)} … {_pct(1 + e.change_high)} %"
    if e.measurable:
        return (
            f"{e.knob}: {e.fastest_value} is {_pct(1 + e.change)} % faster than "
            f"{e.slowest_value} ({ci}, {ns}, {e.values_measured} values, {held})"
        )
    return (
        f"{e.knob}: no effect measurable at {ns} ({e.values_measured} values; "
        f"{e.fastest_value} vs {e.slowest_value}: {ci}, {held})"
    )


def _notes(doc: TuneDocument) -> list[str]:
    drift = drift_line(doc)
    return [*pick_lines(doc), *([drift] if drift else [])]


def tune_view(doc: TuneDocument) -> Group:
    """The terminal view: ranking, commands, sensitivity."""
    table = Table(title=f"tune: {doc.model}", caption=summary_line(doc))
    for i, h in enumerate(HEADERS):
        table.add_column(h, justify="left" if i in LEFT else "right")
    for cells in ranked_rows(doc):
        table.add_row(*cells)
    parts: list[Any] = [Text(start_line(doc), style="dim"), table]
    parts += [Text(ln, style="dim") for ln in _notes(doc)]
    for title, lines, left_out in command_blocks(doc):
        parts.append(Text(f"\n{title}:", style="bold"))
        parts += [Text("  " + ln) for ln in lines]
        parts += [Text(f"  (left out: {n})", style="dim") for n in left_out]
    parts.append(Text("\nsensitivity:", style="bold"))
    parts += [Text("  " + ln) for ln in sensitivity_lines(doc)]
    return Group(*parts)


def tune_markdown(doc: TuneDocument) -> str:
    lines = [f"## tune: {md(doc.model)}", "", md(start_line(doc)), ""]
    lines.append("| " + " | ".join(HEADERS) + " |")
    lines.append(
        "| " + " | ".join("---" if i in LEFT else "---:" for i in range(len(HEADERS))) + " |"
    )
    lines += [md_row(cells) for cells in ranked_rows(doc)]
    lines += ["", md(summary_line(doc)), ""]
    lines += [f"- {md(ln)}" for ln in _notes(doc)]
    lines.append("")
    for title, cmd, left_out in command_blocks(doc):
        lines += [f"**{title}**", "", "```", *cmd, "```"]
        lines += [f"- left out: {md(n)}" for n in left_out]
        lines.append("")
    lines += ["### Sensitivity", ""]
    lines += [f"- {md(ln)}" for ln in sensitivity_lines(doc)]
    return "\n".join(lines) + "\n"
