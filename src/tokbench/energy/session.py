"""One run's energy measurement, as the runners use it: detect the power sources, start
the sampler (with the host monitor, which runs even without a power source), measure the
idle baseline, measure each request's window (energy of the request and its prefill and
decode phases, and the host's load), total the run, stop.

A run without any power source still gets host-load flags and the hardware share of the
cost; its energy figures say "no power source", never a guess.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tokbench.core.config import EnergySettings
from tokbench.core.energy import NO_POWER_SOURCE, HostWindow, RequestEnergy, RunEnergy
from tokbench.energy.base import MAX_POWER_W
from tokbench.energy.metrics import (
    CostInputs,
    RequestSpan,
    parse_lifetime,
    request_energy,
    run_energy,
)
from tokbench.energy.monitor import HostMonitor, listening_pids
from tokbench.energy.sampler import Sampler
from tokbench.energy.sources import Detection, detect_sources
from tokbench.errors import TokbenchError

MAX_IDLE_S = 600.0  # ten minutes of idle is plenty for a baseline
# Below 10 ms the sampler's own reads (a process per sample for --power-cmd) steal the CPU
# the benchmark measures: 1e-9 s halved a measured decode speed.
MIN_INTERVAL_S = 0.01
MAX_INTERVAL_S = 60.0


def _positive(value: float | None, flag: str, what: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise TokbenchError(f"{flag} must be a positive number of {what}, got {value}")


def checked(options: EnergySettings) -> EnergySettings:
    """These options, or a TokbenchError naming the bad one in one sentence."""
    o = options
    _positive(o.watts, "--watts", "watts")
    if o.watts is not None and o.watts > MAX_POWER_W:
        raise TokbenchError(f"--watts must be at most {MAX_POWER_W:g} W, got {o.watts:g}")
    if not MIN_INTERVAL_S <= o.interval_s <= MAX_INTERVAL_S:  # NaN fails too
        raise TokbenchError(
            f"--power-interval must be {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g} seconds "
            f"(sampling faster slows the run it measures), got {o.interval_s:g}"
        )
    if not 0 <= o.idle_s <= MAX_IDLE_S:
        raise TokbenchError(
            f"--idle-s must be 0 (skip) to {MAX_IDLE_S:g} seconds, got {o.idle_s:g}"
        )
    _positive(o.kwh_price, "--kwh-price", "currency units per kWh")
    _positive(o.box_price, "--box-price", "currency units")
    if o.watts is not None and o.power_cmd is not None:
        raise TokbenchError("give --watts or --power-cmd, not both")
    if o.power_cmd is not None and not o.power_cmd.strip():
        raise TokbenchError("--power-cmd is empty: give a command that prints watts")
    if (o.box_price is None) != (o.lifetime is None):
        raise TokbenchError(
            "--box-price and --lifetime go together: the box's price is spread over its "
            "hours of use"
        )
    lifetime_hours(o)
    if len(o.currency) > 12:
        raise TokbenchError(f"--currency is a short label such as EUR or ¥, got {o.currency!r}")
    return o


def lifetime_hours(options: EnergySettings) -> float | None:
    return parse_lifetime(options.lifetime) if options.lifetime is not None else None


def costs(options: EnergySettings) -> CostInputs:
    return CostInputs(
        options.kwh_price, options.box_price, lifetime_hours(options), options.currency
    )


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


def _local_port(url: str | None) -> int | None:
    """The port of a server on this machine (its process then counts as the benchmark's)."""
    if not url:
        return None
    parts = urlsplit(url if "//" in url else "http://" + url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return None
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None


class EnergySession:
    """The sampler of one run or bench; `start()` before the first request, `stop()` after."""

    def __init__(
        self,
        options: EnergySettings,
        *,
        notify: Callable[[str], None] = lambda _msg: None,
        server_url: str | None = None,
        detect: Callable[..., Detection] = detect_sources,
        proc_root: Path = Path("/proc"),
    ) -> None:
        self.options = checked(options)
        self.notify = notify
        self.server_url = server_url
        self._detect = detect
        self._proc_root = proc_root
        self.sampler: Sampler | None = None
        self.detection = Detection((), ())
        self._reported = 0

    # -- lifetime ----------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self.sampler is not None

    def start(self) -> None:
        o = self.options
        self.detection = self._detect(
            watts=o.watts, power_cmd=o.power_cmd, prefer_wall=o.prefer_wall
        )
        host = self._host_monitor()
        self.sampler = Sampler(self.detection.sources, interval_s=o.interval_s, host=host)
        self.sampler.start()
        if self.detection.sources:
            self.notify(f"energy: {self.detection.label}")
            for note in self.detection.notes:
                self.notify(f"energy: {note}")
            if o.idle_s > 0:
                self.notify(f"energy: measuring the idle draw for {o.idle_s:g} s...")
                base = self.sampler.baseline(o.idle_s)
                if base.power_w is not None:
                    self.notify(f"energy: idle {base.power_w:.1f} W")
        else:
            why = "; ".join(self.detection.notes)
            self.notify(
                f"energy: {NO_POWER_SOURCE}"
                + (f" ({why})" if why else "")
                + "; give --watts N or --power-cmd CMD to measure it"
            )

    def _host_monitor(self) -> HostMonitor | None:
        if not self.options.host_monitor or not sys.platform.startswith("linux"):
            return None
        try:
            host = HostMonitor(self._proc_root)
        except TokbenchError as e:
            self.notify(f"host monitor off: {e}")
            return None
        port = _local_port(self.server_url)
        if port is not None:
            for pid in listening_pids(port, self._proc_root):
                host.watch_tree(pid)  # the local server's CPU is the benchmark's, not others'
        return host

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
            self.flush_notes()

    def __enter__(self) -> EnergySession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def flush_notes(self) -> None:
        """Print the sampler's notes not yet printed (a source dropped mid-run)."""
        if self.sampler is None:
            return
        notes = self.sampler.notes
        for note in notes[self._reported :]:
            self.notify(f"energy: {note}")
        self._reported = len(notes)

    # -- measuring ---------------------------------------------------------------------

    def measure(
        self,
        t_send_ns: int,
        t_first_ns: int | None,
        t_end_ns: int,
        prompt_tokens: int | None,
        output_tokens: int | None,
    ) -> RequestMeasure | None:
        """One request's energy and host window (None before start())."""
        if self.sampler is None:
            return None
        span = RequestSpan(t_send_ns, t_first_ns, t_end_ns, prompt_tokens, output_tokens)
        m = measure_request(self.sampler, span)
        self.flush_notes()
        return m

    def window(
        self,
        t_send_ns: int,
        t_first_ns: int | None,
        t_end_ns: int,
        prompt_tokens: int | None,
        output_tokens: int | None,
    ) -> tuple[RequestEnergy | None, HostWindow | None]:
        """`measure` as the pair a runner stores."""
        m = self.measure(t_send_ns, t_first_ns, t_end_ns, prompt_tokens, output_tokens)
        return (m.energy, m.host) if m else (None, None)

    def host_only(self, t0_ns: int, t1_ns: int) -> HostWindow | None:
        """The host window of a span whose energy is not its own (concurrent streams)."""
        return self.sampler.host_window(t0_ns, t1_ns) if self.sampler else None

    def totals(
        self, energies: Sequence[RequestEnergy | None], windows: Sequence[HostWindow | None]
    ) -> RunEnergy:
        """The run's energy, cost and busy count over its requests (stored ones included)."""
        label = self.sampler.label if self.sampler else self.detection.label
        notes = [*self.detection.notes, *(self.sampler.notes if self.sampler else ())]
        return run_energy(
            [e for e in energies if e is not None],
            baseline_w=self.sampler.baseline_w if self.sampler else None,
            power_source=label,
            costs=costs(self.options),
            host_windows=windows,
            interval_s=self.options.interval_s,
            notes=notes,
        )
