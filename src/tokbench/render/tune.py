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

from tokbench.render.fmt import DASH, num
from tokbench.render.safe import md, md_row


def _pairs(key: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in key.split(",") if "=" in p)


def difference(key: str, start: str) -> str:
    """A candidate as its difference from the start: `threads=1, fa=off` or `(start)`."""
    base = _pairs(start)
    changed = [f"{k}={v}" for k, v in _pairs(key).items() if base.get(k) != v]
    return ", ".join(changed) or "(start)"


def _ci(row: dict[str, Any]) -> str:
    lo, hi = row.get("ci_low_tps"), row.get("ci_high_tps")
    return DASH if lo is None or hi is None else f"{lo:.2f} – {hi:.2f}"


def _speedup(row: dict[str, Any]) -> str:
    s = row.get("speedup")
    return DASH if s is None else f"{(s - 1) * 100:+.1f} %"


def ranked_rows(doc: dict[str, Any]) -> list[list[str]]:
    """The ranking as table cells: rank, candidate, tok/s, CI, n, vs start, pp, predicted."""
    rep = doc["report"]
    prefill = doc.get("prefill_tps") or {}
    out = []
    for r in rep["rows"]:
        label = difference(r["key"], rep["start"])
        if r["is_best"]:
            label += "  ← best"
        if r["failure"] is not None:
            out.append(
                ["failed", label, DASH, f"{r['failure'][:90]}", str(r["n"]), DASH, DASH, DASH]
            )
            continue
        pp = prefill.get(r["key"])
        out.append(
            [
                str(r["rank"]),
                label,
                num(r["mean_tps"], 2),
                _ci(r),
                str(r["n"]),
                _speedup(r),
                num(pp, 1) if pp is not None else DASH,
                num(r["predicted_tps"], 1),
            ]
        )
    return out


HEADERS = ("#", "candidate (change from start)", "tok/s", "95% CI", "n", "vs start", "pp t/s",
           "bound t/s")  # fmt: skip


def summary_line(doc: dict[str, Any]) -> str:
    rep = doc["report"]
    stopped = {
        "done": "the search finished",
        "converged": "the search converged",
        "max-time": "stopped by --max-time; --resume continues it",
    }.get(rep["stopped"], rep["stopped"])
    return (
        f"{rep['candidates_tried']} candidates measured of a grid of {rep['grid_size']} "
        f"({doc.get('engine', '?')}, {doc.get('objective', 'decode')} speed; {stopped})"
    )


def start_line(doc: dict[str, Any]) -> str:
    return f"start (llama.cpp's defaults): {doc['report']['start'] or DASH}"


def command_blocks(doc: dict[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    """(title, lines, left-out notes) for llama-server, `tokbench run` and Ollama."""
    rep = doc["report"]
    blocks: list[tuple[str, list[str], list[str]]] = []
    if rep.get("llama_server"):
        blocks.append(("llama-server", [rep["llama_server"]], []))
    for title, name in (("tokbench run", "tokbench_run"), ("Ollama", "ollama")):
        advice = rep.get(name)
        if advice:
            blocks.append((title, list(advice["lines"]), list(advice["left_out"])))
    return blocks


def sensitivity_lines(doc: dict[str, Any]) -> list[str]:
    rep = doc["report"]
    out = []
    th = rep.get("threads")
    if th:
        pts = ", ".join(f"{p['threads']}: {p['mean_tps']:.2f}" for p in th["points"])
        out.append(f"decode tok/s by threads ({th['held'] or 'other knobs at the start'}): {pts}")
        line = (
            f"flattens at {th['flat_threads']} threads ({th['flat_tps']:.2f} tok/s, within 5 % "
            f"of the fastest), reading {th['flat_bandwidth_gb_s']:.1f} GB/s of weights"
        )
        if th.get("measured_bandwidth_gb_s"):
            line += (
                f" = {th['bandwidth_share'] * 100:.0f} % of the {th['measured_bandwidth_gb_s']:.1f}"
                " GB/s `tokbench hw --bandwidth` measured"
            )
        else:
            line += "; run `tokbench hw --bandwidth` to compare with the box's bandwidth"
        out.append(line)
    else:
        out.append("thread scaling: fewer than two thread counts measured")
    for e in rep.get("effects") or []:
        out.append(
            f"{e['knob']}: up to {e['change'] * 100:.1f} % ({e['fastest_value']} fastest, "
            f"{e['slowest_value']} slowest, {e['values_measured']} values, with {e['held']})"
        )
    return out


def tune_view(doc: dict[str, Any]) -> Group:
    """The terminal view: ranking, commands, sensitivity."""
    table = Table(title=f"tune: {doc.get('model', '')}", caption=summary_line(doc))
    for i, h in enumerate(HEADERS):
        table.add_column(h, justify="left" if i in (1, 3) else "right")
    for cells in ranked_rows(doc):
        table.add_row(*cells)
    parts: list[Any] = [Text(start_line(doc), style="dim"), table]
    for title, lines, left_out in command_blocks(doc):
        parts.append(Text(f"\n{title}:", style="bold"))
        parts += [Text("  " + ln) for ln in lines]
        parts += [Text(f"  (left out: {n})", style="dim") for n in left_out]
    parts.append(Text("\nsensitivity:", style="bold"))
    parts += [Text("  " + ln) for ln in sensitivity_lines(doc)]
    return Group(*parts)


def tune_markdown(doc: dict[str, Any]) -> str:
    lines = [f"## tune: {md(doc.get('model', ''))}", "", md(start_line(doc)), ""]
    lines.append("| " + " | ".join(HEADERS) + " |")
    lines.append(
        "| " + " | ".join("---" if i in (1, 3) else "---:" for i in range(len(HEADERS))) + " |"
    )
    lines += [md_row(cells) for cells in ranked_rows(doc)]
    lines += ["", md(summary_line(doc)), ""]
    for title, cmd, left_out in command_blocks(doc):
        lines += [f"**{title}**", "", "```", *cmd, "```"]
        lines += [f"- left out: {md(n)}" for n in left_out]
        lines.append("")
    lines += ["### Sensitivity", ""]
    lines += [f"- {md(ln)}" for ln in sensitivity_lines(doc)]
    return "\n".join(lines) + "\n"
