"""Test doubles in the kernel's exact formats: powercap and hwmon trees, a settable clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class FakeClock:
    """A perf_counter_ns stand-in that only moves when the test moves it."""

    def __init__(self, t_ns: int = 1_000_000_000) -> None:
        self.t_ns = t_ns

    def __call__(self) -> int:
        return self.t_ns

    def advance(self, seconds: float) -> None:
        self.t_ns += round(seconds * 1e9)


def write_atomic(path: Path, text: str) -> None:
    """Replace a file's content in one step, as sysfs reads see it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@dataclass
class RaplZoneSpec:
    zone: str  # "intel-rapl:0" or "intel-rapl:0:1"
    name: str  # "package-0", "dram", "core", "uncore", "psys"
    watts: float
    max_range_uj: int = 262_143_328_850  # a typical Intel package range


@dataclass
class PowercapTree:
    """/sys/class/powercap as the kernel lays it out: flat symlinks into nested zones."""

    root: Path  # the class directory to give the reader
    zones: list[RaplZoneSpec]
    dirs: dict[str, Path] = field(default_factory=dict)

    def set_time(self, seconds: float) -> None:
        """Write every counter as its zone's watts x seconds, wrapped at its range."""
        for z in self.zones:
            uj = round(z.watts * seconds * 1e6) % z.max_range_uj
            write_atomic(self.dirs[z.zone] / "energy_uj", f"{uj}\n")


def make_powercap(base: Path, zones: list[RaplZoneSpec]) -> PowercapTree:
    devices = base / "devices/virtual/powercap/intel-rapl"
    cls = base / "class/powercap"
    cls.mkdir(parents=True)
    devices.mkdir(parents=True)
    (devices / "enabled").write_text("1\n")
    (cls / "intel-rapl").symlink_to(devices)
    tree = PowercapTree(cls, zones)
    for z in zones:
        parts = z.zone.split(":")
        d = devices / z.zone if len(parts) == 2 else devices / ":".join(parts[:2]) / z.zone
        d.mkdir(parents=True, exist_ok=True)
        (d / "name").write_text(z.name + "\n")
        (d / "max_energy_range_uj").write_text(f"{z.max_range_uj}\n")
        (d / "energy_uj").write_text("0\n")
        (d / "enabled").write_text("1\n")
        (d / "constraint_0_name").write_text("long_term\n")
        (cls / z.zone).symlink_to(d)
        tree.dirs[z.zone] = d
    return tree


def make_hwmon(base: Path, chips: list[tuple[str, dict[str, str]]]) -> Path:
    """/sys/class/hwmon/hwmonN/ with a name file and the given attribute files."""
    root = base / "class/hwmon"
    root.mkdir(parents=True)
    for i, (name, files) in enumerate(chips):
        d = root / f"hwmon{i}"
        d.mkdir()
        (d / "name").write_text(name + "\n")
        for fname, text in files.items():
            (d / fname).write_text(text + "\n")
    return root


def write_script(bin_dir: Path, name: str, body: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path
