"""Energy and cost formulas on figures worked out by hand."""

from __future__ import annotations

import pytest

from tokbench.energy.metrics import (
    CostInputs,
    RequestSpan,
    electricity_per_mtok,
    hardware_per_mtok,
    model_energy_j,
    parse_lifetime,
    power_cost_per_mtok,
    request_energy,
    run_energy,
    tokens_per_kwh,
)
from tokbench.energy.presets import ANCHORS, POWER_PRESETS
from tokbench.energy.sampler import EnergyReading
from tokbench.errors import TokbenchError


def reading(energy_j: float | None, duration_s: float, approximate: bool = False) -> EnergyReading:
    avg = None if energy_j is None else energy_j / duration_s
    return EnergyReading(energy_j, duration_s, avg, avg, approximate, 3, ())


def test_unit_conversions() -> None:
    # 3.6 MJ is one kWh: 100 tokens for 360 J is a million tokens per kWh.
    assert tokens_per_kwh(100, 360.0) == pytest.approx(1e6)
    # 3.6 J a token -> a million tokens use 1 kWh -> costs the kWh price.
    assert electricity_per_mtok(360.0, 100, 0.5) == pytest.approx(0.5)
    # 2000 over 20000 h is 0.1 an hour; 0.5 s a token -> 1e6 tokens take 138.9 h.
    assert hardware_per_mtok(50.0, 100, 2000.0, 20000.0) == pytest.approx(0.1 * 1e6 * 0.5 / 3600)
    # The user-measured R1 anchor: 477 W at 4.18 tok/s is 114 J a token.
    assert ANCHORS[0].j_per_token == pytest.approx(114.11, abs=0.01)
    assert power_cost_per_mtok(477, 4.18, 1.0) == pytest.approx(114.11e6 / 3.6e6, rel=1e-4)
    assert model_energy_j(100.0, 40.0, 2.0) == pytest.approx(20.0)
    assert model_energy_j(70.0, 40.0, 2.0) == 0.0
    assert tokens_per_kwh(0, 10.0) == 0.0 and tokens_per_kwh(10, 0.0) is None


def test_request_split_into_prefill_and_decode() -> None:
    span = RequestSpan(0, 2_000_000_000, 10_000_000_000, prompt_tokens=500, output_tokens=81)
    rec = request_energy(
        span, reading(1000.0, 10.0), reading(300.0, 2.0), reading(700.0, 8.0), baseline_w=60.0
    )
    assert rec.j_per_prompt_token == pytest.approx(0.6)
    assert rec.j_per_output_token == pytest.approx(700.0 / 80)  # the first token is prefill's
    assert rec.j_per_token == pytest.approx(1000.0 / 81)
    assert rec.model_energy_j == pytest.approx(400.0)
    assert rec.avg_power_w == pytest.approx(100.0)
    none = request_energy(span, reading(None, 10.0), None, None, None)
    assert none.energy_j is None and none.j_per_token is None and none.tokens_per_kwh is None


def test_run_totals_and_costs() -> None:
    span = RequestSpan(0, 1, 2, 10, 101)
    a = request_energy(span, reading(500.0, 5.0), None, None, 50.0)
    b = request_energy(span, reading(1500.0, 15.0, approximate=True), None, None, 50.0)
    missing = request_energy(span, reading(None, 4.0), None, None, 50.0)
    costs = CostInputs(kwh_price=1.2, box_price=2000.0, lifetime_hours=26298.0, currency="CNY")
    run = run_energy([a, b, missing], baseline_w=50.0, power_source="wall (IPMI)", costs=costs)
    assert (run.requests, run.measured, run.approximate) == (3, 2, 1)
    assert run.energy_j == pytest.approx(2000.0)
    assert run.model_energy_j == pytest.approx(1000.0)
    assert run.output_tokens == 202
    assert run.j_per_token == pytest.approx(2000.0 / 202)
    assert run.avg_power_w == pytest.approx(100.0)
    assert run.electricity_per_mtok == pytest.approx(2000.0 / 202 * 1e6 / 3.6e6 * 1.2)
    # The hardware share counts every request's time, measured or not: 24 s for 303 tokens.
    assert run.hardware_per_mtok == pytest.approx(2000.0 / (26298.0 * 3600) * 24.0 / 303 * 1e6)
    assert run.currency == "CNY"


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("20000h", 20000.0),
        ("5000", 5000.0),
        ("3y", 3 * 8766.0),
        ("3y@50%", 1.5 * 8766.0),
        ("3y@50", 1.5 * 8766.0),  # a duty cycle is always a percentage
        ("3y@1", 0.03 * 8766.0),  # 1 %, not 100 % (it used to be read as a fraction)
        ("3y@2", 0.06 * 8766.0),
        ("2 years @ 25", 0.5 * 8766.0),
    ],
)
def test_parse_lifetime(text: str, hours: float) -> None:
    assert parse_lifetime(text) == pytest.approx(hours)


@pytest.mark.parametrize(
    "text", ["forever", "3y@150%", "0h", "100h@50%", "3y@0.5", "3y@0", "1e9y", "3y@nan"]
)
def test_parse_lifetime_rejects(text: str) -> None:
    with pytest.raises(TokbenchError, match="--lifetime"):
        parse_lifetime(text)


def test_presets_have_sources() -> None:
    for preset in POWER_PRESETS.values():
        assert preset.low_w <= preset.typical_w <= preset.high_w
        assert len(preset.source) > 40  # a citation, not a placeholder
