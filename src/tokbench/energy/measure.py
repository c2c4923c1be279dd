"""Glue for the runner: one request's energy record and host window from a running sampler."""

from __future__ import annotations

from dataclasses import dataclass

from tokbench.energy.metrics import RequestEnergy, RequestSpan, request_energy
from tokbench.energy.monitor import HostWindow
from tokbench.energy.sampler import Sampler


@dataclass(frozen=True, slots=True)
class RequestMeasure:
    energy: RequestEnergy
    host: HostWindow | None  # None when the sampler has no host monitor
    power_source: str


def measure_request(sampler: Sampler, span: RequestSpan) -> RequestMeasure:
    """Energy of the whole request and of its prefill and decode phases, plus host load."""
    total = sampler.energy_between(span.t_send_ns, span.t_end_ns)
    prefill = decode = None
    if span.t_first_ns is not None:
        prefill = sampler.energy_between(span.t_send_ns, span.t_first_ns)
        decode = sampler.energy_between(span.t_first_ns, span.t_end_ns)
    energy = request_energy(span, total, prefill, decode, sampler.baseline_w)
    return RequestMeasure(energy, sampler.host_window(span.t_send_ns, span.t_end_ns), sampler.label)
