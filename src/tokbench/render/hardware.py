"""`tokbench hw`, `estimate` and `plan` as text, Markdown and JSON documents."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.table import Table

from tokbench.hardware.estimate import Estimate
from tokbench.hardware.plan import Plan, RowPower
from tokbench.hardware.speed import Prediction
from tokbench.render.fmt import DASH
from tokbench.render.safe import md, md_row


def _cell(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{a}={b}" for a, b in v.items())
    if isinstance(v, list):
        return "; ".join(str(x) for x in v) or "none"
    return "unknown" if v is None else str(v)


def host_table(info: dict[str, Any]) -> Table:
    t = Table(show_header=False, box=None)
    t.add_column(style="dim")
    t.add_column()
    for k, v in info.items():
        t.add_row(k, _cell(v))
    return t


def host_markdown(info: dict[str, Any]) -> str:
    rows = [md_row([k, _cell(v)]) for k, v in info.items()]
    return "\n".join(["| item | value |", "| --- | --- |", *rows]) + "\n"


def estimate_json(e: Estimate) -> dict[str, Any]:
    """The prediction, under the names `estimate --json` always had, plus the box."""
    p = e.prediction
    return {
        **asdict(p),
        "bound_with_kv_tps": p.bound_tps,
        "expected_low_tps": p.low_tps,
        "expected_high_tps": p.high_tps,
        "box_facts": asdict(e.box),
    }


def estimate_lines(e: Estimate) -> list[str]:
    p, box, m = e.prediction, e.box, e.model
    lines = [
        f"{p.model}{f' {p.quant}' if p.quant else ''}: {p.weights_bytes_per_token / 1e9:.2f} GB "
        f"read per token + {p.kv_bytes_per_token / 1e9:.2f} GB of KV at {p.context} tokens",
        f"box: {box.name}{f' ({box.description})' if box.description else ''}; "
        f"{box.bandwidth_gbs:.1f} GB/s {box.bandwidth_source}, "
        f"{box.ram_bytes / 2**30:.0f} GiB RAM, SSD {box.ssd_read_gbs:.3g} GB/s ({box.ssd_source})",
        f"bound at {p.bandwidth_gbs:.1f} GB/s: {p.bound_weights_tps:.2f} tok/s (weights only), "
        f"{p.bound_tps:.2f} tok/s with the KV cache",
    ]
    eff = (
        f"efficiency {p.efficiency_profile} {p.efficiency_low:.2f}-{p.efficiency_high:.2f}: "
        f"{p.efficiency_source}"
    )
    if box.bandwidth_source == "measured":
        eff += "; η is calibrated on peak bandwidth, so on a measured figure it is conservative"
    if p.fits:
        lines.append(f"expected: {p.low_tps:.2f}-{p.high_tps:.2f} tok/s ({eff})")
    else:
        lines.append(
            f"expected: {p.low_tps:.2f}-{p.high_tps:.2f} tok/s, paging from the SSD "
            f"({p.ssd_bytes_per_token / 1e9:.2f} GB a token at {p.ssd_read_gbs:.3g} GB/s; "
            f"in RAM it would be {p.in_ram_low_tps:.2f}-{p.in_ram_high_tps:.2f}; {eff})"
        )
    if p.prefill_tps and box.compute_gflops and m.prefill_params:
        lines.append(
            f"prefill, compute estimate: ~{p.prefill_tps:,.0f} tok/s at this CPU's peak FP32 "
            f"({box.compute_gflops:,.0f} GFLOP/s, 2 FLOP per weight, "
            f"{m.prefill_params / 1e9:.2f} B weights a token); llama.cpp's int8 kernels can "
            "beat FP32 peak, its IQ kernels fall short"
        )
    lines.append(
        f"memory: needs {p.memory_needed_bytes / 1e9:.1f} GB: "
        + ("fits in RAM" if p.fits else str(p.note))
    )
    return lines


def estimate_markdown(e: Estimate) -> str:
    return "".join(f"- {md(line)}\n" for line in estimate_lines(e))


PLAN_HEAD = (
    "box",
    "quant",
    "bound tok/s",
    "expected tok/s",
    "fits in RAM",
    "price / tok/s",
)


def _fits(r: Prediction) -> str:
    if r.fits:
        return "yes"
    return f"no: {r.ssd_bytes_per_token / 1e9:.1f} GB/token from SSD at {r.ssd_read_gbs:.3g} GB/s"


def _power(p: Plan, i: int) -> RowPower | None:
    return p.power[i] if i < len(p.power) else None


def plan_head(p: Plan) -> tuple[str, ...]:
    cost = (f"electricity / Mtok{f' ({p.currency})' if p.currency else ''}",)
    return (*PLAN_HEAD, "wall W", "J/token", *(cost if p.kwh_price is not None else ()))


def _power_cells(w: RowPower | None, with_cost: bool) -> list[str]:
    """Typical wall watts, J per token over the speed range and, with a kWh price, the
    electricity of a million tokens; "~" where the power figure is an estimate."""
    if w is None:
        return [DASH, DASH, *([DASH] if with_cost else [])]
    mark = "" if w.measured else "~"
    cells = [
        f"{mark}{w.typical_w:.0f}",
        f"{mark}{w.j_per_token_low:,.0f}-{w.j_per_token_high:,.0f}",
    ]
    if with_cost:
        lo, hi = w.electricity_per_mtok_low, w.electricity_per_mtok_high
        cells.append(DASH if lo is None or hi is None else f"{mark}{lo:,.2f}-{hi:,.2f}")
    return cells


def plan_cells(p: Plan) -> list[list[str]]:
    with_cost = p.kwh_price is not None
    return [
        [
            r.box,
            r.quant or DASH,
            f"{r.bound_tps:.2f}",
            f"{r.low_tps:.2f}-{r.high_tps:.2f}",
            _fits(r),
            f"{r.price_per_tps:,.0f}" if r.price_per_tps else DASH,
            *_power_cells(_power(p, i), with_cost),
        ]
        for i, r in enumerate(p.rows)
    ]


def plan_json(p: Plan) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(p.rows):
        d = asdict(r)
        w = _power(p, i)
        if w is not None:
            d["power"] = {**asdict(w), "kwh_price": p.kwh_price, "currency": p.currency}
        out.append(d)
    return out


def _power_notes(p: Plan) -> list[str]:
    """Where each box's power figure comes from."""
    seen: dict[str, RowPower] = {}
    for i, r in enumerate(p.rows):
        w = _power(p, i)
        if w is not None:
            seen.setdefault(r.box, w)
    return [
        f"{box}: {w.low_w:.0f}-{w.high_w:.0f} W at the wall, "
        f"{'measured on a similar box' if w.measured else '~ estimate'} ({w.source})"
        for box, w in seen.items()
    ]


def plan_markdown(p: Plan) -> str:
    head = plan_head(p)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [md_row(c) for c in plan_cells(p)]
    if p.kwh_price is not None:  # with a cost, the sources of its watts follow the table
        lines += ["", "Power (J/token = typical wall watts / the tok/s range; ~ = estimate):"]
        lines += [f"- {md(n)}" for n in _power_notes(p)]
    return "\n".join(lines) + "\n"


def plan_table(p: Plan) -> Table:
    t = Table(title=f"{p.shape.name}, context {p.context}, KV {p.kv}", title_justify="left")
    for h in plan_head(p):
        t.add_column(h, justify="left" if h in ("box", "quant", "fits in RAM") else "right")
    for c in plan_cells(p):
        t.add_row(*c)
    t.caption = "\n".join(
        ["; ".join(f"{b.name}: {b.description}" for b in p.boxes), *_power_notes(p)]
    )
    return t
