"""Integration over time windows, approximation flags, the bounded ring, the baseline."""

from __future__ import annotations

import time

import pytest

from tests.energy.fakes import FakeClock
from tokbench.energy.base import ConstantPower, PowerSourceError, ReadingKind
from tokbench.energy.ring import Ring
from tokbench.energy.sampler import Sampler


class SetPower:
    """A power source whose watts the test sets."""

    name = "set"
    scope = "test"
    kind: ReadingKind = "power"

    def __init__(self) -> None:
        self.watts = 0.0
        self.fail = False

    def read(self) -> float:
        if self.fail:
            raise PowerSourceError("set: broken")
        return self.watts

    def close(self) -> None:
        pass


def test_linear_power_ramp_integrates_exactly() -> None:
    # P(t) = 100 + 20 t W, sampled every 0.5 s: the trapezoid of a line is exact.
    clock = FakeClock()
    start = clock()
    src = SetPower()
    sampler = Sampler([src], interval_s=0.5, clock=clock)
    for k in range(21):
        src.watts = 100 + 20 * (k * 0.5)
        sampler.sample_once()
        clock.advance(0.5)
    t0, t1 = 1.3, 7.9  # inside gaps, not on samples
    reading = sampler.energy_between(start + round(t0 * 1e9), start + round(t1 * 1e9))
    expected = 100 * (t1 - t0) + 10 * (t1**2 - t0**2)
    assert reading.energy_j == pytest.approx(expected, rel=1e-9)
    assert reading.peak_power_w == pytest.approx(100 + 20 * 8.0)  # the gap ending at 8.0 s
    assert reading.samples == 13  # 1.5, 2.0, ..., 7.5


def test_short_window_is_approximate_and_gaps_are_reported() -> None:
    clock = FakeClock()
    start = clock()
    sampler = Sampler([ConstantPower(50)], interval_s=0.2, clock=clock)
    for _ in range(5):
        sampler.sample_once()
        clock.advance(0.2)
    short = sampler.energy_between(start + 210_000_000, start + 260_000_000)
    assert short.approximate and short.energy_j == pytest.approx(2.5)
    assert "shorter than the sampling interval" in short.note
    early = sampler.energy_between(start - 1, start + 100_000_000)
    assert early.energy_j is None and "before sampling" in early.note


def test_ring_is_bounded_and_old_windows_say_so() -> None:
    clock = FakeClock()
    start = clock()
    sampler = Sampler([ConstantPower(10)], clock=clock, capacity=10)
    for _ in range(25):
        sampler.sample_once()
        clock.advance(0.2)
    track = sampler._tracks[0]
    assert track.ring.size == 10 and track.ring.dropped == 15
    old = sampler.energy_between(start, start + 1_000_000_000)
    assert old.energy_j is None and "overwritten" in old.note
    recent = sampler.energy_between(start + 3_100_000_000, start + 4_700_000_000)
    assert recent.energy_j == pytest.approx(16.0)
    summary = sampler.summary()  # totals survive the ring
    assert summary.energy_j == pytest.approx(10 * 24 * 0.2)


def test_failing_source_dropped_after_max_failures() -> None:
    clock = FakeClock()
    src = SetPower()
    src.watts = 30
    sampler = Sampler([src], clock=clock, max_failures=2)
    sampler.sample_once()
    clock.advance(0.2)
    src.fail = True
    sampler.sample_once()
    assert len(sampler.notes) == 0  # one failure is forgiven
    sampler.sample_once()
    assert list(sampler.notes) == ["set: broken; sampling continues without set"]
    assert sampler.summary().energy_j is None


def test_baseline_and_thread() -> None:
    with Sampler([ConstantPower(42)], interval_s=0.02) as sampler:
        base = sampler.baseline(0.3)
    assert base.power_w == pytest.approx(42.0)
    assert sampler.baseline_w == pytest.approx(42.0)
    summary = sampler.summary()
    assert summary.samples >= 8  # about 15 expected at 20 ms over 0.3 s
    assert summary.avg_power_w == pytest.approx(42.0)


def test_end_after_last_sample_takes_a_fresh_one() -> None:
    sampler = Sampler([ConstantPower(5)], interval_s=10)  # the thread would not sample in time
    sampler.start()
    t0 = time.perf_counter_ns()
    time.sleep(0.05)
    t1 = time.perf_counter_ns()
    reading = sampler.energy_between(t0, t1)
    sampler.stop()
    assert reading.energy_j == pytest.approx(5 * (t1 - t0) / 1e9, rel=1e-6)
    assert reading.approximate  # 50 ms against a 10 s interval


def test_ring_bisect() -> None:
    ring: Ring[int] = Ring(4)
    for t in (10, 20, 30, 40, 50, 60):
        ring.append(t, t)
    assert [ring.time(i) for i in range(ring.size)] == [30, 40, 50, 60]
    assert ring.last_at_or_before(45) == 1 and ring.first_at_or_after(45) == 2
    assert ring.last_at_or_before(29) is None and ring.first_at_or_after(61) is None
    with pytest.raises(ValueError, match="time order"):
        ring.append(5, 5)
