"""The self-contained HTML report: one file, inline SVG charts, no network, all escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from statistics import median
from typing import Any

from tokbench import __version__
from tokbench.conversations.lostcost import lost_cache_cost
from tokbench.conversations.turns import parse_item_id
from tokbench.core.records import (
    BenchSettings,
    ConverseSettings,
    RequestRecord,
    RunInfo,
    targets_to_json,
)
from tokbench.core.stats import Summary
from tokbench.evals.summary import summarize_run
from tokbench.render.charts import (
    Bar,
    IntervalPoint,
    Point,
    bar_chart,
    interval_scatter,
    line_chart,
    scatter_linear,
    scatter_loglog,
)
from tokbench.render.energy import RUN_HEAD, run_cells, run_lines
from tokbench.render.numbers import human_bytes, mean_sd
from tokbench.render.quant import QuantBlock, html_blocks
from tokbench.results.views import RunView


def decode_chart(vs: list[RunView]) -> str:
    bars = [Bar(v.label, v.decode.mean, v.decode.sd) for v in vs if v.decode.mean is not None]
    return bar_chart(bars, "Decode speed per run (mean ± sd)")


def size_chart(vs: list[RunView]) -> str:
    pts = [
        Point(v.label, v.params, v.decode.mean)
        for v in vs
        if v.params is not None and v.decode.mean is not None
    ]
    return scatter_loglog(
        pts, "Decode speed against model size", "model parameters (log)", "decode tok/s (log)"
    )


def energy_chart(vs: list[RunView]) -> str:
    """Decode tok/s against J/token, one point per run with energy ("~": approximate)."""
    pts = []
    for v in vs:
        e = v.run.energy
        if e is None or e.j_per_token is None or v.decode.mean is None:
            continue
        label = ("~" if e.approximate else "") + v.label + (" ⚠ busy" if e.busy_requests else "")
        pts.append(Point(label, e.j_per_token, v.decode.mean))
    return scatter_linear(
        pts,
        "Decode speed against energy per token",
        "J per output token (all-in)",
        "decode tok/s",
        "no run with a power source (measure one with --watts or --power-cmd)",
    )


def thread_chart(run: RunInfo) -> str | None:
    """A tune run's decode speed against threads (None for other runs)."""
    tuned = run.config.tune if isinstance(run.config, BenchSettings) else None
    scaling = tuned.report.threads if tuned is not None and tuned.report is not None else None
    if not scaling:
        return None
    pts: list[tuple[float, float, float | None, float | None]] = [
        (p.threads, p.mean_tps, p.ci_low_tps, p.ci_high_tps) for p in scaling.points
    ]
    return line_chart(pts, f"Decode speed against threads ({run.id})", "threads", "decode tok/s")


def turn_chart(v: RunView) -> str | None:
    """A conversation run's TTFT by turn: the median, whiskers the range over its
    conversations (None for other runs)."""
    if v.run.kind != "converse":
        return None
    by_turn: dict[int, list[float]] = {}
    for r in v.records:
        key = parse_item_id(r.item_id)
        if key and r.status == "ok" and r.metrics and r.metrics.ttft_ms is not None:
            by_turn.setdefault(key[1] + 1, []).append(r.metrics.ttft_ms)
    if not by_turn:
        return lost_cache_chart(v)
    pts: list[tuple[float, float, float | None, float | None]] = [
        (float(t), median(ms), min(ms), max(ms)) for t, ms in sorted(by_turn.items())
    ]
    config = v.run.config
    cache = config.converse.prompt_cache if isinstance(config, ConverseSettings) else True
    title = f"TTFT by turn, cache {'on' if cache else 'off'} ({v.run.id})"
    return line_chart(pts, title, "turn", "TTFT ms (median; whiskers: range)")


def lost_cache_chart(v: RunView) -> str | None:
    """A `converse --lost-cache-cost` run: seconds a lost cache costs against the history's
    length, whiskers its 95 % interval (None when the run measured none)."""
    points = lost_cache_cost(v.run.target.backend_kind or v.run.backend, v.records)
    pts: list[tuple[float, float, float | None, float | None]] = []
    for p in points:
        cost = p.prefill_cost_ms or p.ttft_cost_ms
        if cost is None:
            continue
        low = cost.ci_low / 1000 if cost.ci_low is not None else None
        high = cost.ci_high / 1000 if cost.ci_high is not None else None
        pts.append((float(p.context_tokens or p.history_tokens), cost.mean / 1000, low, high))
    if not pts:
        return None
    what = "prefill" if points[0].prefill_cost_ms is not None else "TTFT"
    title = f"The cost of a lost prompt cache ({v.run.id})"
    return line_chart(pts, title, "history tokens", f"{what} cold - warm, s (95 % CI)")


def _flat_target(run: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in targets_to_json(run.kind, run.targets).items():
        if isinstance(v, dict):  # bench runs: one entry per model
            out.update({f"{k} · {kk}": vv for kk, vv in v.items() if not isinstance(vv, list)})
        elif not isinstance(v, list):
            out[k] = v
    return {k: v for k, v in out.items() if v not in (None, "")}


def _human(key: str, value: Any) -> Any:
    if key.endswith("_bytes") and isinstance(value, int):
        return f"{human_bytes(value)} ({value:,} bytes)"
    if key.endswith("n_params") and isinstance(value, int):
        return f"{value / 1e9:.2f} B" if value >= 1e9 else f"{value / 1e6:.1f} M"
    return value


def _items(vs: list[RunView]) -> list[tuple[str, list[tuple[str, RequestRecord]]]]:
    """Answers to the same question side by side: same item id *and* same prompt."""
    items: dict[tuple[str, str], list[tuple[str, RequestRecord]]] = {}
    for v in vs:
        for r in v.records:
            items.setdefault((r.item_id, r.prompt), []).append((v.label, r))
    return [(item_id, rows) for (item_id, _prompt), rows in items.items()]


def accuracy_chart(vs: list[RunView]) -> str:
    """Eval runs: each benchmark's accuracy with its interval against decode tok/s ("" when
    the report has no eval run)."""
    pts = [
        IntervalPoint(
            f"{v.label} · {r.benchmark}",
            r.decode_tps,
            100 * r.estimate.accuracy,
            100 * (r.estimate.low or 0.0),
            100 * (r.estimate.high or 0.0),
        )
        for v in vs
        for r in summarize_run(v.run, v.records)
        if r.decode_tps is not None and r.estimate.accuracy is not None
    ]
    if not pts:
        return ""
    return interval_scatter(
        pts, "Accuracy (95 % interval) against decode speed", "decode tok/s", "accuracy %"
    )


def report_html(vs: list[RunView], quant: list[Any] | None = None) -> str:
    """`quant`: the quant comparisons among the runs (`quant.compare.load_quants`)."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(
        resources.files("tokbench.render.templates").joinpath("report.html.j2").read_text("utf-8")
    )

    def fmt(s: Summary, digits: int) -> str:
        return mean_sd(s, digits)

    return template.render(
        views=vs,
        version=__version__,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        decode_svg=decode_chart(vs),
        scatter_svg=size_chart(vs),
        items=_items(vs),
        fmt_ms=fmt,
        flat_target=_flat_target,
        human=_human,
        thread_chart=thread_chart,
        turn_chart=turn_chart,
        energy_any=any(v.run.energy for v in vs),
        # the chart only when a run measured power: no chart of nothing
        energy_svg=energy_chart(vs)
        if any(v.run.energy and v.run.energy.j_per_token for v in vs)
        else "",
        energy_head=RUN_HEAD,
        energy_cells=run_cells,
        energy_lines=run_lines,
        quant_blocks=_quant_blocks(quant or []),
        accuracy_svg=accuracy_chart(vs),
    )


def _quant_blocks(quant: list[Any]) -> list[QuantBlock]:
    if not quant:
        return []
    return html_blocks(quant)
