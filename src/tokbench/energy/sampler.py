"""Background power sampling on the token clock, and energy over any time window.

A thread reads every source at a fixed interval (default 200 ms), stamping each reading
with `time.perf_counter_ns()` (the clock of the token timestamps; the midpoint of the
read, since a command may take a while). Each source keeps its samples in a bounded
ring as cumulative joules since the first sample: a counter source stores the counter,
a power source the trapezoid integral. Energy between two instants is then a difference
of two interpolated values found by bisection, whatever the run's length.

A source that fails `max_failures` times in a row is dropped with a note; the run goes
on, and windows after the failure have no energy (never a guess).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tokbench.energy.base import MAX_POWER_W, PowerSource, PowerSourceError
from tokbench.energy.monitor import HostMonitor, HostSnapshot, HostWindow
from tokbench.energy.ring import Ring

DEFAULT_INTERVAL_S = 0.2
DEFAULT_CAPACITY = 36_000  # two hours at 200 ms per source; older samples are overwritten


@dataclass(frozen=True, slots=True)
class SourceEnergy:
    name: str
    scope: str
    energy_j: float | None


@dataclass(frozen=True, slots=True)
class EnergyReading:
    """Energy used between two instants, summed over the sources."""

    energy_j: float | None  # None: no source covers the window (note says why)
    duration_s: float
    avg_power_w: float | None
    peak_power_w: float | None  # highest sampled power in the window (sum over sources)
    approximate: bool  # the window is shorter than the gap between two samples
    samples: int  # samples strictly inside the window (per source, the fewest)
    parts: tuple[SourceEnergy, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Baseline:
    """Idle draw measured before the run."""

    power_w: float | None
    duration_s: float
    approximate: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class SamplerSummary:
    """Everything sampled since start(), kept incrementally (not limited by the ring)."""

    energy_j: float | None
    duration_s: float
    avg_power_w: float | None
    peak_power_w: float | None
    samples: int
    notes: tuple[str, ...]


class _Track:
    """One source's samples: (cumulative joules, power over the last gap in watts)."""

    def __init__(self, source: PowerSource, capacity: int) -> None:
        self.source = source
        self.ring: Ring[tuple[float, float]] = Ring(capacity)
        self.first_raw: float | None = None
        self.failures = 0
        self.dropped_at_ns: int | None = None
        self.peak_w = 0.0

    def add(self, t_ns: int, raw: float) -> None:
        if self.first_raw is None:
            self.first_raw = raw
        ring = self.ring
        if ring.size == 0:
            cum = 0.0
            power = raw if self.source.kind == "power" else 0.0
        else:
            t_prev = ring.time(ring.size - 1)
            cum_prev, p_prev = ring.value(ring.size - 1)
            dt = (t_ns - t_prev) / 1e9
            if self.source.kind == "energy":
                cum = raw - self.first_raw
                power = (cum - cum_prev) / dt if dt > 0 else p_prev
            else:
                cum = cum_prev + dt * (p_prev + raw) / 2  # trapezoid
                power = raw
        self.peak_w = max(self.peak_w, power)
        ring.append(t_ns, (cum, power))

    def cum_at(self, t_ns: int) -> float | None:
        """Cumulative joules at t_ns, interpolated; None outside the kept samples."""
        ring = self.ring
        i = ring.last_at_or_before(t_ns)
        if i is None:
            return None
        t_i = ring.time(i)
        cum_i, p_i = ring.value(i)
        if t_ns == t_i:
            return cum_i
        if i + 1 >= ring.size:
            return None
        t_j = ring.time(i + 1)
        cum_j, p_j = ring.value(i + 1)
        f = (t_ns - t_i) / (t_j - t_i)
        if self.source.kind == "energy":
            return cum_i + (cum_j - cum_i) * f  # constant power inside one gap
        dt = (t_j - t_i) / 1e9  # power varies linearly: integrate the trapezoid's part
        return cum_i + dt * (p_i * f + (p_j - p_i) * f * f / 2)

    def covers(self, t0_ns: int, t1_ns: int) -> str:
        """Empty when the samples cover [t0, t1], else why not."""
        ring = self.ring
        if ring.size < 2 and not (ring.size == 1 and t0_ns == t1_ns == ring.time(0)):
            return f"{self.source.name}: not enough samples"
        if t0_ns < ring.time(0):
            if ring.dropped:
                return f"{self.source.name}: samples for this window were overwritten"
            return f"{self.source.name}: the window starts before sampling did"
        if self.dropped_at_ns is not None and t1_ns > ring.time(ring.size - 1):
            return f"{self.source.name}: the source failed and was dropped"
        if t1_ns > ring.time(ring.size - 1):
            return f"{self.source.name}: no sample after the window yet"
        return ""


def _plausible(source: PowerSource, raw: float) -> float:
    """A reading a run can use: finite, and for watts 0 to MAX_POWER_W; else refused."""
    if not math.isfinite(raw) or (source.kind == "power" and not 0 <= raw <= MAX_POWER_W):
        raise PowerSourceError(
            f"{source.name} read {raw:g}, not a plausible "
            + ("power (0 to 100 kW)" if source.kind == "power" else "energy counter")
            + ": sample refused"
        )
    return raw


class Sampler:
    """Samples power sources (and optionally the host) in a background thread."""

    def __init__(
        self,
        sources: Sequence[PowerSource],
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        host: HostMonitor | None = None,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], int] = time.perf_counter_ns,
        max_failures: int = 3,
    ) -> None:
        if not interval_s > 0:
            raise ValueError("the sampling interval must be positive")
        self.interval_s = interval_s
        self.clock = clock
        self.max_failures = max_failures
        self.host = host
        self._tracks = [_Track(s, capacity) for s in sources]
        self._host_ring: Ring[HostSnapshot] = Ring(capacity)
        self._lock = threading.Lock()  # guards the rings
        self._read_lock = threading.Lock()  # one tick at a time (thread or caller)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._notes: list[str] = []
        self._baseline: Baseline | None = None
        self._t_start: int | None = None

    # -- running ---------------------------------------------------------------------

    def start(self) -> None:
        """Take a first sample now, then sample in a daemon thread until stop()."""
        if self._thread is not None:
            return
        self.sample_once()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tokbench-power", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.sample_once()  # close the last window
        for track in self._tracks:
            track.source.close()

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        interval_ns = int(self.interval_s * 1e9)
        next_ns = self.clock() + interval_ns
        while not self._stop.wait(max(next_ns - self.clock(), 0) / 1e9):
            self.sample_once()
            next_ns += interval_ns
            now = self.clock()
            if next_ns < now:  # a slow source: skip missed ticks instead of bursting
                next_ns = now + interval_ns

    def sample_once(self) -> None:
        """Read every live source and the host once (the thread calls this each tick)."""
        with self._read_lock:
            for track in self._tracks:
                if track.dropped_at_ns is not None:
                    continue
                before = self.clock()
                try:
                    raw = _plausible(track.source, track.source.read())
                except (PowerSourceError, OSError, ValueError) as e:
                    # Anything a reader throws ends in a note: the thread must not die.
                    self._failed(track, str(e))
                    continue
                t_ns = (before + self.clock()) // 2
                track.failures = 0
                with self._lock:
                    track.add(t_ns, raw)
            if self.host is not None:
                try:
                    snap = self.host.snapshot()
                except (OSError, ValueError, IndexError) as e:
                    with self._lock:
                        self._notes.append(f"host monitor stopped: {e}")
                    self.host = None
                else:
                    with self._lock:
                        self._host_ring.append(snap.t_ns, snap)
            if self._t_start is None:
                self._t_start = self.clock()

    def _failed(self, track: _Track, message: str) -> None:
        track.failures += 1
        if track.failures >= self.max_failures:
            track.dropped_at_ns = self.clock()
            with self._lock:
                self._notes.append(f"{message}; sampling continues without {track.source.name}")

    # -- results ---------------------------------------------------------------------

    @property
    def notes(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._notes)

    @property
    def label(self) -> str:
        """The power_source value for results: the scopes summed, or "no power source"."""
        return " + ".join(t.source.scope for t in self._tracks) or "no power source"

    @property
    def baseline_w(self) -> float | None:
        return self._baseline.power_w if self._baseline else None

    def baseline(self, seconds: float, sleep: Callable[[float], None] = time.sleep) -> Baseline:
        """Measure the idle draw for `seconds` (the sampler must be running)."""
        t0 = self.clock()
        sleep(seconds)
        reading = self.energy_between(t0, self.clock())
        self._baseline = Baseline(
            reading.avg_power_w, reading.duration_s, reading.approximate, reading.note
        )
        return self._baseline

    def set_baseline(self, baseline: Baseline) -> None:
        """Reuse an idle baseline measured earlier (e.g. for the previous run of a bench)."""
        self._baseline = baseline

    def _ensure_sample_after(self, t1_ns: int) -> None:
        def behind(ring: Ring[Any]) -> bool:
            return ring.size == 0 or ring.time(ring.size - 1) < t1_ns

        with self._lock:
            need = any(t.dropped_at_ns is None and behind(t.ring) for t in self._tracks) or (
                self.host is not None and behind(self._host_ring)
            )
        if need and t1_ns <= self.clock():
            self.sample_once()

    def energy_between(self, t0_ns: int, t1_ns: int) -> EnergyReading:
        """Energy from t0 to t1 (perf_counter_ns), summed over the sources."""
        if t1_ns < t0_ns:
            raise ValueError("the window ends before it starts")
        duration_s = (t1_ns - t0_ns) / 1e9
        if not self._tracks:
            return EnergyReading(None, duration_s, None, None, False, 0, (), "no power source")
        self._ensure_sample_after(t1_ns)
        parts: list[SourceEnergy] = []
        problems: list[str] = []
        peak = 0.0
        inside = None
        with self._lock:
            for track in self._tracks:
                why = track.covers(t0_ns, t1_ns)
                c0 = c1 = None
                if not why:
                    c0, c1 = track.cum_at(t0_ns), track.cum_at(t1_ns)
                    if c0 is None or c1 is None:
                        why = f"{track.source.name}: window outside the samples"
                if why or c0 is None or c1 is None:
                    problems.append(why)
                    parts.append(SourceEnergy(track.source.name, track.source.scope, None))
                    continue
                parts.append(SourceEnergy(track.source.name, track.source.scope, c1 - c0))
                n, p = self._inside(track, t0_ns, t1_ns)
                inside = n if inside is None else min(inside, n)
                peak += p
        if problems:
            return EnergyReading(
                None, duration_s, None, None, False, 0, tuple(parts), "; ".join(problems)
            )
        energy = sum(p.energy_j or 0.0 for p in parts)
        avg = energy / duration_s if duration_s > 0 else None
        n_inside = inside or 0
        approximate = n_inside == 0 or duration_s < self.interval_s
        note = ""
        if approximate:
            note = (
                f"the window ({duration_s * 1000:.0f} ms) is shorter than the sampling "
                f"interval ({self.interval_s * 1000:.0f} ms): energy interpolated"
            )
        peak = max(peak, avg or 0.0)
        return EnergyReading(
            energy, duration_s, avg, peak, approximate, n_inside, tuple(parts), note
        )

    @staticmethod
    def _inside(track: _Track, t0_ns: int, t1_ns: int) -> tuple[int, float]:
        """Samples strictly inside the window, and the peak power of the gaps it touches."""
        ring = track.ring
        first = ring.first_at_or_after(t0_ns)
        last = ring.last_at_or_before(t1_ns)
        n = 0
        if first is not None and last is not None:
            n = max(last - first + 1, 0)
            if n and ring.time(first) == t0_ns:
                n -= 1
            if n and ring.time(last) == t1_ns:
                n -= 1
        # Each sample's power belongs to the gap before it: the gaps touching the window
        # end at the samples from just after t0 to the first at or after t1.
        end = ring.first_at_or_after(t1_ns)
        end = ring.size - 1 if end is None else end
        start = (ring.last_at_or_before(t0_ns) or 0) + 1
        peak = max((ring.value(i)[1] for i in range(start, end + 1)), default=0.0)
        return n, peak

    def host_window(self, t0_ns: int, t1_ns: int) -> HostWindow | None:
        """The host's activity from the last snapshot at or before t0 to the first after t1."""
        if self.host is None:
            return None
        self._ensure_sample_after(t1_ns)
        with self._lock:
            ring = self._host_ring
            if ring.size < 2:
                return None
            i = ring.last_at_or_before(t0_ns)
            j = ring.first_at_or_after(t1_ns)
            i = 0 if i is None else i
            j = ring.size - 1 if j is None else j
            if j <= i:
                return None
            between = [ring.value(k) for k in range(i + 1, j)]
            a, b = ring.value(i), ring.value(j)
        return self.host.window(a, b, between)

    def summary(self) -> SamplerSummary:
        """Totals since the first sample; energy None if any source was dropped."""
        with self._lock:
            notes = tuple(self._notes)
            if not self._tracks or self._t_start is None:
                return SamplerSummary(None, 0.0, None, None, 0, notes or ("no power source",))
            energy = 0.0
            t0 = min(t.ring.time(0) for t in self._tracks if t.ring.size)
            t1 = max(t.ring.time(t.ring.size - 1) for t in self._tracks if t.ring.size)
            ok = True
            samples = 0
            for t in self._tracks:
                if t.dropped_at_ns is not None or t.ring.size == 0:
                    ok = False
                    continue
                energy += t.ring.value(t.ring.size - 1)[0]
                samples = max(samples, t.ring.size + t.ring.dropped)
            duration = (t1 - t0) / 1e9
            peak = sum(t.peak_w for t in self._tracks)
        if not ok:
            return SamplerSummary(None, duration, None, peak or None, samples, notes)
        avg = energy / duration if duration > 0 else None
        return SamplerSummary(energy, duration, avg, peak, samples, notes)
