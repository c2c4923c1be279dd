"""Energy, cost and host load as table cells and sentences, shared by every renderer.

Approximate energy (a window shorter than the sampling interval) gets a "~"; a run
without a power source gets no energy table, only one line saying how to add a source;
RAPL figures are labelled CPU+DRAM only (the power source says so in its scope).
"""

from __future__ import annotations

from collections.abc import Sequence

from tokbench.core.energy import NO_POWER_SOURCE, HostWindow, RequestEnergy, RunEnergy

DASH = "–"  # as render.numbers's; not imported, to keep this leaf module's import chain short

BUSY = "⚠ busy host"


def joules(value: float | None, approximate: bool = False, digits: int = 2) -> str:
    if value is None:
        return DASH
    return ("~" if approximate else "") + f"{value:,.{digits}f}"


def si(value: float | None) -> str:
    """1234567 -> 1.23M (tokens per kWh)."""
    if value is None:
        return DASH
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


def money(value: float | None, currency: str = "") -> str:
    if value is None:
        return DASH
    text = f"{value:,.4f}" if value < 1 else f"{value:,.2f}"
    return f"{text} {currency}".strip()


def host_cell(h: HostWindow | None) -> str:
    if h is None:
        return DASH
    load = f"{h.other_cpu_cores:.1f}/{h.n_cpus} cores"
    return f"{BUSY} ({load})" if h.busy else f"quiet ({load})"


def request_cells(e: RequestEnergy | None, h: HostWindow | None) -> list[str]:
    """J, J/token, J/output token (decode), J/prompt token (prefill), avg W, host."""
    if e is None:
        return [DASH] * 5 + [host_cell(h)]
    return [
        joules(e.energy_j, e.approximate),
        joules(e.j_per_token, e.approximate, 3),
        joules(e.j_per_output_token, e.approximate, 3),
        joules(e.j_per_prompt_token, e.prefill_approximate, 4),
        joules(e.avg_power_w, e.approximate, 1),
        host_cell(h),
    ]


REQUEST_HEAD = ("J", "J/token", "J/output tok", "J/prompt tok", "W", "host")


def busy_text(e: RunEnergy) -> str:
    if not e.host_monitored:
        return "host not monitored"
    if not e.busy_requests:
        return f"host quiet during all {e.host_monitored} requests"
    return f"{BUSY} during {e.busy_requests} of {e.host_monitored} requests"


def no_power_line(e: RunEnergy) -> str:
    """The whole energy section of a run measured without a power source, in one line: how
    to add one, the host's load (monitored anyway) and a hardware cost where one was given."""
    cost = ""
    if e.hardware_per_mtok is not None:
        cost = f"; hardware {money(e.hardware_per_mtok, e.currency)} per million output tokens"
    return (
        f"energy: {NO_POWER_SOURCE}: add --watts N (a wall meter's reading) or --power-cmd "
        f"CMD (a command printing watts){cost}; {busy_text(e)}"
    )


def shows_energy(e: RunEnergy | None) -> bool:
    """Whether a run gets an energy section (a table): only with a power source."""
    return e is not None and e.has_power


def run_lines(e: RunEnergy) -> list[str]:
    """The run's energy summary, one sentence a line (one line without a power source)."""
    if not e.has_power:
        return [no_power_line(e)]
    approx = f", {e.approximate} approximate (~)" if e.approximate else ""
    lines = [
        f"energy ({e.power_source}): {joules(e.energy_j, digits=1)} J over {e.measured} "
        f"of {e.requests} requests{approx}; {joules(e.j_per_token, digits=3)} J/token, "
        f"{si(e.tokens_per_kwh)} tokens/kWh, avg {joules(e.avg_power_w, digits=1)} W, "
        f"peak {joules(e.peak_power_w, digits=1)} W"
    ]
    if e.baseline_w is not None:
        lines.append(
            f"idle baseline {e.baseline_w:.1f} W; energy above idle "
            f"{joules(e.model_energy_j, digits=1)} J"
        )
    costs = []
    if e.electricity_per_mtok is not None:
        costs.append(f"electricity {money(e.electricity_per_mtok, e.currency)}")
    if e.hardware_per_mtok is not None:
        costs.append(f"hardware {money(e.hardware_per_mtok, e.currency)}")
    if costs:
        lines.append("cost per million output tokens: " + ", ".join(costs))
    lines.append(busy_text(e))
    return lines


def run_cells(e: RunEnergy | None) -> list[str]:
    """J/token, tokens/kWh, W, cost per Mtok, host: one run in a comparison."""
    if e is None:
        return [DASH] * 5
    host = BUSY if e.busy_requests else ("quiet" if e.host_monitored else DASH)
    cost = [c for c in (e.electricity_per_mtok, e.hardware_per_mtok) if c is not None]
    total = money(sum(cost), e.currency) if cost else DASH
    if not e.has_power:
        return [NO_POWER_SOURCE, DASH, DASH, total, host]
    approx = "~" if e.approximate else ""
    return [
        approx + joules(e.j_per_token, digits=3),
        si(e.tokens_per_kwh),
        joules(e.avg_power_w, digits=1),
        total,
        host,
    ]


RUN_HEAD = ("J/token", "tok/kWh", "W", "cost/Mtok", "host load")


def any_energy(items: Sequence[RunEnergy | None]) -> bool:
    return any(e is not None for e in items)
