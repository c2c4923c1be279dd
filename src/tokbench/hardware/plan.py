"""`tokbench plan`: which box for which model. Every row is the one speed model
(speed.predict) on a preset box or a described one, with the price per tok/s where a price
is given."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokbench.energy.metrics import power_cost_per_mtok
from tokbench.energy.presets import POWER_PRESETS
from tokbench.errors import TokbenchError
from tokbench.hardware.presets import (
    PRESETS,
    SHAPES,
    SSD_SATA_GBS,
    Shape,
    described_box,
    preset_box,
    shape_load,
)
from tokbench.hardware.speed import DEFAULT_CONTEXT, BoxFacts, Prediction, predict


@dataclass(frozen=True, slots=True)
class RowPower:
    """A plan row's electricity, from the preset's typical wall power (with its source)."""

    typical_w: float
    low_w: float
    high_w: float
    measured: bool  # False: an estimate from the parts' TDP ("~" in tables)
    source: str
    j_per_token_low: float  # typical watts at the high end of the speed range
    j_per_token_high: float  # ... and at the low end
    electricity_per_mtok_low: float | None  # with --kwh-price; currency per million tokens
    electricity_per_mtok_high: float | None


@dataclass(frozen=True, slots=True)
class Plan:
    shape: Shape
    context: int
    kv: str
    boxes: tuple[BoxFacts, ...]
    rows: tuple[Prediction, ...]  # box-major, then quant
    power: tuple[RowPower | None, ...] = ()  # one per row; None: no power figure for the box
    kwh_price: float | None = None
    currency: str = ""


def row_power(p: Prediction, kwh_price: float | None) -> RowPower | None:
    """Energy and electricity per million tokens over the row's predicted speed range."""
    preset = POWER_PRESETS.get(p.box)
    if preset is None or p.low_tps <= 0 or p.high_tps <= 0:
        return None
    w = preset.typical_w

    def cost(tps: float) -> float | None:
        return power_cost_per_mtok(w, tps, kwh_price) if kwh_price is not None else None

    return RowPower(
        w,
        preset.low_w,
        preset.high_w,
        preset.measured,
        preset.source,
        w / p.high_tps,
        w / p.low_tps,
        cost(p.high_tps),
        cost(p.low_tps),
    )


def parse_prices(prices: tuple[str, ...] | list[str]) -> dict[str, float]:
    """`BOX=AMOUNT` strings as a mapping."""
    out: dict[str, float] = {}
    for p in prices:
        name, _, amount = p.partition("=")
        try:
            out[name] = float(amount)
        except ValueError:
            raise TokbenchError(f"--price {p!r}: use BOX=AMOUNT, e.g. seed-4ch=2000") from None
    return out


def plan(
    shape: str = "deepseek-r1",
    quants: list[str] | None = None,
    boxes: list[str] | None = None,
    prices: dict[str, float] | None = None,
    *,
    context: int = DEFAULT_CONTEXT,
    kv: str = "mla",
    kwh_price: float | None = None,
    currency: str = "",
    bandwidth_gbs: float | None = None,
    ram_bytes: float | None = None,
    ssd_gbs: float | None = None,
    cpu_class: str | None = None,
    sockets: int | None = None,
) -> Plan:
    """Every (box, quant) of the shape; all of its quants and all presets by default.
    With `bandwidth_gbs` (and `ram_bytes`) a described box is planned too, alone unless
    `boxes` names presets; otherwise RAM, SSD, CPU class and sockets given replace the
    presets' own."""
    if shape not in SHAPES:
        raise TokbenchError(f"unknown model shape {shape!r}; known: {', '.join(SHAPES)}")
    s = SHAPES[shape]
    qs = quants or list(s.quants)
    for q in qs:
        if q not in s.quants:
            raise TokbenchError(f"unknown quant {q!r}; known: {', '.join(s.quants)}")

    def describe(box: BoxFacts) -> BoxFacts:
        return described_box(
            box, ram_bytes=ram_bytes, ssd_gbs=ssd_gbs, cpu_class=cpu_class, sockets=sockets
        )

    if bandwidth_gbs:
        if not ram_bytes:
            raise TokbenchError(
                "a box described by --bandwidth needs --ram too (its memory, e.g. --ram 768)"
            )
        own = BoxFacts(
            "described",
            bandwidth_gbs,
            ram_bytes,
            SSD_SATA_GBS,
            "unknown",
            description=f"{bandwidth_gbs:g} GB/s, {ram_bytes / 1e9:,.0f} GB RAM"
            + (f", {cpu_class}" if cpu_class else ", CPU class not given (--cpu)"),
            bandwidth_source="given",
            ssd_source="assumed: a SATA SSD",
            ram_source="given",
        )
        bs = (*(preset_box(b) for b in boxes or ()), describe(own))
    else:
        bs = tuple(describe(preset_box(b)) for b in (boxes or list(PRESETS)))
    prices = prices or {}
    rows = tuple(
        predict(shape_load(shape, q, kv=kv), b, context=context, price=prices.get(b.name))
        for b in bs
        for q in qs
    )
    if kwh_price is not None and not (math.isfinite(kwh_price) and kwh_price > 0):
        raise TokbenchError(f"--kwh-price must be a positive price per kWh, got {kwh_price}")
    power = tuple(row_power(r, kwh_price) for r in rows)
    return Plan(s, context, kv, bs, rows, power, kwh_price, currency)
