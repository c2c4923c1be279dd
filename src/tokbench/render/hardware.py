"""`tokbench hw`, `estimate` and `plan` as text, Markdown and JSON documents."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from rich.table import Table

from tokbench.hardware.estimate import Estimate
from tokbench.hardware.plan import Plan, RowPower
from tokbench.hardware.probe import Gpu, MemoryModule
from tokbench.hardware.speed import Prediction
from tokbench.hardware.ssd import DiskBandwidth
from tokbench.hardware.survey import Bandwidth, HostSurvey
from tokbench.render.numbers import DASH
from tokbench.render.safe import md, md_row


def sig3(x: float) -> str:
    """Three significant digits, without an exponent: 16.5, 204, 1,230."""
    if x == 0:
        return "0"
    places = 2 - math.floor(math.log10(abs(x)))
    return f"{round(x, places):,.{max(places, 0)}f}"


def binary_size(n: float) -> str:
    """Bytes in binary units with three significant digits: 32 KiB, 1 MiB, 23.5 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            digits = sig3(n)
            return f"{digits.rstrip('0').rstrip('.') if '.' in digits else digits} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _unknown(v: Any) -> bool:
    return v is None or (isinstance(v, str | tuple | dict) and not v)


def _modules(mods: tuple[MemoryModule, ...] | str) -> str:
    if isinstance(mods, str):
        return mods  # why they are unknown
    return "; ".join(
        f"{m.locator or '?'}: {m.size or '?'} {m.type or ''}"
        + (f" at {m.configured_mts} MT/s" if m.configured_mts else "")
        for m in mods
    )


def _bandwidth(b: Bandwidth) -> str:
    return (
        f"{sig3(b.all_cores_gbs)} GB/s all cores ({b.threads} threads), "
        f"{sig3(b.one_thread_gbs)} GB/s one thread; "
        f"{binary_size(b.working_set_bytes)} read, best of {b.reps}"
    )


def _disk(d: DiskBandwidth) -> str:
    return (
        f"{sig3(d.sequential_read_gbs)} GB/s sequential, "
        f"{sig3(d.random_4k_iops)} IOPS random 4 KiB "
        f"({sig3(d.random_4k_read_gbs * 1000)} MB/s); {d.path} on "
        f"{d.device or '?'} ({d.fstype or '?'}), cache bypass {d.cache_bypass}"
    )


def _host_rows(survey: HostSurvey) -> list[tuple[str, str]]:
    """`tokbench hw` in human units: the JSON keeps the exact values under the same keys."""
    rows: list[tuple[str, str]] = []
    info = survey.probe

    def add(label: str, value: Any, show: Callable[[Any], str] = str) -> None:
        rows.append((label, "unknown" if _unknown(value) else show(value)))

    isa = info.isa
    has = [name for name, present in isa.items() if present]
    add("CPU", info.cpu_model)
    add("sockets", info.sockets)
    add("cores / threads", info.cores, lambda c: f"{c} / {info.threads or '?'}")
    add("clock", info.mhz, lambda m: f"{m:,.0f} MHz")
    add("ISA", ", ".join(has) if has else isa and "none of " + ", ".join(isa))
    add("caches", info.caches, lambda c: ", ".join(f"{k} {binary_size(v)}" for k, v in c.items()))
    add("NUMA nodes", info.numa_nodes)
    add("NUMA balancing", info.numa_balancing, lambda b: {"0": "off", "1": "on"}.get(b, b))
    add("RAM", info.ram_total_bytes, binary_size)
    add("RAM available", info.ram_available_bytes, binary_size)
    add("memory modules", info.memory_modules, _modules)
    add("channels", info.channels, lambda c: f"{c} ({info.channels_source or '?'})")
    add("memory speed", info.mts, lambda m: f"{m} MT/s")
    add("peak bandwidth", info.peak_bandwidth_gbs, lambda g: f"{sig3(g)} GB/s")
    if survey.bandwidth:
        add("measured bandwidth", survey.bandwidth, _bandwidth)
    if survey.disk:
        add("disk read", survey.disk, _disk)
    add("GPUs", info.gpus or "none", _gpus)
    add("OS", info.os)
    add("CPU governor", info.governor)
    add("transparent hugepages", info.transparent_hugepages)
    return rows


def _gpus(v: tuple[Gpu, ...] | str) -> str:
    if isinstance(v, str):
        return v
    return "; ".join(
        g.name + (f" ({binary_size(g.memory_bytes)})" if g.memory_bytes else "") for g in v
    )


def host_table(survey: HostSurvey) -> Table:
    t = Table(show_header=False, box=None)
    t.add_column(style="dim")
    t.add_column()
    for label, value in _host_rows(survey):
        t.add_row(label, value)
    return t


def host_markdown(survey: HostSurvey) -> str:
    rows = [md_row([k, v]) for k, v in _host_rows(survey)]
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
        f"{box.ram_bytes / 1e9:,.0f} GB RAM ({box.ram_source}), "
        f"SSD {box.ssd_read_gbs:.3g} GB/s ({box.ssd_source}), CPU class {box.cpu_class}"
        + (f", {box.sockets} sockets" if box.sockets > 1 else ""),
        f"bound at {p.bandwidth_gbs:.1f} GB/s: {p.bound_weights_tps:.2f} tok/s (weights only), "
        f"{p.bound_tps:.2f} tok/s with the KV cache",
    ]
    eff = (
        f"η {p.efficiency_low:.2f}-{p.efficiency_high:.2f}, {p.calibration} "
        f"({p.efficiency_profile}, width x{p.efficiency_high / p.efficiency_low:.2f})"
    )
    if box.bandwidth_source == "measured" and p.calibration != "measured":
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
    ram_hint = ""
    if not p.fits and box.ram_source == "this host" and box.bandwidth_source == "given":
        ram_hint = "; that is this host's RAM: describe the box's own with --ram"
    lines.append(
        f"memory: needs {p.memory_needed_bytes / 1e9:.1f} GB: "
        + ("fits in RAM" if p.fits else str(p.note))
        + ram_hint
    )
    head, *evidence = _evidence(p).split("\n")
    lines.append(f"η rests on: {head}")
    lines += evidence
    return lines


def estimate_markdown(e: Estimate) -> str:
    return "".join(
        f"  - {md(line[4:])}\n" if line.startswith("  - ") else f"- {md(line)}\n"
        for line in estimate_lines(e)
    )


PLAN_HEAD = (
    "box",
    "quant",
    "bound tok/s",
    "expected tok/s",
    "η (calibration)",
    "fits in RAM",
    "price / tok/s",
)


def _evidence(r: Prediction) -> str:
    """What a row's η rests on: its status and reason, then one published point a line."""
    head = r.calibration if r.calibration_reason == "same class" else r.calibration_reason
    return "\n".join([head, *(f"  - {a}" for a in r.anchors)])


def calibration_notes(rows: tuple[Prediction, ...]) -> list[str]:
    """The distinct evidence behind the rows, numbered in order of first use."""
    notes: list[str] = []
    for r in rows:
        if (e := _evidence(r)) not in notes:
            notes.append(e)
    return notes


def _eta_cell(r: Prediction, notes: list[str]) -> str:
    return (
        f"{r.efficiency_low:.2f}-{r.efficiency_high:.2f} {r.calibration} "
        f"[{notes.index(_evidence(r)) + 1}]"
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
    notes = calibration_notes(p.rows)
    return [
        [
            r.box,
            r.quant or DASH,
            f"{r.bound_tps:.2f}",
            f"{r.low_tps:.2f}-{r.high_tps:.2f}",
            _eta_cell(r, notes),
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
    lines += ["", "η: measured tok/s ÷ the weights-only bound at peak bandwidth; it rests on:"]
    for i, note in enumerate(calibration_notes(p.rows), 1):
        first, *points = note.split("\n")
        lines += [f"{i}. {md(first)}", *(f"   {md(pt.strip())}" for pt in points)]
    if p.kwh_price is not None:  # with a cost, the sources of its watts follow the table
        lines += ["", "Power (J/token = typical wall watts / the tok/s range; ~ = estimate):"]
        lines += [f"- {md(n)}" for n in _power_notes(p)]
    return "\n".join(lines) + "\n"


def plan_table(p: Plan) -> Table:
    t = Table(
        title=f"{p.shape.name}, context {p.context}, KV {p.kv}",
        title_justify="left",
        caption_justify="left",
    )
    left = ("box", "quant", "fits in RAM", "η (calibration)")
    for h in plan_head(p):
        t.add_column(h, justify="left" if h in left else "right")
    for c in plan_cells(p):
        t.add_row(*c)
    evidence = [f"[{i}] {n}" for i, n in enumerate(calibration_notes(p.rows), 1)]
    t.caption = "\n".join(
        ["; ".join(f"{b.name}: {b.description}" for b in p.boxes), *evidence, *_power_notes(p)]
    )
    return t
