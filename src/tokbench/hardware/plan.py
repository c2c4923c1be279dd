"""`tokbench plan`: which box for which model. Every row is the one speed model
(speed.predict) on a preset box, with the price per tok/s where a price is given."""

from __future__ import annotations

from dataclasses import dataclass

from tokbench.errors import TokbenchError
from tokbench.hardware.presets import PRESETS, SHAPES, Shape, preset_box, shape_load
from tokbench.hardware.speed import DEFAULT_CONTEXT, BoxFacts, Prediction, predict


@dataclass(frozen=True, slots=True)
class Plan:
    shape: Shape
    context: int
    kv: str
    boxes: tuple[BoxFacts, ...]
    rows: tuple[Prediction, ...]  # box-major, then quant


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
) -> Plan:
    """Every (box, quant) of the shape; all of its quants and all presets by default."""
    if shape not in SHAPES:
        raise TokbenchError(f"unknown model shape {shape!r}; known: {', '.join(SHAPES)}")
    s = SHAPES[shape]
    qs = quants or list(s.quants)
    for q in qs:
        if q not in s.quants:
            raise TokbenchError(f"unknown quant {q!r}; known: {', '.join(s.quants)}")
    bs = tuple(preset_box(b) for b in (boxes or list(PRESETS)))
    prices = prices or {}
    rows = tuple(
        predict(shape_load(shape, q, kv=kv), b, context=context, price=prices.get(b.name))
        for b in bs
        for q in qs
    )
    return Plan(s, context, kv, bs, rows)
