"""hwmon energy and power sensors (kernel Documentation/hwmon/sysfs-interface.rst).

`energyN_input` is cumulative microjoules, `powerN_input` instantaneous and
`powerN_average` averaged microwatts. Which chips are used, and what they cover, is a
fixed table: summing unknown sensors would double count (a board's CPU sensor and its
PSU sensor measure the same watts twice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tokbench.energy.base import PowerSourceError, ReadingKind, ReadText, read_sysfs, sysfs_int

DEFAULT_HWMON = Path("/sys/class/hwmon")

# chip name -> what its sensors cover ("cpu", "gpu" or "wall").
CHIP_SCOPES = {
    "amd_energy": "cpu",  # per-core and per-socket energy of AMD Zen CPUs
    "zenergy": "cpu",  # out-of-tree successor of amd_energy
    "fam15h_power": "cpu",  # AMD family 15h processor power
    "zenpower": "cpu",  # out-of-tree Zen power (core + SoC)
    "amdgpu": "gpu",  # AMD GPUs: power1_average / power1_input
    "power_meter": "wall",  # ACPI power meter of server boards (system input power)
}
_SCOPE_LABEL = {"cpu": "CPU", "gpu": "GPU", "wall": "wall"}
_ENERGY = re.compile(r"energy(\d+)_input")
_POWER = re.compile(r"power(\d+)_(input|average)")


@dataclass(frozen=True, slots=True)
class HwmonChip:
    path: Path  # the directory holding the attribute files
    name: str
    scope: str  # "cpu", "gpu", "wall" or "" when unknown
    energy_files: tuple[Path, ...]
    power_files: tuple[Path, ...]


def _label(path: Path, read_text: ReadText) -> str:
    label = path.with_name(path.name.split("_")[0] + "_label")
    try:
        return read_text(label)
    except OSError:
        return ""


def find_chips(root: Path, read_text: ReadText = read_sysfs) -> list[HwmonChip]:
    """Every hwmon chip with energy or power sensors (known scope or not)."""
    chips: list[HwmonChip] = []
    if not root.is_dir():
        return chips
    for hw in sorted(root.iterdir()):
        # Old drivers keep their attributes in hwmonN/device/.
        for d in (hw, hw / "device"):
            try:
                name = read_text(d / "name")
            except OSError:
                continue
            files = sorted(d.iterdir())
            energy = [f for f in files if _ENERGY.fullmatch(f.name)]
            # amd_energy has a counter per core and one per socket: the sockets hold the
            # cores, so only they are summed when present.
            sockets = [f for f in energy if _label(f, read_text).lower().startswith("esocket")]
            inputs = [f for f in files if _POWER.fullmatch(f.name)]
            # One file per channel: the instantaneous input where both exist.
            by_channel: dict[str, Path] = {}
            for f in inputs:
                m = _POWER.fullmatch(f.name)
                assert m is not None
                if m.group(2) == "input" or m.group(1) not in by_channel:
                    by_channel[m.group(1)] = f
            if energy or by_channel:
                chips.append(
                    HwmonChip(
                        d,
                        name,
                        CHIP_SCOPES.get(name, ""),
                        tuple(sockets or energy),
                        tuple(by_channel[k] for k in sorted(by_channel)),
                    )
                )
            break
    return chips


class HwmonSource:
    """One hwmon chip: summed energy counters if it has any, else summed power sensors."""

    def __init__(self, chip: HwmonChip, read_text: ReadText = read_sysfs) -> None:
        self.chip = chip
        self._read_text = read_text
        self.name = f"hwmon:{chip.name}"
        self.scope = f"{_SCOPE_LABEL.get(chip.scope, 'unknown')} (hwmon {chip.name})"
        self.kind: ReadingKind = "energy" if chip.energy_files else "power"
        self._last: dict[Path, int] = {}
        self._total_uj = 0
        if not (chip.energy_files or chip.power_files):
            raise PowerSourceError(f"hwmon {chip.name}: no energy or power sensors")

    def read(self) -> float:
        what = f"hwmon {self.chip.name}"
        if self.kind == "power":
            total = sum(sysfs_int(f, self._read_text, what) for f in self.chip.power_files)
            return total / 1e6
        raw = {f: sysfs_int(f, self._read_text, what) for f in self.chip.energy_files}
        for f, now in raw.items():
            before = self._last.get(f)
            if before is not None:
                # hwmon gives no counter range; a decrease means the counter restarted at 0.
                self._total_uj += now - before if now >= before else now
            self._last[f] = now
        return self._total_uj / 1e6

    def close(self) -> None:
        pass
