"""Energy and host-load records kept with requests, bench samples and runs.

Defined here, below every other package, so that runs, the store and the renderers share
them; `tokbench.energy` computes them (formulas in docs/metrics.md, "Energy and cost").
Stored as JSON objects: `to_json` drops nothing, `from_json` ignores keys it does not know
and leaves missing ones at their defaults, so older and newer stores read each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Protocol

NO_POWER_SOURCE = "no power source"


def _values(cls: Any, d: dict[str, Any]) -> dict[str, Any]:
    """A record's fields from a stored object: unknown keys dropped, lists as tuples, a
    missing field without a default as None."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in d:
            v = d[f.name]
            values[f.name] = tuple(v) if isinstance(v, list) else v
        elif f.default is MISSING and f.default_factory is MISSING:
            values[f.name] = None
    return values


@dataclass(frozen=True, slots=True)
class RequestEnergy:
    """One request's (or bench sample's) energy: the whole, prefill and decode."""

    energy_j: float | None
    prefill_j: float | None
    decode_j: float | None
    model_energy_j: float | None  # energy_j minus the idle baseline over the request
    j_per_token: float | None  # energy_j / output tokens: all-in cost of one token
    j_per_output_token: float | None  # decode_j / (output tokens - 1)
    j_per_prompt_token: float | None  # prefill_j / prompt tokens
    tokens_per_kwh: float | None
    avg_power_w: float | None
    peak_power_w: float | None
    duration_s: float
    output_tokens: int | None
    approximate: bool  # the whole request is shorter than the sampling gap
    prefill_approximate: bool  # prefill usually is: its split is then interpolated
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RequestEnergy:
        return cls(**_values(cls, d))


@dataclass(frozen=True, slots=True)
class HostWindow:
    """What the host did while one request ran (between two monitor snapshots)."""

    duration_s: float
    n_cpus: int
    other_cpu_cores: float  # average cores used by processes other than the watched ones
    own_cpu_cores: float
    cpu_freq_mhz: float | None  # mean of the snapshots' means
    cpu_freq_min_mhz: float | None
    swap_in_pages: int
    swap_out_pages: int
    major_faults: int
    own_major_faults: int
    busy: bool
    busy_reason: str  # empty when not busy

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HostWindow:
        return cls(**_values(cls, d))


@dataclass(frozen=True, slots=True)
class RunEnergy:
    """A run's totals over its measured requests, what they cost, and how busy the host was."""

    requests: int
    measured: int  # requests with an energy figure
    approximate: int
    energy_j: float | None
    model_energy_j: float | None
    baseline_w: float | None
    output_tokens: int
    j_per_token: float | None
    tokens_per_kwh: float | None
    avg_power_w: float | None
    peak_power_w: float | None
    electricity_per_mtok: float | None  # currency per million output tokens
    hardware_per_mtok: float | None
    currency: str
    power_source: str  # what the energy covers, or "no power source"
    busy_requests: int = 0  # requests during which the host was busy
    host_monitored: int = 0  # requests with a host window
    interval_s: float | None = None  # the sampling interval
    kwh_price: float | None = None
    box_price: float | None = None
    lifetime_hours: float | None = None
    notes: tuple[str, ...] = ()  # detection and sampling notes, one sentence each

    @property
    def has_power(self) -> bool:
        return self.power_source != NO_POWER_SOURCE

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunEnergy:
        return cls(**_values(cls, d))


class EnergyMeter(Protocol):
    """What a run (a suite run, an eval, a bench) needs of `energy.session.EnergySession`:
    named here, below both, so that a runner need not import the energy package."""

    @property
    def started(self) -> bool: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def window(
        self,
        t_send_ns: int,
        t_first_ns: int | None,
        t_end_ns: int,
        prompt_tokens: int | None,
        output_tokens: int | None,
    ) -> tuple[RequestEnergy | None, HostWindow | None]: ...
    def host_only(self, t0_ns: int, t1_ns: int) -> HostWindow | None: ...
    def totals(
        self, energies: Sequence[RequestEnergy | None], windows: Sequence[HostWindow | None]
    ) -> RunEnergy: ...
