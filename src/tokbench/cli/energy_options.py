"""The energy and cost options of `run` and `bench`, gathered into one `energy` argument."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "--watts",
        type=float,
        metavar="W",
        help="Energy: a constant draw you measured (e.g. at the wall), in watts.",
    ),
    click.option(
        "--power-cmd",
        metavar="CMD",
        help="Energy: a command that prints watts, 0 to 100 kW (a smart plug, a USB meter), "
        "run once per sample through /bin/sh in its own process group, which is killed "
        "after each sample.",
    ),
    click.option(
        "--power-interval",
        "power_interval_s",
        type=float,
        default=0.2,
        show_default=True,
        metavar="S",
        help="Seconds between power and host-load samples, 0.01 to 60 (faster sampling "
        "slows the run it measures).",
    ),
    click.option(
        "--idle-s",
        type=float,
        default=3.0,
        show_default=True,
        metavar="S",
        help="Seconds of idle power measured before the first request, 0 (skip) to 600; "
        "only with a power source.",
    ),
    click.option(
        "--prefer-wall",
        is_flag=True,
        help="Energy: use a wall reader (ACPI power meter, IPMI) before RAPL and GPUs.",
    ),
    click.option(
        "--kwh-price",
        type=float,
        metavar="P",
        help="Electricity price per kWh: adds the electricity cost per million tokens.",
    ),
    click.option(
        "--box-price",
        type=float,
        metavar="P",
        help="What the box cost: with --lifetime, adds the hardware cost per million tokens.",
    ),
    click.option(
        "--lifetime",
        metavar="T",
        help="Hours of use the box is paid off over: 20000h, or years at a duty cycle, "
        "always in percent (1-100): 3y@50% or 3y@50 is half the time, 3y is always on.",
    ),
    click.option(
        "--currency", default="", help="A label for the prices, e.g. EUR or ¥ (shown only)."
    ),
)


def energy_options(fn: F) -> F:
    """Add the energy flags; the command receives one checked `energy` (EnergyOptions)."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        watts: float | None,
        power_cmd: str | None,
        power_interval_s: float,
        idle_s: float,
        prefer_wall: bool,
        kwh_price: float | None,
        box_price: float | None,
        lifetime: str | None,
        currency: str,
        **kwargs: Any,
    ) -> Any:
        from tokbench.energy.session import EnergyOptions

        energy = EnergyOptions(
            watts=watts,
            power_cmd=power_cmd,
            interval_s=power_interval_s,
            idle_s=idle_s,
            kwh_price=kwh_price,
            box_price=box_price,
            lifetime=lifetime,
            currency=currency.strip(),
            prefer_wall=prefer_wall,
        ).checked()
        return fn(*args, energy=energy, **kwargs)

    out: Any = wrapper
    for option in reversed(_OPTIONS):
        out = option(out)
    return out  # type: ignore[no-any-return]
