"""Host monitor: fake /proc trees for exact cases, the real /proc with a CPU hog."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.energy.fakes import FakeClock
from tokbench.energy.base import ConstantPower, ReadingKind
from tokbench.energy.metrics import RequestSpan
from tokbench.energy.monitor import HostMonitor, busy_summary
from tokbench.energy.sampler import Baseline, Sampler
from tokbench.energy.session import measure_request


class FakeProc:
    """/proc/stat, /proc/self/stat, /proc/vmstat and cpufreq files for an n-core box."""

    def __init__(self, base: Path, n_cpus: int = 4) -> None:
        self.proc = base / "proc"
        self.sys = base / "sys"
        (self.proc / "self").mkdir(parents=True)
        self.n_cpus = n_cpus
        self.busy = 0
        self.idle = 0
        self.own = 0
        self.swap_in = self.swap_out = self.majflt = 0
        self.freq_khz = [2_400_000] * n_cpus
        self.write()

    def write(self) -> None:
        per = self.busy // self.n_cpus
        cpu_lines = [f"cpu  {self.busy} 0 0 {self.idle} 0 0 0 0 0 0"] + [
            f"cpu{i} {per} 0 0 {self.idle // self.n_cpus} 0 0 0 0 0 0" for i in range(self.n_cpus)
        ]
        (self.proc / "stat").write_text("\n".join([*cpu_lines, "intr 0", "ctxt 0"]) + "\n")
        # comm with a space and a parenthesis, as a thread name can have.
        fields = ["S", "1", "1", "1", "0", "-1", "0", "0", "0", str(self.majflt), "0"]
        fields += [str(self.own), "0", "0", "0", "20", "0", "8", "0"]
        (self.proc / "self/stat").write_text(f"4242 (tok bench) {' '.join(fields)}\n")
        (self.proc / "vmstat").write_text(
            f"nr_free_pages 1000\npgmajfault {self.majflt}\n"
            f"pswpin {self.swap_in}\npswpout {self.swap_out}\n"
        )
        for i, khz in enumerate(self.freq_khz):
            d = self.sys / f"devices/system/cpu/cpu{i}/cpufreq"
            d.mkdir(parents=True, exist_ok=True)
            (d / "scaling_cur_freq").write_text(f"{khz}\n")

    def monitor(self, clock: FakeClock) -> HostMonitor:
        mon = HostMonitor(self.proc, self.sys, clock=clock)
        mon.ticks_per_s = 100
        return mon


def test_quiet_window_on_fake_proc(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    clock = FakeClock()
    mon = fake.monitor(clock)
    assert mon.n_cpus == 4
    a = mon.snapshot()
    clock.advance(2.0)
    fake.own += 150  # we used 0.75 core
    fake.busy += 150 + 40  # others 0.2 core: under a quarter of 4 cores
    fake.write()
    w = mon.window(a, mon.snapshot())
    assert w.own_cpu_cores == pytest.approx(0.75)
    assert w.other_cpu_cores == pytest.approx(0.2)
    assert w.cpu_freq_mhz == pytest.approx(2400.0)
    assert not w.busy and w.busy_reason == ""


def test_busy_by_cpu_and_by_swap(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    clock = FakeClock()
    mon = fake.monitor(clock)
    a = mon.snapshot()
    clock.advance(1.0)
    fake.busy += 250  # others: 2.5 cores of 4
    fake.swap_in += 12
    fake.majflt += 7
    fake.freq_khz = [1_200_000] * 4
    fake.write()
    w = mon.window(a, mon.snapshot())
    assert w.busy
    assert "other processes used 2.5 of 4 cores" in w.busy_reason
    assert "swapped 12 pages in, 0 out" in w.busy_reason
    assert w.own_major_faults == 7 and w.major_faults == 7
    assert w.cpu_freq_min_mhz == pytest.approx(1200.0)
    assert busy_summary([w, None]).text() == "busy host during 1 of 2 requests"


def test_sampler_host_window_brackets_the_request(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    clock = FakeClock()
    start = clock()
    sampler = Sampler([ConstantPower(10)], host=fake.monitor(clock), clock=clock)
    for k in range(10):
        sampler.sample_once()
        clock.advance(0.2)
        fake.busy += 60 if 3 <= k < 6 else 2  # 3 cores of 4 busy for 0.6 s
        fake.write()
    quiet = sampler.host_window(start + 50_000_000, start + 550_000_000)
    busy = sampler.host_window(start + 650_000_000, start + 1_150_000_000)
    assert quiet is not None and busy is not None
    assert not quiet.busy
    assert busy.busy and busy.duration_s == pytest.approx(0.6)


@pytest.fixture
def hogs() -> Iterator[list[subprocess.Popen[bytes]]]:
    n = (os.cpu_count() or 1) // 4 + 1  # more than a quarter of the cores on any box
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def test_cpu_hog_flags_the_real_host_busy(hogs: list[subprocess.Popen[bytes]]) -> None:
    time.sleep(0.2)  # let the hogs start spinning
    mon = HostMonitor()
    mine = HostMonitor(pids=["self", *(p.pid for p in hogs)])
    a, a_mine = mon.snapshot(), mine.snapshot()
    time.sleep(1.2)
    w, w_mine = mon.window(a, mon.snapshot()), mine.window(a_mine, mine.snapshot())
    assert w.busy, w
    assert "other processes used" in w.busy_reason
    # Counting the hogs as our own moves their CPU from "other" to "own".
    assert w_mine.own_cpu_cores >= 0.3 * len(hogs)
    assert w_mine.other_cpu_cores <= w.other_cpu_cores - 0.3 * len(hogs) + 0.3


def test_measure_request_glues_energy_and_host(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    clock = FakeClock()
    start = clock()

    class Ramp:
        name, scope = "ramp", "test"
        kind: ReadingKind = "power"

        def read(self) -> float:
            return 100.0 if clock() - start >= 1_000_000_000 else 40.0  # prefill 40 W, then 100

        def close(self) -> None:
            pass

    sampler = Sampler([Ramp()], host=fake.monitor(clock), clock=clock, interval_s=0.1)
    for _ in range(31):
        sampler.sample_once()
        clock.advance(0.1)
        fake.own += 10  # tokbench uses one core of four
        fake.busy += 10
        fake.write()
    sampler.set_baseline(Baseline(30.0, 1.0, False))
    span = RequestSpan(start, start + 900_000_000, start + 2_900_000_000, 200, 101)
    m = measure_request(sampler, span)
    assert m.power_source == "test"
    assert m.energy.prefill_j == pytest.approx(40.0 * 0.9)
    # 0.9-1.0 s ramps from 40 to 100 W (a 7 J trapezoid), then 100 W for 1.9 s.
    assert m.energy.decode_j == pytest.approx(7.0 + 190.0)
    assert m.energy.j_per_output_token == pytest.approx(197.0 / 100)
    assert m.energy.model_energy_j == pytest.approx(36.0 + 197.0 - 30.0 * 2.9)
    assert m.host is not None and not m.host.busy
    assert m.host.own_cpu_cores == pytest.approx(1.0)
