"""Energy and cost metrics, each defined once (formulas in docs/metrics.md).

Pure functions of a request's timestamps and counts and of the energy the sampler
integrated over its phases: prefill is t_send..t_first, decode t_first..t_end.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tokbench.core.energy import HostWindow, RequestEnergy, RunEnergy
from tokbench.energy.sampler import EnergyReading
from tokbench.errors import TokbenchError

__all__ = [
    "CostInputs",
    "RequestEnergy",
    "RequestSpan",
    "RunEnergy",
    "parse_lifetime",
    "power_cost_per_mtok",
    "request_energy",
    "run_energy",
]

J_PER_KWH = 3.6e6
HOURS_PER_YEAR = 365.25 * 24
MIN_DUTY_PCT = 1.0
MAX_LIFETIME_H = 100 * HOURS_PER_YEAR


@dataclass(frozen=True, slots=True)
class RequestSpan:
    """What the energy metrics need from one request (perf_counter_ns timestamps)."""

    t_send_ns: int
    t_first_ns: int | None  # first token; None when nothing was generated
    t_end_ns: int
    prompt_tokens: int | None
    output_tokens: int | None


@dataclass(frozen=True, slots=True)
class CostInputs:
    kwh_price: float | None = None  # electricity, currency per kWh
    box_price: float | None = None  # hardware, currency
    lifetime_hours: float | None = None  # hours of use over which the box is paid off
    currency: str = ""


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den


def tokens_per_kwh(tokens: int | None, energy_j: float | None) -> float | None:
    return ratio(
        None if tokens is None else float(tokens),
        None if energy_j is None else energy_j / J_PER_KWH,
    )


def model_energy_j(
    energy_j: float | None, baseline_w: float | None, duration_s: float
) -> float | None:
    """Energy above the idle draw; never below zero (a quiet request can dip under idle)."""
    if energy_j is None or baseline_w is None:
        return None
    return max(energy_j - baseline_w * duration_s, 0.0)


def electricity_per_mtok(
    energy_j: float | None, tokens: int | None, kwh_price: float | None
) -> float | None:
    """Electricity cost of a million output tokens at this energy per token."""
    per_token = ratio(energy_j, None if tokens is None else float(tokens))
    if per_token is None or kwh_price is None:
        return None
    return per_token * 1e6 / J_PER_KWH * kwh_price


def hardware_per_mtok(
    busy_s: float, tokens: int | None, box_price: float | None, lifetime_hours: float | None
) -> float | None:
    """The box's price spread over its hours of use, charged for the time these tokens took."""
    if box_price is None or lifetime_hours is None or lifetime_hours <= 0:
        return None
    per_token = ratio(busy_s, None if tokens is None else float(tokens))
    if per_token is None:
        return None
    return box_price / (lifetime_hours * 3600) * per_token * 1e6


def power_cost_per_mtok(power_w: float, tokens_per_s: float, kwh_price: float) -> float | None:
    """`plan`: electricity per million tokens from a typical draw and a predicted speed."""
    if tokens_per_s <= 0:
        return None
    return power_w / tokens_per_s * 1e6 / J_PER_KWH * kwh_price


_LIFETIME = re.compile(
    r"\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>h|hours?|y|years?)?\s*(?:@\s*(?P<duty>\d+(?:\.\d+)?)\s*(?P<pct>%)?)?\s*"
)


def parse_lifetime(text: str) -> float:
    """Hours of use from `--lifetime`: `20000h`, `20000`, `3y` (always on) or years at a
    duty cycle, which is always a percentage: `3y@50` and `3y@50%` both mean half the time.
    A duty below 1 % is refused: `3y@0.5` is far likelier a fraction meant as 50 % than a
    box used 44 hours a year."""
    m = _LIFETIME.fullmatch(text)
    if m is None:
        raise TokbenchError(
            f"--lifetime {text!r}: give hours (20000h) or years at a duty cycle in percent (3y@50%)"
        )
    n = float(m.group("n"))
    unit = (m.group("unit") or "h")[0]
    duty_pct = 100.0
    if m.group("duty") is not None:
        if unit != "y":
            raise TokbenchError(f"--lifetime {text!r}: a duty cycle only goes with years (3y@50%)")
        duty_pct = float(m.group("duty"))
        if not MIN_DUTY_PCT <= duty_pct <= 100:
            raise TokbenchError(
                f"--lifetime {text!r}: the duty cycle is a percentage from {MIN_DUTY_PCT:g} to "
                "100 (3y@50 or 3y@50% is half the time)"
            )
    hours = n * HOURS_PER_YEAR * duty_pct / 100 if unit == "y" else n
    if not 0 < hours <= MAX_LIFETIME_H:
        raise TokbenchError(
            f"--lifetime {text!r}: needs a positive time of at most {MAX_LIFETIME_H:g} hours "
            "(100 years)"
        )
    return hours


def request_energy(
    span: RequestSpan,
    total: EnergyReading,
    prefill: EnergyReading | None,
    decode: EnergyReading | None,
    baseline_w: float | None,
) -> RequestEnergy:
    """The per-request energy record from the sampler's readings of its three windows."""
    out = span.output_tokens
    prefill_j = prefill.energy_j if prefill else None
    decode_j = decode.energy_j if decode else None
    notes = [r.note for r in (total, prefill, decode) if r is not None and r.note]
    return RequestEnergy(
        energy_j=total.energy_j,
        prefill_j=prefill_j,
        decode_j=decode_j,
        model_energy_j=model_energy_j(total.energy_j, baseline_w, total.duration_s),
        j_per_token=ratio(total.energy_j, None if out is None else float(out)),
        j_per_output_token=ratio(decode_j, None if out is None else float(out - 1)),
        j_per_prompt_token=ratio(
            prefill_j, None if span.prompt_tokens is None else float(span.prompt_tokens)
        ),
        tokens_per_kwh=tokens_per_kwh(out, total.energy_j),
        avg_power_w=total.avg_power_w,
        peak_power_w=total.peak_power_w,
        duration_s=total.duration_s,
        output_tokens=out,
        approximate=total.approximate,
        prefill_approximate=prefill.approximate if prefill else False,
        note=notes[0] if notes else "",
    )


def run_energy(
    requests: Sequence[RequestEnergy],
    *,
    baseline_w: float | None,
    power_source: str,
    costs: CostInputs = CostInputs(),
    host_windows: Sequence[HostWindow | None] = (),
    interval_s: float | None = None,
    notes: Sequence[str] = (),
) -> RunEnergy:
    """Run totals over the requests that have an energy figure; `host_windows` (one per
    request, None where unmonitored) give the count of requests made on a busy host."""
    measured = [r for r in requests if r.energy_j is not None]
    energy = sum(r.energy_j or 0.0 for r in measured) if measured else None
    tokens = sum(r.output_tokens or 0 for r in measured)
    busy_s = sum(r.duration_s for r in measured)
    models = [r.model_energy_j for r in measured]
    model = sum(m for m in models if m is not None) if models and None not in models else None
    peaks = [r.peak_power_w for r in measured if r.peak_power_w is not None]
    # The hardware cost needs only time and tokens, so it exists even without a power source.
    all_tokens = sum(r.output_tokens or 0 for r in requests)
    all_s = sum(r.duration_s for r in requests)
    return RunEnergy(
        requests=len(requests),
        measured=len(measured),
        approximate=sum(1 for r in measured if r.approximate),
        energy_j=energy,
        model_energy_j=model,
        baseline_w=baseline_w,
        output_tokens=tokens,
        j_per_token=ratio(energy, float(tokens)),
        tokens_per_kwh=tokens_per_kwh(tokens, energy),
        avg_power_w=ratio(energy, busy_s),
        peak_power_w=max(peaks) if peaks else None,
        electricity_per_mtok=electricity_per_mtok(energy, tokens, costs.kwh_price),
        hardware_per_mtok=hardware_per_mtok(
            all_s, all_tokens, costs.box_price, costs.lifetime_hours
        ),
        currency=costs.currency,
        power_source=power_source,
        busy_requests=sum(1 for w in host_windows if w is not None and w.busy),
        host_monitored=sum(1 for w in host_windows if w is not None),
        interval_s=interval_s,
        kwh_price=costs.kwh_price,
        box_price=costs.box_price,
        lifetime_hours=costs.lifetime_hours,
        notes=tuple(notes),
    )
