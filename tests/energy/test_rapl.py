"""RAPL through a powercap tree in the kernel's layout, with counters at known rates."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.energy.fakes import FakeClock, RaplZoneSpec, make_powercap, write_atomic
from tokbench.energy.base import PowerSourceError
from tokbench.energy.rapl import RaplSource
from tokbench.energy.sampler import Sampler

TWO_SOCKETS = [
    RaplZoneSpec("intel-rapl:0", "package-0", 60.0),
    RaplZoneSpec("intel-rapl:0:0", "core", 45.0),  # inside package-0: must not be added
    RaplZoneSpec("intel-rapl:0:1", "uncore", 5.0),  # inside package-0 too
    RaplZoneSpec("intel-rapl:0:2", "dram", 8.0),
    RaplZoneSpec("intel-rapl:1", "package-1", 40.0),
    RaplZoneSpec("intel-rapl:1:0", "dram", 7.0),
]


def drive(
    tree_set_time: Callable[[float], None],
    sampler: Sampler,
    clock: FakeClock,
    seconds: float,
    step: float,
) -> None:
    elapsed = 0.0
    while elapsed < seconds - 1e-9:
        clock.advance(step)
        elapsed += step
        tree_set_time(elapsed)
        sampler.sample_once()


def test_sums_packages_and_dram_within_one_percent(tmp_path: Path) -> None:
    tree = make_powercap(tmp_path, TWO_SOCKETS)
    source = RaplSource(tree.root)
    assert source.scope == "CPU+DRAM (RAPL)"
    assert sorted(z.name for z in source.zones) == ["dram", "dram", "package-0", "package-1"]
    clock = FakeClock()
    start = clock()
    sampler = Sampler([source], interval_s=0.2, clock=clock)
    tree.set_time(0.0)
    sampler.sample_once()
    drive(tree.set_time, sampler, clock, 10.0, 0.2)
    # A window that starts and ends between samples.
    t0, t1 = start + 1_300_000_000, start + 8_450_000_000
    reading = sampler.energy_between(t0, t1)
    expected = (60 + 8 + 40 + 7) * 7.15
    assert reading.energy_j == pytest.approx(expected, rel=0.01)
    assert reading.avg_power_w == pytest.approx(115, rel=0.01)
    assert not reading.approximate
    assert reading.parts[0].scope == "CPU+DRAM (RAPL)"


def test_counter_wrapping_mid_run(tmp_path: Path) -> None:
    # A 1 J range at 3 W wraps every third of a second: 30 times in 10 s.
    zones = [RaplZoneSpec("intel-rapl:0", "package-0", 3.0, max_range_uj=1_000_000)]
    tree = make_powercap(tmp_path, zones)
    clock = FakeClock()
    start = clock()
    sampler = Sampler([RaplSource(tree.root)], clock=clock)
    tree.set_time(0.0)
    sampler.sample_once()
    drive(tree.set_time, sampler, clock, 10.0, 0.2)
    raw = int((tree.dirs["intel-rapl:0"] / "energy_uj").read_text())
    assert raw < 1_000_000  # the file really wrapped
    reading = sampler.energy_between(start, start + 10_000_000_000)
    assert reading.energy_j == pytest.approx(30.0, rel=0.01)


def test_real_thread_and_clock_within_one_percent(tmp_path: Path) -> None:
    """Counters advanced by a writer thread on perf_counter; the sampler in its own thread."""
    tree = make_powercap(tmp_path, [RaplZoneSpec("intel-rapl:0", "package-0", 50.0)])
    path = tree.dirs["intel-rapl:0"] / "energy_uj"
    origin = time.perf_counter_ns()
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            # Written as the energy at the moment of writing; a reader sees at most one
            # writer period (1 ms) of lag, the same at both ends of a window.
            write_atomic(path, f"{round(50.0 * (time.perf_counter_ns() - origin) / 1e3)}\n")
            time.sleep(0.001)

    thread = threading.Thread(target=writer, daemon=True)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(2e-4)  # keep the writer's GIL waits (its lag) well under 1 ms
    thread.start()
    try:
        time.sleep(0.01)
        with Sampler([RaplSource(tree.root)], interval_s=0.05) as sampler:
            t0 = time.perf_counter_ns()
            time.sleep(2.0)
            t1 = time.perf_counter_ns()
            reading = sampler.energy_between(t0, t1)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)
    assert reading.energy_j is not None
    assert reading.energy_j == pytest.approx(50.0 * (t1 - t0) / 1e9, rel=0.01)
    assert reading.samples >= 10


def test_root_only_counter_explains_why(tmp_path: Path) -> None:
    tree = make_powercap(tmp_path, TWO_SOCKETS[:1])

    def root_only(path: Path) -> str:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return path.read_text().strip()

    source = RaplSource(tree.root, read_text=root_only)
    with pytest.raises(PowerSourceError) as err:
        source.read()
    message = str(err.value)
    assert "permission denied" in message
    assert "root" in message and "5.10" in message
    assert "energy_uj" in message


def test_directory_instead_of_counter_is_named(tmp_path: Path) -> None:
    tree = make_powercap(tmp_path, TWO_SOCKETS[:1])
    counter = tree.dirs["intel-rapl:0"] / "energy_uj"
    counter.unlink()
    counter.mkdir()
    with pytest.raises(PowerSourceError, match=r"energy_uj: Is a directory"):
        RaplSource(tree.root).read()


def test_psys_and_missing_tree(tmp_path: Path) -> None:
    tree = make_powercap(
        tmp_path,
        [RaplZoneSpec("intel-rapl:0", "package-0", 10), RaplZoneSpec("intel-rapl:1", "psys", 30)],
    )
    source = RaplSource(tree.root)
    assert [z.name for z in source.zones] == ["package-0"]  # psys overlaps the package
    assert source.scope == "CPU package (RAPL)"
    with pytest.raises(PowerSourceError, match="does not exist"):
        RaplSource(tmp_path / "nowhere")
