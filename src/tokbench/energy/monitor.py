"""Host monitor: was the box busy with other work while a request ran?

Counters come from the proc tree (a parameter, so tests can build one): `/proc/stat`
(CPU ticks of the whole machine), `/proc/<pid>/stat` (ticks and major faults of
tokbench and of any server process it is measuring), `/proc/vmstat` (pswpin, pswpout,
pgmajfault) and the CPU frequency from sysfs `scaling_cur_freq` or `/proc/cpuinfo`.
A window in which other processes used more than a quarter of the cores, or in which
the machine swapped, is flagged busy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokbench.core.energy import HostWindow
from tokbench.errors import TokbenchError

__all__ = [
    "BusySummary",
    "HostMonitor",
    "HostSnapshot",
    "HostWindow",
    "busy_summary",
    "host_window",
    "listening_pids",
]

BUSY_CORE_FRACTION = 0.25


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """Cumulative host counters at one moment (t_ns on the perf_counter clock)."""

    t_ns: int
    busy_ticks: int  # all CPUs: user+nice+system+irq+softirq+steal
    own_ticks: int  # utime+stime of the watched processes
    own_major_faults: int
    swap_in_pages: int
    swap_out_pages: int
    major_faults: int  # whole machine
    cpu_freq_mhz: float | None  # mean over cores at this moment


@dataclass(frozen=True, slots=True)
class BusySummary:
    requests: int
    busy: int  # requests flagged busy
    unmonitored: int  # requests without a host window

    def text(self) -> str:
        if not self.busy:
            return "host quiet during all requests"
        return f"busy host during {self.busy} of {self.requests} requests"


def _ints(line: str) -> list[int]:
    return [int(x) for x in line.split()[1:]]


class HostMonitor:
    """Takes HostSnapshots; pids are the processes whose CPU counts as the benchmark's own."""

    def __init__(
        self,
        proc_root: Path = Path("/proc"),
        sys_root: Path = Path("/sys"),
        pids: Sequence[int | str] = ("self",),
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.proc_root = proc_root
        self.sys_root = sys_root
        self.pids = list(pids)
        self.trees: list[int] = []
        self.clock = clock
        self.n_cpus = self._count_cpus()
        clk = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.ticks_per_s = int(clk) if clk > 0 else 100

    def watch(self, pid: int) -> None:
        """Count pid's CPU as the benchmark's own (e.g. a llama-server it started)."""
        if pid not in self.pids:
            self.pids.append(pid)

    def watch_tree(self, pid: int) -> None:
        """Count pid and its descendants, found again at every snapshot (an Ollama server
        starts its model runner as a child on the first request)."""
        if pid not in self.trees:
            self.trees.append(pid)

    def _watched(self) -> list[int | str]:
        if not self.trees:
            return self.pids
        children: dict[int, list[int]] = {}
        for d in self.proc_root.iterdir():
            if not d.name.isdigit():
                continue
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
        out = list(self.pids)
        todo = list(self.trees)
        while todo:
            pid = todo.pop()
            if pid not in out:
                out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def _count_cpus(self) -> int:
        try:
            lines = (self.proc_root / "stat").read_text().splitlines()
        except OSError as e:
            raise TokbenchError(
                f"host monitor: cannot read {self.proc_root / 'stat'} ({e.strerror or e})"
            ) from e
        n = sum(1 for ln in lines if ln.startswith("cpu") and ln[3:4].isdigit())
        return max(n, 1)

    def snapshot(self) -> HostSnapshot:
        t_ns = self.clock()
        busy = 0
        for line in (self.proc_root / "stat").read_text().splitlines():
            if line.startswith("cpu "):
                v = _ints(line) + [0] * 10
                # user nice system idle iowait irq softirq steal; guest is inside user.
                busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
                break
        own = faults = 0
        for pid in self._watched():
            try:
                text = (self.proc_root / str(pid) / "stat").read_text()
            except OSError:
                continue  # the process ended; its ticks are gone from the count
            # comm (field 2) may hold spaces and parentheses: split after the last ')'.
            rest = text.rsplit(")", 1)[1].split()
            own += int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)
            faults += int(rest[9])  # majflt (field 12)
        vm = self._vmstat()
        return HostSnapshot(
            t_ns,
            busy,
            own,
            faults,
            vm.get("pswpin", 0),
            vm.get("pswpout", 0),
            vm.get("pgmajfault", 0),
            self._freq_mhz(),
        )

    def _vmstat(self) -> dict[str, int]:
        out: dict[str, int] = {}
        try:
            for line in (self.proc_root / "vmstat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key in ("pswpin", "pswpout", "pgmajfault"):
                    out[key] = int(value)
        except OSError:
            pass
        return out

    def _freq_mhz(self) -> float | None:
        cpu_dir = self.sys_root / "devices/system/cpu"
        khz: list[int] = []
        for f in cpu_dir.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"):
            try:
                khz.append(int(f.read_text()))
            except (OSError, ValueError):
                continue
        if khz:
            return sum(khz) / len(khz) / 1000
        try:
            mhz = [
                float(line.split(":", 1)[1])
                for line in (self.proc_root / "cpuinfo").read_text().splitlines()
                if line.startswith("cpu MHz")
            ]
        except (OSError, ValueError):
            return None
        return sum(mhz) / len(mhz) if mhz else None

    def window(
        self, a: HostSnapshot, b: HostSnapshot, between: Sequence[HostSnapshot] = ()
    ) -> HostWindow:
        return host_window(a, b, self.n_cpus, self.ticks_per_s, between)


def host_window(
    a: HostSnapshot,
    b: HostSnapshot,
    n_cpus: int,
    ticks_per_s: int,
    between: Sequence[HostSnapshot] = (),
    busy_fraction: float = BUSY_CORE_FRACTION,
) -> HostWindow:
    """The host's activity from a to b; `between` adds frequency samples inside."""
    duration_s = max((b.t_ns - a.t_ns) / 1e9, 1e-9)
    own_s = (b.own_ticks - a.own_ticks) / ticks_per_s
    all_s = (b.busy_ticks - a.busy_ticks) / ticks_per_s
    other = max(all_s - own_s, 0.0) / duration_s
    own = max(own_s, 0.0) / duration_s
    freqs = [s.cpu_freq_mhz for s in (a, *between, b) if s.cpu_freq_mhz is not None]
    swap_in = b.swap_in_pages - a.swap_in_pages
    swap_out = b.swap_out_pages - a.swap_out_pages
    reasons: list[str] = []
    if other > busy_fraction * n_cpus:
        reasons.append(f"other processes used {other:.1f} of {n_cpus} cores")
    if swap_in or swap_out:
        reasons.append(f"swapped {swap_in} pages in, {swap_out} out")
    return HostWindow(
        duration_s,
        n_cpus,
        other,
        own,
        sum(freqs) / len(freqs) if freqs else None,
        min(freqs) if freqs else None,
        swap_in,
        swap_out,
        b.major_faults - a.major_faults,
        b.own_major_faults - a.own_major_faults,
        bool(reasons),
        "; ".join(reasons),
    )


def busy_summary(windows: Iterable[HostWindow | None]) -> BusySummary:
    """How many requests ran on a busy host (None: the request had no host window)."""
    n = busy = missing = 0
    for w in windows:
        n += 1
        if w is None:
            missing += 1
        elif w.busy:
            busy += 1
    return BusySummary(n, busy, missing)


def listening_pids(port: int, proc_root: Path = Path("/proc")) -> list[int]:
    """The processes holding a TCP socket that listens on `port` (this user's processes, or
    all of them as root), from /proc/net/tcp{,6} and each process's fd links."""
    inodes: set[str] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc_root / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; column 9 is the inode
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return []
    wanted = {f"socket:[{i}]" for i in inodes}
    pids = []
    for d in proc_root.iterdir():
        if not d.name.isdigit():
            continue
        try:
            fds = list((d / "fd").iterdir())
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                link = str(fd.readlink())
            except OSError:
                continue  # closed meanwhile
            if link in wanted:
                pids.append(int(d.name))
                break
    return pids
