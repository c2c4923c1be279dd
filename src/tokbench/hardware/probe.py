"""The host: what a run stores of it (`store.ledger.this_host`), and the probe of what
decides how fast a box can decode (memory first, then cores).

Everything unknown is said to be unknown; `--channels/--mts` fill in what the machine
cannot tell (DIMM layout needs dmidecode as root)."""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def physical_cores() -> int:
    """Physical cores (llama.cpp's best thread count on most CPUs); logical if unknown."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def host_name() -> str:
    """`TOKBENCH_HOST` if set (a container's name means little), else the hostname."""
    return os.environ.get("TOKBENCH_HOST") or socket.gethostname()


@dataclass(frozen=True, slots=True)
class MemoryModule:
    """One populated slot as dmidecode lists it."""

    locator: str | None
    bank_locator: str | None
    size: str
    type: str | None
    configured_mts: int | None
    channel: str | None  # "socket:channel" from the locators; None when they name none


@dataclass(frozen=True, slots=True)
class Gpu:
    name: str
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class HostProbe:
    """What decides how fast this box can decode, as the machine tells it (None: unknown).
    `to_json` is `tokbench hw --json` and what a run keeps as its host's `hw`."""

    cpu_model: str | None = None
    sockets: int | None = None
    cores: int | None = None
    threads: int | None = None
    mhz: float | None = None
    isa: dict[str, bool] = field(default_factory=dict)  # flag -> present
    caches: dict[str, int] = field(default_factory=dict)  # L1d, L2, ... -> bytes
    numa_nodes: int | None = None
    numa_balancing: str | None = None
    ram_total_bytes: int | None = None
    ram_available_bytes: int | None = None
    memory_modules: tuple[MemoryModule, ...] | str = ()  # a str says why they are unknown
    channels: int | None = None
    channels_source: str | None = None
    mts: int | None = None
    peak_bandwidth_gbs: float | None = None
    gpus: tuple[Gpu, ...] = ()
    os: str | None = None
    governor: str | None = None
    transparent_hugepages: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        mods = self.memory_modules
        out["memory_modules"] = mods if isinstance(mods, str) else [asdict(m) for m in mods]
        out["gpus"] = [asdict(g) for g in self.gpus]
        return out


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _size_bytes(text: str) -> int | None:
    m = re.match(r"(\d+)\s*([KMG]?)", text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)]


def cpu_flags() -> set[str]:
    text = _read("/proc/cpuinfo") or ""
    m = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return set(m.group(1).split()) if m else set()


def caches() -> dict[str, int]:
    """Cache sizes per level (the largest instance of each), in bytes."""
    out: dict[str, int] = {}
    for d in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        level, kind, size = (_read(str(d / f)) for f in ("level", "type", "size"))
        if level and size and (b := _size_bytes(size)):
            key = f"L{level}" + ("d" if kind == "Data" else "i" if kind == "Instruction" else "")
            out[key] = max(out.get(key, 0), b)
    return out


def sockets_and_cores() -> tuple[int | None, int | None]:
    text = _read("/proc/cpuinfo") or ""
    sockets = set(re.findall(r"^physical id\s*:\s*(\d+)", text, re.MULTILINE))
    cores = set(re.findall(r"^(?:physical id|core id)\s*:\s*(\d+)", text, re.MULTILINE))
    import psutil

    return (len(sockets) or None, psutil.cpu_count(logical=False) or (len(cores) or None))


def dimms() -> tuple[MemoryModule, ...] | str:
    """Populated memory modules from dmidecode, or why they are unknown."""
    if shutil.which("dmidecode") is None:
        return "unknown: dmidecode is not installed"
    if os.geteuid() != 0:
        return "unknown: dmidecode needs root (or pass --channels and --mts)"
    try:
        text = subprocess.run(
            ["dmidecode", "-t", "memory"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown: dmidecode failed ({exc})"
    return parse_dmidecode(text) or "unknown: dmidecode lists no modules (a virtual machine?)"


def parse_dmidecode(text: str) -> tuple[MemoryModule, ...]:
    """Populated modules from `dmidecode -t memory` output, each with the channel its
    locators name (None when they name none)."""
    mods: list[MemoryModule] = []
    for block in text.split("Memory Device")[1:]:

        def value(name: str, block: str = block) -> str | None:
            m = re.search(rf"^\s*{name}:\s*(.+)$", block, re.MULTILINE)
            return m.group(1).strip() if m else None

        size = value("Size")
        if not size or "No Module" in size or size.startswith("0"):
            continue
        speed = value("Configured Memory Speed") or value("Configured Clock Speed")
        mts = re.match(r"(\d+)", speed or "")
        mods.append(
            MemoryModule(
                locator=value("Locator"),
                bank_locator=value("Bank Locator"),
                size=size,
                type=value("Type"),
                configured_mts=int(mts.group(1)) if mts else None,
                channel=channel_of(value("Locator") or "", value("Bank Locator") or ""),
            )
        )
    return tuple(mods)


def channel_of(locator: str, bank: str) -> str | None:
    """The (socket, channel) a module sits in, from the names boards give slots:
    `P0_Node0_Channel2_Dimm0`, `CHANNEL A`, `CPU1_DIMM_B2`, `P2-DIMMC1`, `ChannelA-DIMM0`,
    `DIMM_A1`. Dell-style `A1`..`A12` name the socket, not the channel: None."""
    both = f"{bank} {locator}".upper()
    socket = re.search(r"(?:CPU|PROC|SOCKET|\bP|NODE)\s*[_-]?(\d+)", both)
    chan = re.search(r"CHANNEL\s*[_-]?([A-Z0-9]+)", both) or re.search(
        r"DIMM\s*[_-]?([A-Z])\d", both
    )
    if chan is None:
        return None
    return f"{socket.group(1) if socket else 0}:{chan.group(1)}"


def populated_channels(mods: Sequence[MemoryModule]) -> int | None:
    """Distinct channels holding a module, when every module's locator names one."""
    chans = [m.channel for m in mods]
    return len(set(chans)) if chans and all(chans) else None


def gpus() -> tuple[Gpu, ...]:
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    rows = [line.rsplit(",", 1) for line in out.strip().splitlines() if "," in line]
    return tuple(Gpu(n.strip(), int(float(m)) * 2**20) for n, m in rows)


def probe(channels: int | None = None, mts: int | None = None) -> HostProbe:
    import psutil

    flags = cpu_flags()
    sockets, cores = sockets_and_cores()
    mods = dimms()
    channels_source = "given" if channels else None
    if not isinstance(mods, str):
        speeds = [m.configured_mts for m in mods if m.configured_mts]
        mts = mts or (min(speeds) if speeds else None)
        if channels is None and (channels := populated_channels(mods)):
            channels_source = "dmidecode locators"
    nodes = sorted(p.name for p in Path("/sys/devices/system/node").glob("node[0-9]*"))
    thp = _read("/sys/kernel/mm/transparent_hugepage/enabled")
    vm = psutil.virtual_memory()
    peak = channels * mts * 1e6 * 8 / 1e9 if channels and mts else None  # GB/s
    return HostProbe(
        cpu_model=cpu_model(),
        sockets=sockets,
        cores=cores,
        threads=os.cpu_count(),
        mhz=_mhz(),
        isa={
            f: f in flags
            for f in (
                "avx2",
                "fma",
                "f16c",
                "avx512f",
                "avx512_vnni",
                "avx512_bf16",
                "amx_tile",
                "amx_int8",
            )
        },
        caches=caches(),
        numa_nodes=len(nodes) or None,
        numa_balancing=_read("/proc/sys/kernel/numa_balancing"),
        ram_total_bytes=vm.total,
        ram_available_bytes=vm.available,
        memory_modules=mods,
        channels=channels,
        channels_source=channels_source,
        mts=mts,
        peak_bandwidth_gbs=peak,
        gpus=gpus(),
        os=f"{platform.system()} {platform.release()}",
        governor=_read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        transparent_hugepages=(
            re.search(r"\[(\w+)\]", thp).group(1)  # type: ignore[union-attr]
            if thp and "[" in thp
            else thp
        ),
    )


def _mhz() -> float | None:
    m = re.search(r"^cpu MHz\s*:\s*([\d.]+)", _read("/proc/cpuinfo") or "", re.MULTILINE)
    return float(m.group(1)) if m else None
